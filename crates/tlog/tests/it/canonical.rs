//! RFC 8785 canonical JSON: the RFC's own examples, our integer-only
//! limits, and a cross-check against `serde_json_canonicalizer`.

#![expect(
    clippy::unwrap_used,
    reason = "helpers outside #[test] fns; a failed unwrap is a failed test"
)]

use countersign_tlog::{TlogError, canonicalize};
use proptest::prelude::*;
use serde_json::{Value, json};

fn canon(v: &Value) -> String {
    String::from_utf8(canonicalize(v).unwrap()).unwrap()
}

/// RFC 8785 §3.2.3: keys sort by UTF-16 code units, so U+1F600 (a
/// surrogate pair starting 0xD83D) sorts before U+FB33.
#[test]
fn rfc_sorting_example() {
    let v: Value = serde_json::from_str(
        r#"{
            "\u20ac": "Euro Sign",
            "\r": "Carriage Return",
            "\ufb33": "Hebrew Letter Dalet With Dagesh",
            "1": "One",
            "\ud83d\ude00": "Emoji: Grinning Face",
            "\u0080": "Control",
            "\u00f6": "Latin Small Letter O With Diaeresis"
        }"#,
    )
    .unwrap();
    let want = "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\
                \"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",\
                \"\u{1f600}\":\"Emoji: Grinning Face\",\
                \"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}";
    assert_eq!(canon(&v), want);
}

/// RFC 8785 §3.2.2's example, minus the non-integer numbers we refuse.
#[test]
fn rfc_string_and_literal_example() {
    let v: Value = serde_json::from_str(
        r#"{
            "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
            "literals": [null, true, false]
        }"#,
    )
    .unwrap();
    assert_eq!(
        canon(&v),
        r#"{"literals":[null,true,false],"string":"€$\u000f\nA'B\"\\\\\"/"}"#
    );
}

#[test]
fn escapes_only_what_the_rfc_says() {
    let v = json!("\u{8}\u{c}\n\r\t\u{0}\u{1f}\u{7f}/<>&\u{2028}é");
    assert_eq!(
        canon(&v),
        "\"\\b\\f\\n\\r\\t\\u0000\\u001f\u{7f}/<>&\u{2028}é\""
    );
}

#[test]
fn integers_print_plainly_and_floats_are_refused() {
    let max = 1i64 << 53;
    assert_eq!(
        canon(&json!([0, -0, 1, -1, max, -max])),
        format!("[0,0,1,-1,{max},-{max}]")
    );
    assert_eq!(canon(&json!([1.0, -0.0, 1e3])), "[1,0,1000]");
    for bad in [
        json!(max + 1),
        json!(-max - 1),
        json!(u64::MAX),
        json!(0.5),
        json!(1e300),
    ] {
        assert!(
            matches!(canonicalize(&bad), Err(TlogError::Canonical(_))),
            "{bad}"
        );
    }
}

#[test]
fn whitespace_and_nesting() {
    let v: Value =
        serde_json::from_str(r#" { "b" : [ 1 , { "d" : {} , "c" : [ ] } ] , "a" : "" } "#).unwrap();
    assert_eq!(canon(&v), r#"{"a":"","b":[1,{"c":[],"d":{}}]}"#);
}

#[test]
fn absurd_nesting_is_refused_not_overflowed() {
    let mut v = json!(1);
    for _ in 0..1000 {
        v = Value::Array(vec![v]);
    }
    assert!(canonicalize(&v).is_err());
    let mut ok = json!(1);
    for _ in 0..100 {
        ok = Value::Array(vec![ok]);
    }
    assert!(canonicalize(&ok).is_ok());
}

fn arb_json() -> impl Strategy<Value = Value> {
    let max = 1i64 << 53;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-max..=max).prop_map(|n| json!(n)),
        any::<String>().prop_map(Value::String),
        "[\\x00-\\x1f\"\\\\a-z\u{80}-\u{ff}\u{fb00}-\u{fb40}\u{1f600}-\u{1f610}]{0,8}"
            .prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(
                "[a-z\u{80}-\u{ff}\u{fb00}-\u{fb40}\u{1f600}-\u{1f610}\\x00-\\x1f]{0,4}",
                inner,
                0..8
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    /// Same bytes as an independent RFC 8785 implementation, and the
    /// output parses back to the same value.
    #[test]
    fn matches_serde_json_canonicalizer(v in arb_json()) {
        let ours = canonicalize(&v).unwrap();
        let theirs = serde_json_canonicalizer::to_vec(&v).unwrap();
        prop_assert_eq!(String::from_utf8_lossy(&ours), String::from_utf8_lossy(&theirs));
        let back: Value = serde_json::from_slice(&ours).unwrap();
        prop_assert_eq!(back, v);
    }
}
