//! Reading a cases file, with `file:line:col` for every problem.

use serde::Deserialize;
use toml::Spanned;

use super::{Case, CasesFile, Expect};
use crate::source::line_col;
use crate::{
    ApprovalFacts, Diagnostic, DirectoryEntry, OwnedEntityRef, PolicyError, PrincipalKind,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    principals: Vec<Spanned<RawPrincipal>>,
    #[serde(default)]
    case: Vec<Spanned<RawCase>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrincipal {
    kind: Spanned<String>,
    id: String,
    #[serde(default)]
    groups: Vec<String>,
    owner: Option<String>,
    email: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    name: String,
    principal: Spanned<String>,
    action: String,
    resource: Spanned<String>,
    environment: String,
    #[serde(default)]
    context: Option<Spanned<toml::Table>>,
    approval: Option<RawApproval>,
    expect: Expect,
    expect_quorum: Option<u32>,
    expect_policies: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApproval {
    granted: bool,
    #[serde(default)]
    count: u32,
    #[serde(default)]
    approvers: Vec<String>,
}

impl CasesFile {
    /// Parses a cases file; `name` is used in messages.
    pub fn parse(name: &str, text: &str) -> Result<CasesFile, PolicyError> {
        let at = |offset: usize, message: String| {
            let (line, col) = line_col(text, offset);
            Diagnostic {
                file: name.to_owned(),
                line,
                col,
                message,
            }
        };
        let raw: RawFile = toml::from_str(text).map_err(|e| PolicyError::InvalidCases {
            diagnostics: vec![at(
                e.span().map_or(0, |s| s.start),
                e.message().trim_end().to_owned(),
            )],
        })?;

        let mut diagnostics = Vec::new();
        let mut principals = Vec::with_capacity(raw.principals.len());
        for p in raw.principals {
            let start = p.span().start;
            let p = p.into_inner();
            match p.kind.get_ref().parse::<PrincipalKind>() {
                Ok(kind) => principals.push(DirectoryEntry {
                    kind,
                    id: p.id,
                    groups: p.groups,
                    owner: p.owner,
                    email: p.email,
                }),
                Err(message) => diagnostics.push(at(p.kind.span().start.max(start), message)),
            }
        }

        let mut cases = Vec::with_capacity(raw.case.len());
        for c in raw.case {
            let start = c.span().start;
            let c = c.into_inner();
            let principal = entity(&c.principal).map_err(|m| at(c.principal.span().start, m));
            let resource = entity(&c.resource).map_err(|m| at(c.resource.span().start, m));
            let context = match c.context {
                None => Ok(serde_json::Map::new()),
                Some(table) => {
                    let offset = table.span().start;
                    match serde_json::to_value(table.into_inner()) {
                        Ok(serde_json::Value::Object(map)) => Ok(map),
                        Ok(_) => Err(at(offset, "`context` must be a table".to_owned())),
                        Err(e) => Err(at(offset, format!("`context`: {e}"))),
                    }
                }
            };
            match (principal, resource, context) {
                (Ok(principal), Ok(resource), Ok(context)) => cases.push(Case {
                    name: c.name,
                    line: line_col(text, start).0,
                    principal,
                    action: c.action,
                    resource,
                    environment: c.environment,
                    context,
                    approval: c.approval.map(|a| ApprovalFacts {
                        granted: a.granted,
                        count: a.count,
                        approvers: a.approvers,
                    }),
                    expect: c.expect,
                    expect_quorum: c.expect_quorum,
                    expect_policies: c.expect_policies,
                }),
                (p, r, ctx) => {
                    diagnostics.extend(p.err());
                    diagnostics.extend(r.err());
                    diagnostics.extend(ctx.err());
                }
            }
        }
        if diagnostics.is_empty() {
            Ok(CasesFile {
                name: name.to_owned(),
                principals,
                cases,
            })
        } else {
            Err(PolicyError::InvalidCases { diagnostics })
        }
    }
}

/// `Kind::id` → entity.
fn entity(value: &Spanned<String>) -> Result<OwnedEntityRef, String> {
    match value.get_ref().split_once("::") {
        Some((kind, id)) if !kind.is_empty() && !id.is_empty() => Ok(OwnedEntityRef {
            kind: kind.to_owned(),
            id: id.to_owned(),
        }),
        _ => Err(format!(
            "`{}` is not an entity like `Table::orders` (Kind::id)",
            value.get_ref()
        )),
    }
}
