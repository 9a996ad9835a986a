//! Pieces shared by the approval pages: who, what, why, and the request's
//! context (SQL, tool arguments) rendered readably.

use crate::html::{e, url_component};
use countersign_core::approval::{Approval, tally};
use countersign_core::{ApprovalState, Timestamp};
use serde_json::Value;
use std::fmt::Write as _;

/// Longest piece of context shown inline; the rest is cut with a note.
const MAX_SHOWN: usize = 8 * 1024;

fn clip(s: &str) -> (&str, bool) {
    if s.len() <= MAX_SHOWN {
        return (s, false);
    }
    let mut end = MAX_SHOWN;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    (&s[..end], true)
}

fn pre(out: &mut String, class: &str, text: &str) {
    let (shown, cut) = clip(text);
    let _ = write!(
        out,
        "<pre class=\"{class}\"><code>{}</code></pre>",
        e(shown)
    );
    if cut {
        let _ = write!(
            out,
            "<p class=\"help\">Shown: the first {} of {} bytes.</p>",
            shown.len(),
            text.len()
        );
    }
}

/// Longest string shown inline in the details list rather than as a block.
const INLINE: usize = 100;

/// A short one-line string, a number or a boolean: shown inline.
fn inline_value(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if s.len() <= INLINE && !s.contains('\n') => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The request's context: short values as a list (an id, a version, a
/// digest: not worth a code block each), SQL statements as SQL, text as
/// text, anything else as indented JSON.
pub fn context(ctx: &serde_json::Map<String, Value>) -> String {
    let mut inline = String::new();
    let mut blocks = String::new();
    for (k, v) in ctx {
        if let Some(text) = inline_value(v) {
            let _ = write!(
                inline,
                "<dt>{}</dt><dd><code class=\"short\">{}</code></dd>",
                e(k),
                e(&text)
            );
            continue;
        }
        let _ = write!(blocks, "<h4>{}</h4>", e(k));
        match v {
            Value::Object(m) if m.get("statement").is_some_and(Value::is_string) => {
                if let Some(Value::String(sql)) = m.get("statement") {
                    pre(&mut blocks, "sql", sql);
                }
                let rest: serde_json::Map<String, Value> = m
                    .iter()
                    .filter(|(k, _)| k.as_str() != "statement")
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                if !rest.is_empty() {
                    let text = serde_json::to_string_pretty(&rest).unwrap_or_default();
                    pre(&mut blocks, "json", &text);
                }
            }
            Value::String(s) => pre(&mut blocks, "text", s),
            other => {
                let text = serde_json::to_string_pretty(other).unwrap_or_default();
                pre(&mut blocks, "json", &text);
            }
        }
    }
    if inline.is_empty() && blocks.is_empty() {
        return "<p class=\"help\">No further details were given.</p>".to_owned();
    }
    if inline.is_empty() {
        blocks
    } else {
        format!("<dl class=\"facts\" id=\"details\">{inline}</dl>{blocks}")
    }
}

/// How long a pending approval has left, in its two largest units.
fn time_left(a: &Approval, now: Timestamp) -> String {
    let secs = now.until(a.expires_at).as_secs();
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match secs {
        0 => "expired".to_owned(),
        _ if d > 0 => format!("{d}d {h}h"),
        _ if h > 0 => format!("{h}h {m}m"),
        _ if m > 0 => format!("{m}m {s}s"),
        _ => format!("{s}s"),
    }
}

/// "3h 59m left" while pending; when it was decided otherwise (time left
/// means nothing for an approval that has ended).
fn time_row(a: &Approval, now: Timestamp) -> String {
    if a.effective_state(now) == ApprovalState::Pending {
        return format!("<dt>Time left</dt><dd>{}</dd>", e(&time_left(a, now)));
    }
    match a.decided_at {
        Some(at) => format!("<dt>Decided</dt><dd><time>{}</time></dd>", e(&at.rfc3339())),
        None => format!(
            "<dt>Ended</dt><dd><time>{}</time></dd>",
            e(&a.expires_at.rfc3339())
        ),
    }
}

pub fn approval_href(id: &str) -> String {
    format!("/ui/approvals/{}", url_component(id))
}

pub fn state_badge(state: ApprovalState) -> String {
    badge(state.as_str())
}

/// A state as a badge (approvals' and changes'); the class colours it
/// (`.state-pending`, `.state-deployed`, …), the word says it.
pub fn badge(state: &str) -> String {
    format!("<span class=\"badge state-{0}\">{0}</span>", e(state))
}

/// The summary every approval shows: what, who, why, policy, votes, time.
pub fn summary(a: &Approval, now: Timestamp) -> String {
    format!("<dl class=\"facts\">{}</dl>", summary_rows(a, now))
}

/// [`summary`]'s rows alone, for pages that add rows of their own.
pub fn summary_rows(a: &Approval, now: Timestamp) -> String {
    let t = tally(a);
    let r = &a.request;
    let owner = a
        .requester_owner
        .as_deref()
        .map(|o| format!(" · owner <strong>{}</strong>", e(o)))
        .unwrap_or_default();
    let why = a
        .reason
        .as_deref()
        .map(|w| format!("{}", e(w)))
        .unwrap_or_else(|| "<em>no reason given</em>".to_owned());
    let message = a
        .requirement
        .message
        .as_deref()
        .map(|m| format!("<dt>Policy says</dt><dd>{}</dd>", e(m)))
        .unwrap_or_default();
    format!(
        "<dt>What</dt><dd><code>{action}</code> on <code>{rtype}::{rid}</code></dd>\
         <dt>Environment</dt><dd><span class=\"badge env\">{env}</span></dd>\
         <dt>Who</dt><dd><strong>{who}</strong> ({kind}){owner}</dd>\
         <dt>Why</dt><dd class=\"why\">{why}</dd>\
         <dt>Policy</dt><dd><code>{policy}</code></dd>{message}\
         <dt>Votes</dt><dd>{n} of {quorum} approvals{denied}</dd>{time}",
        action = e(&r.action),
        rtype = e(&r.resource.kind),
        rid = e(&r.resource.id),
        env = e(&r.environment),
        who = e(&r.principal.name),
        kind = e(r.principal.kind.as_str()),
        policy = e(&a.requirement.policy_id),
        n = t.approvals(),
        quorum = a.requirement.quorum,
        denied = if t.deniers.is_empty() {
            String::new()
        } else {
            format!(", denied by {}", e(&t.deniers.join(", ")))
        },
        time = time_row(a, now),
    )
}
