//! HTML building: every interpolated value goes through [`e`], which escapes
//! the five characters that matter in text and quoted attributes. Pages are
//! plain `format!` strings so the markup stays readable and there is no
//! template engine to compile.

use std::fmt::{self, Display, Write as _};

/// Escapes `s` for HTML text and double- or single-quoted attribute values.
pub struct Esc<'a>(pub &'a str);

impl Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut last = 0;
        for (i, b) in self.0.bytes().enumerate() {
            let rep = match b {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                b'\'' => "&#39;",
                _ => continue,
            };
            f.write_str(&self.0[last..i])?;
            f.write_str(rep)?;
            last = i + 1;
        }
        f.write_str(&self.0[last..])
    }
}

/// Shorthand: `format!("<td>{}</td>", e(&name))`.
pub fn e(s: &str) -> Esc<'_> {
    Esc(s)
}

/// Escapes a value for a URL query component (then for HTML by the caller's
/// `e`, which leaves percent-escapes alone).
pub fn url_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// What the page header needs to know about the signed-in person.
pub struct Chrome<'a> {
    pub who: &'a str,
    pub csrf: &'a str,
    /// Which navigation item is current (`approvals`, `audit`, …).
    pub active: &'a str,
}

const NAV: [(&str, &str, &str); 5] = [
    ("approvals", "/ui/approvals", "Approvals"),
    ("changes", "/ui/changes", "Changes"),
    ("audit", "/ui/audit", "Audit log"),
    ("policies", "/ui/policies", "Policies"),
    ("principals", "/ui/principals", "Principals"),
];

/// A whole page. `body` is already-escaped HTML.
pub fn page(title: &str, chrome: Option<&Chrome<'_>>, body: &str) -> String {
    let mut header = String::new();
    if let Some(c) = chrome {
        header.push_str("<nav aria-label=\"Main\"><ul>");
        for (key, href, label) in NAV {
            let current = if key == c.active {
                " aria-current=\"page\""
            } else {
                ""
            };
            let _ = write!(header, "<li><a href=\"{href}\"{current}>{label}</a></li>");
        }
        let _ = write!(
            header,
            "</ul><form method=\"post\" action=\"/ui/logout\" class=\"logout\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <span>Signed in as <strong>{}</strong></span> \
             <button type=\"submit\">Sign out</button></form></nav>",
            e(c.csrf),
            e(c.who),
        );
    }
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · Countersign</title>\
         <link rel=\"stylesheet\" href=\"/ui/static/app.css\">\
         <script src=\"/ui/static/app.js\" defer></script></head>\
         <body><header><a class=\"brand\" href=\"/ui/approvals\">Countersign</a>{header}</header>\
         <main id=\"main\">{body}</main></body></html>",
        e(title)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_every_dangerous_character() {
        assert_eq!(
            e("<script>alert('x') & \"y\"</script>").to_string(),
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;"
        );
        assert_eq!(e("plain ünïcode").to_string(), "plain ünïcode");
    }

    #[test]
    fn url_components_are_percent_encoded() {
        assert_eq!(url_component("a b&c=<d>"), "a%20b%26c%3D%3Cd%3E");
    }
}
