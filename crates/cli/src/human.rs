//! Text for people: durations as `3h 59m` rather than `14394s`, how long an
//! approval has left (only while it is open), and the exact command that
//! approves it (with `--reason` when its policy requires one).

use serde_json::Value;
use std::time::Duration;

/// A duration in its two largest units: `6d 23h`, `3h 59m`, `14m 5s`,
/// `45s`. Rounded down: what is left is never overstated.
pub fn duration(d: Duration) -> String {
    let s = d.as_secs();
    let (days, hours, minutes, seconds) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    if days > 0 {
        format!("{days}d {hours}h")
    } else if hours > 0 {
        format!("{hours}h {minutes}m")
    } else if minutes > 0 {
        format!("{minutes}m {seconds}s")
    } else {
        format!("{seconds}s")
    }
}

/// `3h 59m left` for a pending approval (from the API's
/// `expires_in_secs`); `None` once it has ended, when time left means
/// nothing.
pub fn approval_time_left(a: &Value) -> Option<String> {
    if a["state"] != "pending" {
        return None;
    }
    let secs = a["expires_in_secs"].as_u64()?;
    Some(format!("{} left", duration(Duration::from_secs(secs))))
}

/// The command a reviewer runs to approve `a` (an approval as
/// `GET /v1/approvals/{id}` returns it): with `--reason "…"` when its
/// policy requires a reason, since a vote without one is refused.
pub fn approve_command(a: &Value) -> String {
    let id = a["id"].as_str().unwrap_or("apr_…");
    if a["requirement"]["reason_required"] == true {
        format!("countersign approvals approve {id} --reason \"…\"")
    } else {
        format!("countersign approvals approve {id}")
    }
}

/// The status line `countersign run` shows while it waits:
/// `waiting for apr_…: 0/2 approvals from reviewer · 3h 59m left`, and,
/// when the run gives up before the approval expires, how long it waits.
/// `expires_in` and `wait_left` are counted down by the caller (from a
/// local deadline), so the line can be redrawn every second between polls.
#[cfg_attr(
    not(test),
    expect(
        dead_code,
        reason = "for commands/run.rs, whose owner wires it in (see the newcomer branch's report)"
    )
)]
pub fn wait_line(a: &Value, expires_in: Duration, wait_left: Duration) -> String {
    let groups: Vec<&str> = a["requirement"]["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let mut line = format!(
        "waiting for {}: {}/{} approvals from {} · {} left",
        a["id"].as_str().unwrap_or(""),
        a["approvals"],
        a["requirement"]["quorum"],
        if groups.is_empty() {
            "any reviewer".to_owned()
        } else {
            groups.join(" or ")
        },
        duration(expires_in),
    );
    if wait_left < expires_in {
        line.push_str(&format!(
            " (this run waits {} more; --wait)",
            duration(wait_left)
        ));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn durations_read_as_people_say_them() {
        let d = |s| duration(Duration::from_secs(s));
        assert_eq!(d(0), "0s");
        assert_eq!(d(45), "45s");
        assert_eq!(d(899), "14m 59s");
        assert_eq!(d(14_400), "4h 0m");
        assert_eq!(d(14_394), "3h 59m");
        assert_eq!(d(604_649), "6d 23h");
        assert_eq!(d(7 * 86_400), "7d 0h");
    }

    #[test]
    fn time_left_only_while_pending() {
        let a = json!({"state": "pending", "expires_in_secs": 14_394});
        assert_eq!(approval_time_left(&a).as_deref(), Some("3h 59m left"));
        let done = json!({"state": "executed", "expires_in_secs": 604_649});
        assert_eq!(approval_time_left(&done), None);
    }

    #[test]
    fn approve_command_carries_a_reason_when_required() {
        let a = json!({"id": "apr_1", "requirement": {"reason_required": true}});
        assert_eq!(
            approve_command(&a),
            "countersign approvals approve apr_1 --reason \"…\""
        );
        let b = json!({"id": "apr_2", "requirement": {"reason_required": false}});
        assert_eq!(approve_command(&b), "countersign approvals approve apr_2");
    }

    #[test]
    fn wait_line_counts_down_and_says_when_the_run_gives_up_first() {
        let a = json!({"id": "apr_1", "approvals": 0,
            "requirement": {"quorum": 2, "groups": ["reviewer"]}});
        let h = Duration::from_secs(3600);
        assert_eq!(
            wait_line(&a, 4 * h, 4 * h),
            "waiting for apr_1: 0/2 approvals from reviewer · 4h 0m left"
        );
        assert_eq!(
            wait_line(&a, 4 * h, Duration::from_secs(899)),
            "waiting for apr_1: 0/2 approvals from reviewer · 4h 0m left (this run waits 14m 59s more; --wait)"
        );
    }
}
