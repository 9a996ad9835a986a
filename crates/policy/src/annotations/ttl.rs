//! `@approval_ttl` values: `<n>s|m|h|d`, between one second and seven days.

use std::time::Duration;

/// The TTL used when a rule has no `@approval_ttl`.
pub(crate) const DEFAULT_TTL: Duration = Duration::from_secs(3600);

const MIN_TTL: Duration = Duration::from_secs(1);
const MAX_TTL: Duration = Duration::from_secs(7 * 86_400);

/// Parses a TTL such as `90m`; the error explains what is wrong.
pub(crate) fn parse_ttl(value: &str) -> Result<Duration, String> {
    let shape = || format!("`{value}` is not a duration like `30m`, `1h` or `2d`");
    let unit_at = value.len().checked_sub(1).ok_or_else(shape)?;
    let (digits, unit) = value.split_at(unit_at);
    let unit_secs: u64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(shape()),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(shape());
    }
    let n: u64 = digits.parse().map_err(|_| shape())?;
    let ttl = n
        .checked_mul(unit_secs)
        .map(Duration::from_secs)
        .ok_or_else(shape)?;
    if ttl < MIN_TTL || ttl > MAX_TTL {
        return Err(format!(
            "`{value}` is outside the allowed range `1s` to `7d`"
        ));
    }
    Ok(ttl)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_each_unit_within_range() {
        assert_eq!(parse_ttl("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_ttl("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_ttl("90m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_ttl("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_ttl("7d"), Ok(Duration::from_secs(604_800)));
    }

    #[test]
    fn refuses_bad_shapes_and_ranges() {
        for bad in [
            "",
            "h",
            "1",
            "1w",
            "-1h",
            "1.5h",
            " 1h",
            "0s",
            "8d",
            "99999999999999999999d",
        ] {
            assert!(parse_ttl(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
