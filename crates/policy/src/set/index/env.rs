//! The environment dimension of the index.
//!
//! Most policies start with a test of the environment. When the first thing
//! a policy's conditions evaluate (the leftmost leaf of the `&&` chain of
//! its first `when` clause) is `context.environment == "X"` or
//! `context.environment != "X"`, the policy is provably not satisfied in the
//! other environments, resp. in `X`, and cannot raise an error there either:
//! Cedar evaluates the scope (which cannot error), then that comparison
//! (which cannot error, `environment` being a string on every request), and
//! stops at the first false. Anything else matches every environment.

use serde_json::Value;

/// What a policy's leading environment test allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum EnvFilter {
    /// No leading environment test.
    Any,
    /// `context.environment == "X"`.
    Eq(String),
    /// `context.environment != "X"`.
    Ne(String),
}

/// The environment literals policies test, each a class of the index, plus
/// `other` (any environment no policy names) and `unknown` (a request
/// without a string `environment`, for which nothing is excluded).
#[derive(Debug, Clone)]
pub(super) struct EnvClasses {
    names: Vec<String>,
}

impl EnvClasses {
    pub(super) fn new<'a>(filters: impl IntoIterator<Item = &'a EnvFilter>) -> EnvClasses {
        let mut names: Vec<String> = filters
            .into_iter()
            .filter_map(|f| match f {
                EnvFilter::Any => None,
                EnvFilter::Eq(x) | EnvFilter::Ne(x) => Some(x.clone()),
            })
            .collect();
        names.sort();
        names.dedup();
        EnvClasses { names }
    }

    /// Number of classes: one per literal, then `other`, then `unknown`.
    pub(super) fn len(&self) -> usize {
        self.names.len() + 2
    }

    /// The class of a request's environment.
    pub(super) fn class_of(&self, env: Option<&str>) -> usize {
        match env {
            None => self.names.len() + 1,
            Some(env) => self
                .names
                .binary_search_by(|n| n.as_str().cmp(env))
                .unwrap_or(self.names.len()),
        }
    }

    /// The environment literals, sorted.
    pub(super) fn names(&self) -> &[String] {
        &self.names
    }

    /// Whether a policy with `filter` can match requests of `class`.
    pub(super) fn admits(&self, filter: &EnvFilter, class: usize) -> bool {
        match (filter, self.names.get(class)) {
            (EnvFilter::Any, _) => true,
            (EnvFilter::Eq(x), Some(name)) => x == name,
            (EnvFilter::Ne(x), Some(name)) => x != name,
            // `other`: no literal equals it; `unknown`: exclude nothing.
            (EnvFilter::Eq(_), None) => class == self.names.len() + 1,
            (EnvFilter::Ne(_), None) => true,
        }
    }
}

/// The leading environment test of a policy, from its JSON form (EST).
pub(super) fn env_filter(policy_json: &Value) -> EnvFilter {
    let Some(first) = policy_json
        .get("conditions")
        .and_then(Value::as_array)
        .and_then(|c| c.first())
    else {
        return EnvFilter::Any;
    };
    if first.get("kind").and_then(Value::as_str) != Some("when") {
        return EnvFilter::Any;
    }
    let mut leaf = first.get("body");
    while let Some(left) = leaf.and_then(|e| e.get("&&")).and_then(|a| a.get("left")) {
        leaf = Some(left);
    }
    leaf.and_then(comparison).unwrap_or(EnvFilter::Any)
}

/// `context.environment ==/!= "X"` (either side order).
fn comparison(e: &Value) -> Option<EnvFilter> {
    let (op, args) = [("==", true), ("!=", false)]
        .into_iter()
        .find_map(|(key, eq)| e.get(key).map(|args| (eq, args)))?;
    let (left, right) = (args.get("left")?, args.get("right")?);
    let literal = if is_environment(left) {
        string_literal(right)?
    } else if is_environment(right) {
        string_literal(left)?
    } else {
        return None;
    };
    Some(if op {
        EnvFilter::Eq(literal)
    } else {
        EnvFilter::Ne(literal)
    })
}

fn is_environment(e: &Value) -> bool {
    e.get(".").is_some_and(|access| {
        access.get("attr").and_then(Value::as_str) == Some("environment")
            && access
                .get("left")
                .and_then(|l| l.get("Var"))
                .and_then(Value::as_str)
                == Some("context")
    })
}

fn string_literal(e: &Value) -> Option<String> {
    e.get("Value").and_then(Value::as_str).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cedar_policy::Policy;

    fn filter(conditions: &str) -> EnvFilter {
        let src = format!("permit(principal, action, resource) {conditions};");
        env_filter(&Policy::parse(None, src).unwrap().to_json().unwrap())
    }

    #[test]
    fn leading_tests_are_found() {
        let eq = EnvFilter::Eq("prod".into());
        let ne = EnvFilter::Ne("prod".into());
        assert_eq!(filter(r#"when { context.environment == "prod" }"#), eq);
        assert_eq!(filter(r#"when { "prod" == context.environment }"#), eq);
        assert_eq!(
            filter(r#"when { context.environment != "prod" && context.approval.granted }"#),
            ne
        );
        assert_eq!(
            filter(
                r#"when { context.environment == "prod" && principal is User && context.approval.granted }"#
            ),
            eq
        );
        assert_eq!(
            filter(r#"when { context.environment == "prod" } when { true }"#),
            eq
        );
    }

    #[test]
    fn anything_not_evaluated_first_is_ignored() {
        for c in [
            "",
            r#"when { context.approval.granted && context.environment == "prod" }"#,
            r#"when { context.environment == "prod" || true }"#,
            r#"when { !(context.environment == "prod") }"#,
            r#"unless { context.environment == "prod" }"#,
            r#"when { true } when { context.environment == "prod" }"#,
            r#"when { context.environment like "prod" }"#,
        ] {
            assert_eq!(filter(c), EnvFilter::Any, "{c}");
        }
    }

    #[test]
    fn classes_admit_what_can_match() {
        let classes = EnvClasses::new(&[EnvFilter::Eq("prod".into()), EnvFilter::Ne("dev".into())]);
        assert_eq!(classes.len(), 4);
        let (dev, prod) = (
            classes.class_of(Some("dev")),
            classes.class_of(Some("prod")),
        );
        let other = classes.class_of(Some("qa"));
        let unknown = classes.class_of(None);
        let eq = EnvFilter::Eq("prod".into());
        let ne = EnvFilter::Ne("dev".into());
        assert!(
            classes.admits(&eq, prod) && !classes.admits(&eq, dev) && !classes.admits(&eq, other)
        );
        assert!(
            !classes.admits(&ne, dev) && classes.admits(&ne, prod) && classes.admits(&ne, other)
        );
        assert!(classes.admits(&eq, unknown) && classes.admits(&ne, unknown));
    }
}
