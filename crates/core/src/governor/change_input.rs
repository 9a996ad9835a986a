//! Bounds and shapes of what a change submitter sends: every external
//! input is checked here with an error that names what is wrong.

use crate::change::threshold::valid_metric_name;
use crate::error::GovernorError;
use serde_json::Value;
use std::collections::BTreeMap;

pub(super) const MAX_VERSION: usize = 128;
pub(super) const MAX_DESCRIPTION: usize = 4000;
pub(super) const MAX_REASON: usize = 2000;
const MAX_METRICS: usize = 256;
const MAX_LINKS: usize = 32;
const MAX_LINK: usize = 2048;

pub(super) fn check_text(
    field: &str,
    s: &str,
    min: usize,
    max: usize,
) -> Result<(), GovernorError> {
    if s.len() < min || s.len() > max {
        return Err(GovernorError::InvalidRequest(format!(
            "`{field}` must be {min}-{max} bytes"
        )));
    }
    if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(GovernorError::InvalidRequest(format!(
            "`{field}` contains control characters"
        )));
    }
    Ok(())
}

/// `sha256:ABC…` or `abc…` → 64 lowercase hex digits.
pub fn normalize_digest(s: &str) -> Result<String, GovernorError> {
    let hex = s.strip_prefix("sha256:").unwrap_or(s).to_ascii_lowercase();
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(GovernorError::InvalidRequest(format!(
            "`{}` is not a SHA-256 digest (64 hex digits, optionally prefixed `sha256:`)",
            super::truncate(s, 80)
        )));
    }
    Ok(hex)
}

/// Evidence metrics: a flat JSON object of finite numbers.
pub(super) fn parse_metrics(v: Option<&Value>) -> Result<BTreeMap<String, f64>, GovernorError> {
    let Some(v) = v else {
        return Ok(BTreeMap::new());
    };
    let obj = v.as_object().ok_or_else(|| {
        GovernorError::InvalidRequest(
            "`metrics` must be a JSON object of metric name → number, e.g. {\"accuracy\": 0.93}"
                .into(),
        )
    })?;
    if obj.len() > MAX_METRICS {
        return Err(GovernorError::InvalidRequest(format!(
            "at most {MAX_METRICS} metrics"
        )));
    }
    let mut out = BTreeMap::new();
    for (k, v) in obj {
        if !valid_metric_name(k) || k.starts_with("live.") {
            return Err(GovernorError::InvalidRequest(format!(
                "metric name `{}`: use letters, digits, `_`, `-`, `.` (at most 128)",
                super::truncate(k, 80)
            )));
        }
        let n = v.as_f64().filter(|n| n.is_finite()).ok_or_else(|| {
            GovernorError::InvalidRequest(format!(
                "metric `{k}` must be a number, not {}",
                match v {
                    Value::Null => "null",
                    Value::Bool(_) => "a boolean",
                    Value::String(_) => "a string",
                    Value::Array(_) => "an array",
                    Value::Object(_) => "an object",
                    Value::Number(_) => "a non-finite number",
                }
            ))
        })?;
        out.insert(k.clone(), n);
    }
    Ok(out)
}

pub(super) fn check_links(links: &[String]) -> Result<Vec<String>, GovernorError> {
    if links.len() > MAX_LINKS {
        return Err(GovernorError::InvalidRequest(format!(
            "at most {MAX_LINKS} links"
        )));
    }
    for l in links {
        if l.len() > MAX_LINK
            || !(l.starts_with("https://") || l.starts_with("http://"))
            || l.chars().any(char::is_whitespace)
        {
            return Err(GovernorError::InvalidRequest(format!(
                "link `{}` must be an http(s) URL of at most {MAX_LINK} bytes",
                super::truncate(l, 80)
            )));
        }
    }
    Ok(links.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn metrics_must_be_a_flat_object_of_numbers() {
        let ok = parse_metrics(Some(&json!({"accuracy": 0.93, "p99_latency_ms": 180}))).unwrap();
        assert_eq!(ok["accuracy"], 0.93);
        for (bad, says) in [
            (json!([1, 2]), "JSON object"),
            (json!({"accuracy": "high"}), "a string"),
            (json!({"accuracy": null}), "null"),
            (json!({"nested": {"a": 1}}), "an object"),
            (json!({"bad name": 1}), "metric name"),
        ] {
            let e = parse_metrics(Some(&bad)).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn digests_are_normalized_and_checked() {
        let d = "A".repeat(64);
        assert_eq!(
            normalize_digest(&format!("sha256:{d}")).unwrap(),
            "a".repeat(64)
        );
        assert!(normalize_digest("sha256:abc").is_err());
        assert!(normalize_digest(&"g".repeat(64)).is_err());
    }
}
