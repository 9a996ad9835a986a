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

/// The request's context: SQL statements as SQL, text as text, anything
/// else as indented JSON.
pub fn context(ctx: &serde_json::Map<String, Value>) -> String {
    let mut out = String::new();
    for (k, v) in ctx {
        let _ = write!(out, "<h4>{}</h4>", e(k));
        match v {
            Value::Object(m) if m.get("statement").is_some_and(Value::is_string) => {
                if let Some(Value::String(sql)) = m.get("statement") {
                    pre(&mut out, "sql", sql);
                }
                let rest: serde_json::Map<String, Value> = m
                    .iter()
                    .filter(|(k, _)| k.as_str() != "statement")
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                if !rest.is_empty() {
                    let text = serde_json::to_string_pretty(&rest).unwrap_or_default();
                    pre(&mut out, "json", &text);
                }
            }
            Value::String(s) => pre(&mut out, "text", s),
            other => {
                let text = serde_json::to_string_pretty(other).unwrap_or_default();
                pre(&mut out, "json", &text);
            }
        }
    }
    if out.is_empty() {
        out.push_str("<p class=\"help\">No further details were given.</p>");
    }
    out
}

pub fn time_left(a: &Approval, now: Timestamp) -> String {
    let secs = now.until(a.expires_at).as_secs();
    match secs {
        0 => "expired".to_owned(),
        1..120 => format!("{secs}s"),
        120..7200 => format!("{}m", secs / 60),
        _ => format!("{}h {}m", secs / 3600, (secs % 3600) / 60),
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
         <dt>Why</dt><dd>{why}</dd>\
         <dt>Policy</dt><dd><code>{policy}</code></dd>{message}\
         <dt>Votes</dt><dd>{n} of {quorum} approvals{denied}</dd>\
         <dt>Time left</dt><dd>{left}</dd>",
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
        left = e(&time_left(a, now)),
    )
}
