//! RFC 8785 JSON Canonicalization Scheme (JCS) for audit entries.
//!
//! A leaf's hash must depend only on what the entry says, not on how some
//! serializer happened to order keys or space things out, so entries are
//! hashed in their canonical form.
//!
//! Written here rather than taken from `serde_json_canonicalizer` or
//! `serde_jcs`: both work, but they turn on serde_json's `float_roundtrip`
//! for the whole workspace and carry an ECMAScript float formatter
//! (`ryu-js`) for a case audit entries never have. Numbers are limited to
//! integers in the IEEE-754 exact range (|n| ≤ 2^53), where JCS output is
//! simply the decimal integer; anything else is refused rather than
//! approximated. `serde_json_canonicalizer` is kept as a test-only oracle.

use std::fmt::Write as _;

use serde_json::{Map, Number, Value};

use crate::error::{Result, TlogError};

/// Largest integer magnitude every JCS implementation prints exactly.
const MAX_SAFE: u64 = 1 << 53;

/// Nesting limit, so a hostile value cannot exhaust the stack.
const MAX_DEPTH: usize = 128;

/// RFC 8785 canonical UTF-8 bytes of `value`.
///
/// Object keys are sorted by UTF-16 code units, there is no whitespace,
/// strings escape only `"`, `\` and control characters, and numbers must be
/// integers with |n| ≤ 2^53 (floats with an integral value, like `1.0`,
/// print as integers, as in ECMAScript).
pub fn canonicalize(value: &Value) -> Result<Vec<u8>> {
    let mut out = String::new();
    write_value(&mut out, value, 0)?;
    Ok(out.into_bytes())
}

fn write_value(out: &mut String, value: &Value, depth: usize) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(TlogError::Canonical(format!(
            "nesting deeper than {MAX_DEPTH} levels"
        )));
    }
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(out, n)?,
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item, depth + 1)?;
            }
            out.push(']');
        }
        Value::Object(map) => write_object(out, map, depth)?,
    }
    Ok(())
}

fn write_object(out: &mut String, map: &Map<String, Value>, depth: usize) -> Result<()> {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_by(|(a, _), (b, _)| a.encode_utf16().cmp(b.encode_utf16()));
    out.push('{');
    for (i, (key, item)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(out, key);
        out.push(':');
        write_value(out, item, depth + 1)?;
    }
    out.push('}');
    Ok(())
}

fn write_number(out: &mut String, n: &Number) -> Result<()> {
    let unsupported =
        || TlogError::Canonical(format!("number `{n}` is not an integer within ±2^53"));
    if let Some(u) = n.as_u64() {
        if u > MAX_SAFE {
            return Err(unsupported());
        }
        let _ = write!(out, "{u}");
    } else if let Some(i) = n.as_i64() {
        if i.unsigned_abs() > MAX_SAFE {
            return Err(unsupported());
        }
        let _ = write!(out, "{i}");
    } else {
        let f = n.as_f64().ok_or_else(unsupported)?;
        // 2^53 as f64 is exact, so the comparison is too.
        if !f.is_finite() || f.fract() != 0.0 || f.abs() > MAX_SAFE as f64 {
            return Err(unsupported());
        }
        // ECMAScript prints -0 as "0"; the cast is exact within ±2^53.
        let _ = write!(out, "{}", f as i64);
    }
    Ok(())
}

fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0C}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c < '\u{20}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}
