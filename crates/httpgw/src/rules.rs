//! Action rules: `METHOD /path/{capture}/…` patterns that map a request to
//! an action and a resource template such as `Repo::"{owner}/{repo}"`.
//!
//! Patterns match the *normalized, decoded* path (see [`crate::path`]):
//! `{name}` captures one segment, a final `{name*}` captures the rest
//! (one or more segments), anything else matches literally.

use crate::error::{GatewayError, bad};
use std::collections::BTreeSet;

/// One piece of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Lit(String),
    One(String),
    Rest(String),
}

/// A path pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    segs: Vec<Seg>,
}

/// Captured values, in pattern order (few: a linear scan beats a map).
pub type Captures<'a> = Vec<(&'a str, String)>;

impl Pattern {
    pub fn parse(p: &str) -> Result<Pattern, GatewayError> {
        let rest = p
            .strip_prefix('/')
            .ok_or_else(|| bad(format!("path pattern `{p}` must start with /")))?;
        let mut segs = Vec::new();
        let mut names = BTreeSet::new();
        let parts: Vec<&str> = if rest.is_empty() {
            Vec::new()
        } else {
            rest.split('/').collect()
        };
        for (i, part) in parts.iter().enumerate() {
            let seg = match part.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => {
                    let (name, rest) = match name.strip_suffix('*') {
                        Some(n) => (n, true),
                        None => (name, false),
                    };
                    if name.is_empty()
                        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    {
                        return Err(bad(format!(
                            "path pattern `{p}`: capture `{{{name}}}` must be letters, digits or _"
                        )));
                    }
                    if !names.insert(name.to_owned()) {
                        return Err(bad(format!("path pattern `{p}`: `{name}` captured twice")));
                    }
                    if rest && i + 1 != parts.len() {
                        return Err(bad(format!(
                            "path pattern `{p}`: `{{{name}*}}` must be the last segment"
                        )));
                    }
                    if rest {
                        Seg::Rest(name.to_owned())
                    } else {
                        Seg::One(name.to_owned())
                    }
                }
                None if part.contains(['{', '}']) => {
                    return Err(bad(format!(
                        "path pattern `{p}`: a capture must be a whole segment"
                    )));
                }
                None if part.is_empty() => {
                    return Err(bad(format!("path pattern `{p}` has an empty segment")));
                }
                None => Seg::Lit((*part).to_owned()),
            };
            segs.push(seg);
        }
        Ok(Pattern { segs })
    }

    pub fn names(&self) -> impl Iterator<Item = &str> + Clone {
        self.segs.iter().filter_map(|s| match s {
            Seg::One(n) | Seg::Rest(n) => Some(n.as_str()),
            Seg::Lit(_) => None,
        })
    }

    /// Matches decoded segments; `None` when the path does not fit.
    pub fn matches<'p>(&'p self, path: &[String]) -> Option<Captures<'p>> {
        let mut caps = Vec::new();
        let mut i = 0;
        for seg in &self.segs {
            match seg {
                Seg::Lit(l) => {
                    if path.get(i)? != l {
                        return None;
                    }
                    i += 1;
                }
                Seg::One(n) => {
                    caps.push((n.as_str(), path.get(i)?.clone()));
                    i += 1;
                }
                Seg::Rest(n) => {
                    if i >= path.len() {
                        return None;
                    }
                    caps.push((n.as_str(), path[i..].join("/")));
                    i = path.len();
                }
            }
        }
        (i == path.len()).then_some(caps)
    }
}

/// Text with `{capture}` and `{body.field}` placeholders.
#[derive(Debug, Clone)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone)]
enum Part {
    Text(String),
    Capture(String),
    Body(String),
}

/// What a template may draw on.
#[derive(Debug)]
pub struct Values<'a> {
    pub captures: &'a Captures<'a>,
    pub body: &'a [(String, String)],
}

impl Template {
    /// Parses `t`; `captures` are the names the pattern provides and
    /// `fields` the body fields the rule reads.
    pub fn parse<'a>(
        t: &str,
        captures: impl Iterator<Item = &'a str> + Clone,
        fields: &[String],
    ) -> Result<Template, GatewayError> {
        let mut parts = Vec::new();
        let mut rest = t;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_owned()));
            }
            let close = rest[open..]
                .find('}')
                .ok_or_else(|| bad(format!("template `{t}`: unclosed {{")))?
                + open;
            let name = &rest[open + 1..close];
            if let Some(f) = name.strip_prefix("body.") {
                if !fields.iter().any(|x| x == f) {
                    return Err(bad(format!(
                        "template `{t}`: `{{body.{f}}}` needs `{f}` in the rule's body_fields"
                    )));
                }
                parts.push(Part::Body(f.to_owned()));
            } else if captures.clone().any(|c| c == name) {
                parts.push(Part::Capture(name.to_owned()));
            } else {
                return Err(bad(format!(
                    "template `{t}`: `{{{name}}}` is not a capture of the rule's path"
                )));
            }
            rest = &rest[close + 1..];
        }
        if rest.contains('}') {
            return Err(bad(format!("template `{t}`: stray }}")));
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(Template { parts })
    }

    /// Fills the template; `Err(name)` names a body field the request lacks.
    pub fn render(&self, v: &Values<'_>) -> Result<String, String> {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Capture(n) => {
                    if let Some((_, val)) = v.captures.iter().find(|(k, _)| k == n) {
                        out.push_str(val);
                    }
                }
                Part::Body(f) => match v.body.iter().find(|(k, _)| k == f) {
                    Some((_, val)) => out.push_str(val),
                    None => return Err(f.clone()),
                },
            }
        }
        Ok(out)
    }
}

