//! Parsing schema and policy files into located Cedar values, with Cedar's
//! errors turned into `file:line:col` diagnostics.

use std::str::FromStr;

use cedar_policy::{Policy, Schema};

use crate::source::line_col;
use crate::{Diagnostic, PolicySource};

/// A parsed policy, with the file it came from and where it starts there.
#[derive(Debug, Clone)]
pub(super) struct Located {
    pub(super) policy: Policy,
    /// Index into the sources.
    pub(super) file: usize,
    /// Byte offset of the policy's first annotation or keyword.
    pub(super) offset: usize,
    /// The policy's own text (from its first annotation to its `;`).
    pub(super) text: String,
}

/// A diagnostic at byte `offset` of `source`.
pub(super) fn diag_at(source: &PolicySource, offset: usize, message: String) -> Diagnostic {
    let (line, col) = line_col(&source.text, offset);
    Diagnostic {
        file: source.name.clone(),
        line,
        col,
        message,
    }
}

/// A diagnostic from a Cedar error (anything with miette labels), placed at
/// its first label or at `fallback`, with Cedar's help appended.
pub(super) fn diag_from_cedar(
    source: &PolicySource,
    err: &dyn miette::Diagnostic,
    fallback: usize,
) -> Diagnostic {
    let offset = err
        .labels()
        .and_then(|mut labels| labels.next())
        .map_or(fallback, |label| label.offset());
    diag_at(source, offset, with_help(err))
}

/// Cedar's message plus its help, if any.
pub(super) fn with_help(err: &dyn miette::Diagnostic) -> String {
    match err.help() {
        Some(help) => format!("{err} (hint: {help})"),
        None => err.to_string(),
    }
}

/// Parses the schema (Cedar syntax, or JSON when the name ends in `.json`).
pub(super) fn parse_schema(source: &PolicySource) -> Result<Schema, Diagnostic> {
    if source.name.ends_with(".json") {
        Schema::from_json_str(&source.text).map_err(|e| diag_from_cedar(source, &e, 0))
    } else {
        Schema::from_cedarschema_str(&source.text)
            .map(|(schema, _warnings)| schema)
            .map_err(|e| diag_from_cedar(source, &e, 0))
    }
}

/// Parses one policy file; templates are refused.
pub(super) fn parse_file(
    file: usize,
    source: &PolicySource,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<Located> {
    let set = match cedar_policy::PolicySet::from_str(&source.text) {
        Ok(set) => set,
        Err(errs) => {
            diagnostics.extend(errs.iter().map(|e| diag_from_cedar(source, e, 0)));
            return Vec::new();
        }
    };
    for template in set.templates() {
        let text = template.to_string();
        let offset = source.text.find(&text).unwrap_or(0);
        diagnostics.push(diag_at(
            source,
            offset,
            "policy templates (`?principal`, `?resource`) are not supported".to_owned(),
        ));
    }
    // Cedar numbers policies `policy0`, `policy1`, … in file order.
    let mut policies: Vec<(usize, &Policy)> = set
        .policies()
        .map(|p| (ordinal(AsRef::<str>::as_ref(p.id())), p))
        .collect();
    policies.sort_by_key(|(n, _)| *n);
    let mut cursor = 0;
    policies
        .into_iter()
        .map(|(_, policy)| {
            let text = policy.to_cedar().unwrap_or_default();
            let offset = source.text[cursor..]
                .find(&text)
                .map_or(cursor, |at| cursor + at);
            cursor = offset + text.len();
            Located {
                policy: policy.clone(),
                file,
                offset,
                text,
            }
        })
        .collect()
}

/// `policy12` → 12.
fn ordinal(id: &str) -> usize {
    id.trim_start_matches("policy")
        .parse()
        .unwrap_or(usize::MAX)
}

/// Byte offset (in the file) of annotation `@key` within a located policy,
/// or the policy's start.
pub(super) fn annotation_offset(located: &Located, key: Option<&str>) -> usize {
    key.and_then(|key| {
        let needle = format!("@{key}");
        located.text.match_indices(&needle).find_map(|(at, _)| {
            let next = located.text[at + needle.len()..].chars().next();
            (!next.is_some_and(|c| c.is_alphanumeric() || c == '_')).then_some(at)
        })
    })
    .map_or(located.offset, |at| located.offset + at)
}
