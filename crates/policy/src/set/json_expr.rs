//! A fast conversion of a caller's JSON context into Cedar values.
//!
//! Cedar's schema-directed JSON parser is thorough but costs several
//! microseconds per call. Most contexts are plain strings, numbers, booleans,
//! sets and records, which convert directly; the result is then validated
//! against the schema. Anything this does not handle (`null`, fractions,
//! implicit entity references) returns `None` and goes to Cedar's parser.

use std::str::FromStr;

use cedar_policy::{EntityId, EntityTypeName, EntityUid, RestrictedExpression};
use serde_json::{Map, Value};

/// `(key, value)` pairs for `Context::from_pairs`, or `None` when a value
/// needs Cedar's own JSON parser.
pub(super) fn context_pairs(
    map: &Map<String, Value>,
) -> Option<Vec<(String, RestrictedExpression)>> {
    map.iter()
        .map(|(k, v)| expr(v).map(|e| (k.clone(), e)))
        .collect()
}

fn expr(v: &Value) -> Option<RestrictedExpression> {
    match v {
        Value::Null => None,
        Value::Bool(b) => Some(RestrictedExpression::new_bool(*b)),
        Value::Number(n) => n.as_i64().map(RestrictedExpression::new_long),
        Value::String(s) => Some(RestrictedExpression::new_string(s.clone())),
        Value::Array(items) => items
            .iter()
            .map(expr)
            .collect::<Option<Vec<_>>>()
            .map(RestrictedExpression::new_set),
        Value::Object(map) => {
            if map.contains_key("__entity") || map.contains_key("__extn") {
                return escape(map);
            }
            let pairs = map
                .iter()
                .map(|(k, v)| expr(v).map(|e| (k.clone(), e)))
                .collect::<Option<Vec<_>>>()?;
            RestrictedExpression::new_record(pairs).ok()
        }
    }
}

/// `{"__entity": {"type", "id"}}` and `{"__extn": {"fn", "arg"}}`.
fn escape(map: &Map<String, Value>) -> Option<RestrictedExpression> {
    if map.len() != 1 {
        return None;
    }
    if let Some(entity) = map.get("__entity") {
        let ty = EntityTypeName::from_str(entity.get("type")?.as_str()?).ok()?;
        let id = EntityId::new(entity.get("id")?.as_str()?);
        return Some(RestrictedExpression::new_entity_uid(
            EntityUid::from_type_name_and_id(ty, id),
        ));
    }
    let extn = map.get("__extn")?;
    let arg = extn.get("arg")?.as_str()?;
    match extn.get("fn")?.as_str()? {
        "ip" => Some(RestrictedExpression::new_ip(arg)),
        "decimal" => Some(RestrictedExpression::new_decimal(arg)),
        "datetime" => Some(RestrictedExpression::new_datetime(arg)),
        "duration" => Some(RestrictedExpression::new_duration(arg)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::context_pairs;
    use cedar_policy::Context;
    use serde_json::json;

    fn convert(v: serde_json::Value) -> Option<Context> {
        let serde_json::Value::Object(map) = v else {
            return None;
        };
        context_pairs(&map).map(|pairs| Context::from_pairs(pairs).unwrap())
    }

    #[test]
    fn plain_values_match_cedars_parser() {
        let v = json!({
            "s": "x", "n": -3, "b": true, "set": ["a", "b"],
            "rec": { "inner": [1, 2], "e": { "__entity": { "type": "User", "id": "alice" } } },
            "ip": { "__extn": { "fn": "ip", "arg": "10.0.0.1" } },
        });
        let ours = convert(v.clone()).unwrap();
        let cedars = Context::from_json_value(v, None).unwrap();
        assert_eq!(
            ours.to_json_value().unwrap(),
            cedars.to_json_value().unwrap()
        );
    }

    #[test]
    fn unusual_values_are_left_to_cedar() {
        assert!(convert(json!({ "x": null })).is_none());
        assert!(convert(json!({ "x": 1.5 })).is_none());
        assert!(convert(json!({ "x": { "__entity": { "type": "User" } } })).is_none());
        assert!(convert(json!({ "x": { "__extn": { "fn": "nope", "arg": "1" } } })).is_none());
    }
}
