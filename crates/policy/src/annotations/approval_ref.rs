//! Whether a policy's conditions read `context.approval.granted`.
//!
//! An approval rule must say in Cedar that it needs the approval; a policy
//! with `@approval_quorum` that never looks at the approval would allow the
//! action outright, which is almost certainly a mistake.

use serde_json::Value;

/// True when the policy's JSON form (Cedar's EST) accesses
/// `context.approval.granted` anywhere in its conditions.
pub(crate) fn reads_approval_granted(policy_json: &Value) -> bool {
    policy_json.get("conditions").is_some_and(contains_access)
}

fn contains_access(v: &Value) -> bool {
    match v {
        Value::Object(map) => {
            if let Some(access) = map.get(".")
                && is_attr(access, "granted")
                && access
                    .get("left")
                    .is_some_and(|left| is_context_attr(left, "approval"))
            {
                return true;
            }
            map.values().any(contains_access)
        }
        Value::Array(items) => items.iter().any(contains_access),
        _ => false,
    }
}

/// `access` is `{ "left": …, "attr": name }`.
fn is_attr(access: &Value, name: &str) -> bool {
    access.get("attr").and_then(Value::as_str) == Some(name)
}

/// `v` is `context.<name>`.
fn is_context_attr(v: &Value, name: &str) -> bool {
    v.get(".").is_some_and(|access| {
        is_attr(access, name)
            && access
                .get("left")
                .and_then(|l| l.get("Var"))
                .and_then(Value::as_str)
                == Some("context")
    })
}

#[cfg(test)]
mod tests {
    use super::reads_approval_granted;
    use cedar_policy::Policy;

    fn reads(src: &str) -> bool {
        let json = Policy::parse(None, src).unwrap().to_json().unwrap();
        reads_approval_granted(&json)
    }

    #[test]
    fn finds_the_access_in_when_and_unless() {
        assert!(reads(
            "permit(principal, action, resource) when { context.approval.granted };"
        ));
        assert!(reads(
            "permit(principal, action, resource) when { context.environment == \"prod\" && context[\"approval\"][\"granted\"] };"
        ));
        assert!(reads(
            "permit(principal, action, resource) unless { !context.approval.granted };"
        ));
    }

    #[test]
    fn other_accesses_do_not_count() {
        assert!(!reads("permit(principal, action, resource);"));
        assert!(!reads(
            "permit(principal, action, resource) when { context.approval.count > 1 };"
        ));
        assert!(!reads(
            "permit(principal, action, resource) when { principal.approval.granted };"
        ));
    }
}