/// A resource template: `Type::"id template"`.
#[derive(Debug, Clone)]
pub struct ResourceTemplate {
    pub kind: String,
    pub id: Template,
}

impl ResourceTemplate {
    pub fn parse<'a>(
        s: &str,
        captures: impl Iterator<Item = &'a str> + Clone,
        fields: &[String],
    ) -> Result<ResourceTemplate, GatewayError> {
        let (kind, id) = s
            .split_once("::")
            .ok_or_else(|| bad(format!("resource `{s}` must be Type::\"id\"")))?;
        let id = id
            .strip_prefix('"')
            .and_then(|i| i.strip_suffix('"'))
            .unwrap_or(id);
        let kind_ok = kind.starts_with(|c: char| c.is_ascii_alphabetic())
            && kind.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !kind_ok || id.is_empty() {
            return Err(bad(format!("resource `{s}` must be Type::\"id\"")));
        }
        Ok(ResourceTemplate {
            kind: kind.to_owned(),
            id: Template::parse(id, captures, fields)?,
        })
    }
}

/// Method matcher: one method or any.
#[derive(Debug, Clone)]
pub enum MethodMatch {
    Any,
    One(http::Method),
}

impl MethodMatch {
    pub fn parse(s: &str) -> Result<MethodMatch, GatewayError> {
        if s == "*" {
            return Ok(MethodMatch::Any);
        }
        let m = http::Method::from_bytes(s.to_ascii_uppercase().as_bytes())
            .map_err(|_| bad(format!("`{s}` is not an HTTP method")))?;
        Ok(MethodMatch::One(m))
    }

    pub fn matches(&self, m: &http::Method) -> bool {
        match self {
            MethodMatch::Any => true,
            MethodMatch::One(x) => x == m,
        }
    }
}

/// A validated rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub method: MethodMatch,
    pub pattern: Pattern,
    pub action: String,
    pub resource: ResourceTemplate,
    /// Top-level JSON body fields the rule reads (then the body is read,
    /// bounded, before the decision).
    pub body_fields: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(p: &str) -> Vec<String> {
        p.split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn patterns_capture_and_refuse() {
        let p = Pattern::parse("/repos/{owner}/{repo}").unwrap();
        let c = p.matches(&segs("/repos/o/r")).unwrap();
        assert_eq!(c, vec![("owner", "o".into()), ("repo", "r".into())]);
        assert!(p.matches(&segs("/repos/o")).is_none());
        assert!(p.matches(&segs("/repos/o/r/x")).is_none());
        let r = Pattern::parse("/files/{path*}").unwrap();
        assert_eq!(r.matches(&segs("/files/a/b/c")).unwrap()[0].1, "a/b/c");
        assert!(r.matches(&segs("/files")).is_none());
        assert!(Pattern::parse("repos").is_err());
        assert!(Pattern::parse("/{a*}/x").is_err());
        assert!(Pattern::parse("/x{a}").is_err());
        assert!(Pattern::parse("/{a}/{a}").is_err());
        assert!(Pattern::parse("/").unwrap().matches(&[]).is_some());
    }

    #[test]
    fn templates_render_and_check_names() {
        let p = Pattern::parse("/repos/{owner}/{repo}").unwrap();
        let fields = vec!["ref".to_owned()];
        let t = ResourceTemplate::parse(r#"Repo::"{owner}/{repo}@{body.ref}""#, p.names(), &fields)
            .unwrap();
        assert_eq!(t.kind, "Repo");
        let caps = p.matches(&segs("/repos/o/r")).unwrap();
        let body = vec![("ref".to_owned(), "main".to_owned())];
        let v = Values {
            captures: &caps,
            body: &body,
        };
        assert_eq!(t.id.render(&v).unwrap(), "o/r@main");
        let none = Values {
            captures: &caps,
            body: &[],
        };
        assert_eq!(t.id.render(&none).unwrap_err(), "ref");
        assert!(ResourceTemplate::parse(r#"Repo::"{nope}""#, p.names(), &fields).is_err());
        assert!(ResourceTemplate::parse(r#"Repo::"{body.x}""#, p.names(), &fields).is_err());
        assert!(ResourceTemplate::parse("no-type", p.names(), &fields).is_err());
    }
}
