//! Request paths, normalized before anything is decided on them. A path
//! that could mean two things (`..`, an encoded `/`, an empty segment, a
//! bad escape) is refused rather than guessed: the upstream must see the
//! same resource the policy was asked about.

/// A path split into segments, raw (as sent, for forwarding) and decoded
/// (for matching and captures).
#[derive(Debug)]
pub struct Segments<'a> {
    pub raw: Vec<&'a str>,
    pub decoded: Vec<String>,
    /// The path ended in `/` (kept when forwarding).
    pub trailing_slash: bool,
}

/// Why a path is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("the path must start with /")]
    NotAbsolute,
    #[error("the path has an empty segment (//)")]
    EmptySegment,
    #[error("the path has a `.` or `..` segment")]
    DotSegment,
    #[error("the path has an invalid percent escape")]
    BadEscape,
    #[error("the path encodes a `/`, `\\` or NUL inside a segment")]
    EncodedSeparator,
    #[error("the path is not UTF-8 once decoded")]
    NotUtf8,
}

pub fn split(path: &str) -> Result<Segments<'_>, PathError> {
    let rest = path.strip_prefix('/').ok_or(PathError::NotAbsolute)?;
    let mut raw: Vec<&str> = if rest.is_empty() {
        Vec::new()
    } else {
        rest.split('/').collect()
    };
    let trailing_slash = raw.len() > 1 && raw.last() == Some(&"");
    if trailing_slash {
        raw.pop();
    }
    let mut decoded = Vec::with_capacity(raw.len());
    for seg in &raw {
        if seg.is_empty() {
            return Err(PathError::EmptySegment);
        }
        let d = decode(seg)?;
        if d == "." || d == ".." {
            return Err(PathError::DotSegment);
        }
        decoded.push(d);
    }
    Ok(Segments {
        raw,
        decoded,
        trailing_slash,
    })
}

/// Percent-decodes one segment.
fn decode(seg: &str) -> Result<String, PathError> {
    if !seg.contains('%') {
        if seg.contains('\\') {
            return Err(PathError::EncodedSeparator);
        }
        return Ok(seg.to_owned());
    }
    let b = seg.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hi = b.get(i + 1).and_then(|c| (*c as char).to_digit(16));
            let lo = b.get(i + 2).and_then(|c| (*c as char).to_digit(16));
            let (Some(hi), Some(lo)) = (hi, lo) else {
                return Err(PathError::BadEscape);
            };
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    if out.iter().any(|c| matches!(c, b'/' | b'\\' | 0)) {
        return Err(PathError::EncodedSeparator);
    }
    String::from_utf8(out).map_err(|_| PathError::NotUtf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_paths_split() {
        let s = split("/repos/o%20x/r/").unwrap();
        assert_eq!(s.decoded, vec!["repos", "o x", "r"]);
        assert_eq!(s.raw, vec!["repos", "o%20x", "r"]);
        assert!(s.trailing_slash);
        assert!(split("/").unwrap().decoded.is_empty());
    }

    #[test]
    fn ambiguous_paths_are_refused() {
        assert_eq!(split("x").unwrap_err(), PathError::NotAbsolute);
        assert_eq!(split("/a//b").unwrap_err(), PathError::EmptySegment);
        assert_eq!(split("/a/../b").unwrap_err(), PathError::DotSegment);
        assert_eq!(split("/a/%2e%2E/b").unwrap_err(), PathError::DotSegment);
        assert_eq!(split("/a%2Fb").unwrap_err(), PathError::EncodedSeparator);
        assert_eq!(split("/a%5cb").unwrap_err(), PathError::EncodedSeparator);
        assert_eq!(split("/a\\b").unwrap_err(), PathError::EncodedSeparator);
        assert_eq!(split("/a%zz").unwrap_err(), PathError::BadEscape);
        assert_eq!(split("/a%ff").unwrap_err(), PathError::NotUtf8);
    }
}
