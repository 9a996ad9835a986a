//! Request contexts: the caller's fields plus `environment` and `approval`.
//!
//! Building a Cedar context costs more than evaluating a small bucket, so the
//! two contexts of a query without caller fields (no approval yet, and the
//! hypothetical granted approval) are built once per environment that
//! policies name, at compile time, and cloned (an `Arc`) per request.

use std::collections::HashMap;

use cedar_policy::{Context, EntityUid, RestrictedExpression, Schema};
use serde_json::{Map, Value};

use super::json_expr::context_pairs;
use crate::ApprovalFacts;

/// The approval facts a hypothetical approval stands for: granted, with
/// more approvers than any quorum.
pub(super) const HYPOTHETICAL_COUNT: i64 = 1_000_000;

/// Which `context.approval` to build.
#[derive(Debug, Clone, Copy)]
pub(super) enum Approval<'a> {
    /// No approval: `{granted: false, count: 0, approvers: []}`.
    None,
    /// The governor's facts.
    Facts(&'a ApprovalFacts),
    /// Granted by more approvers than any quorum needs.
    Hypothetical,
}

impl Approval<'_> {
    fn expr(self) -> RestrictedExpression {
        let (granted, count, approvers): (bool, i64, &[String]) = match self {
            Approval::None => (false, 0, &[]),
            Approval::Facts(f) => (f.granted, i64::from(f.count), &f.approvers),
            Approval::Hypothetical => (true, HYPOTHETICAL_COUNT, &[]),
        };
        let approvers = approvers
            .iter()
            .filter_map(|id| user(id).map(RestrictedExpression::new_entity_uid));
        record([
            ("granted", RestrictedExpression::new_bool(granted)),
            ("count", RestrictedExpression::new_long(count)),
            ("approvers", RestrictedExpression::new_set(approvers)),
        ])
    }

    fn json(self) -> Value {
        let (granted, count, approvers): (bool, i64, &[String]) = match self {
            Approval::None => (false, 0, &[]),
            Approval::Facts(f) => (f.granted, i64::from(f.count), &f.approvers),
            Approval::Hypothetical => (true, HYPOTHETICAL_COUNT, &[]),
        };
        let approvers: Vec<Value> = approvers
            .iter()
            .map(|id| serde_json::json!({ "__entity": { "type": "User", "id": id } }))
            .collect();
        serde_json::json!({ "granted": granted, "count": count, "approvers": approvers })
    }
}

fn user(id: &str) -> Option<EntityUid> {
    let ty = "User".parse().ok()?;
    Some(EntityUid::from_type_name_and_id(
        ty,
        cedar_policy::EntityId::new(id),
    ))
}

fn record<const N: usize>(fields: [(&str, RestrictedExpression); N]) -> RestrictedExpression {
    // Field names are distinct, so this cannot fail; an empty record would
    // fail validation, never allow.
    RestrictedExpression::new_record(fields.map(|(k, v)| (k.to_owned(), v)))
        .unwrap_or_else(|_| RestrictedExpression::new_set([]))
}

/// The two contexts of a query without caller fields, for one environment.
#[derive(Debug, Clone)]
struct EnvContexts {
    plain: Context,
    hypothetical: Context,
}

/// Prebuilt contexts per environment.
#[derive(Debug, Clone, Default)]
pub(super) struct ContextCache {
    by_env: HashMap<String, EnvContexts>,
}

impl ContextCache {
    /// Prebuilds the contexts of `environments`.
    pub(super) fn new<'a>(environments: impl IntoIterator<Item = &'a str>) -> ContextCache {
        let by_env = environments
            .into_iter()
            .filter_map(|env| {
                let plain = build(&[], env, Approval::None).ok()?;
                let hypothetical = build(&[], env, Approval::Hypothetical).ok()?;
                Some((
                    env.to_owned(),
                    EnvContexts {
                        plain,
                        hypothetical,
                    },
                ))
            })
            .collect();
        ContextCache { by_env }
    }

    /// The prebuilt context for no caller fields, if `env` has one and the
    /// approval is not the governor's facts.
    pub(super) fn get(&self, env: &str, approval: Approval<'_>) -> Option<Context> {
        let c = self.by_env.get(env)?;
        match approval {
            Approval::None => Some(c.plain.clone()),
            Approval::Hypothetical => Some(c.hypothetical.clone()),
            Approval::Facts(_) => None,
        }
    }
}

/// Builds the context from already converted caller fields.
pub(super) fn build(
    caller: &[(String, RestrictedExpression)],
    env: &str,
    approval: Approval<'_>,
) -> Result<Context, String> {
    let pairs = caller.iter().cloned().chain([
        (
            "environment".to_owned(),
            RestrictedExpression::new_string(env.to_owned()),
        ),
        ("approval".to_owned(), approval.expr()),
    ]);
    Context::from_pairs(pairs).map_err(|e| e.to_string())
}

/// Converts the caller's fields quickly, or `None` when Cedar's
/// schema-directed parser is needed.
pub(super) fn convert(caller: &Map<String, Value>) -> Option<Vec<(String, RestrictedExpression)>> {
    context_pairs(caller)
}

/// Cedar's schema-directed parse of the whole context: slower, but it
/// accepts implicit entity references and explains type errors.
pub(super) fn parse_with_schema(
    schema: &Schema,
    action: &EntityUid,
    caller: &Map<String, Value>,
    env: &str,
    approval: Approval<'_>,
) -> Result<Context, String> {
    let mut map = Map::with_capacity(caller.len() + 2);
    map.extend(caller.iter().map(|(k, v)| (k.clone(), v.clone())));
    map.insert("environment".to_owned(), Value::String(env.to_owned()));
    map.insert("approval".to_owned(), approval.json());
    Context::from_json_value(Value::Object(map), Some((schema, action))).map_err(|e| e.to_string())
}
