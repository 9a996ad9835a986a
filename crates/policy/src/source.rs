//! Policy source files and positions within them.

/// One policy file: its name (used in diagnostics and the hash) and its Cedar
/// text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PolicySource {
    /// File name, e.g. `policies.cedar`.
    pub name: String,
    /// Cedar policy text.
    pub text: String,
}

impl PolicySource {
    /// A source from a name and text.
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            text: text.into(),
        }
    }
}

/// 1-based line and column (in characters) of a byte offset in `text`.
/// Offsets past the end point just after the last character.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::line_col;

    #[test]
    fn positions_are_one_based() {
        let text = "ab\ncdé\nf";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 1), (1, 2));
        assert_eq!(line_col(text, 3), (2, 1));
        assert_eq!(line_col(text, 7), (2, 4));
        assert_eq!(line_col(text, 8), (3, 1));
        assert_eq!(line_col(text, 100), (3, 2));
    }
}
