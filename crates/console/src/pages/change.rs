//! One change: what moves where, its evidence, the gate report, its reviews
//! (links to the approvals, where the votes are cast), what happened at
//! deploy, and for a policy change what it would change.

use super::change_report::report_section;
use super::changes::{change_badge, change_href};
use super::gate_table::gate_report;
use super::render::{approval_href, badge, state_badge};
use crate::Console;
use crate::auth::Signed;
use crate::html::{e, page};
use crate::respond::{error_page, html};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use countersign_core::approval::{Approval, tally};
use countersign_core::change::{Change, ChangeState};
use countersign_core::store::Store as _;
use countersign_core::{ApprovalState, Timestamp};
use std::fmt::Write as _;

/// Whether a link may be rendered as one: http(s) only. The core refuses
/// anything else at submission; this guards against stored data from
/// elsewhere (a `javascript:` URL must never become a link).
fn is_web_link(s: &str) -> bool {
    let lower = |n: usize| s.get(..n).map(str::to_ascii_lowercase);
    (lower(8).as_deref() == Some("https://") || lower(7).as_deref() == Some("http://"))
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn header(c: &Change) -> String {
    format!(
        "<p><a href=\"/ui/changes\">← Changes</a></p>\
         <h1>{kind} <code>{subject}</code> {version} → <span class=\"badge env\">{env}</span> \
         <span id=\"change-state\">{state}</span></h1>",
        kind = e(&c.kind),
        subject = e(&c.subject.to_string()),
        version = e(&c.version),
        env = e(&c.environment),
        state = change_badge(c.state),
    )
}

fn facts(c: &Change) -> String {
    let owner = c
        .author_owner
        .as_deref()
        .map(|o| format!(" · owner <strong>{}</strong>", e(o)))
        .unwrap_or_default();
    let mut out = format!(
        "<section class=\"card\"><h2>Change</h2><dl class=\"facts\">\
         <dt>Change</dt><dd><code>{id}</code></dd>\
         <dt>Kind</dt><dd>{kind}</dd>\
         <dt>Subject</dt><dd><code>{subject}</code></dd>\
         <dt>Version</dt><dd>{version}</dd>\
         <dt>Environment</dt><dd><span class=\"badge env\">{env}</span></dd>\
         <dt>Artifact</dt><dd><code class=\"hash\" id=\"artifact\">sha256:{digest}</code></dd>\
         <dt>Author</dt><dd><strong>{author}</strong> ({akind}){owner}</dd>\
         <dt>Submitted</dt><dd><time>{at}</time></dd>",
        id = e(&c.id),
        kind = e(&c.kind),
        subject = e(&c.subject.to_string()),
        version = e(&c.version),
        env = e(&c.environment),
        digest = e(&c.artifact_sha256),
        author = e(&c.author.name),
        akind = e(c.author.kind.as_str()),
        at = e(&c.created_at.rfc3339()),
    );
    if let Some(d) = &c.description {
        let _ = write!(
            out,
            "<dt>Description</dt><dd id=\"description\">{}</dd>",
            e(d)
        );
    }
    if let Some(why) = &c.emergency {
        let _ = write!(
            out,
            "<dt>Emergency</dt><dd><span class=\"badge gate-fail\">emergency</span> {}</dd>",
            e(why)
        );
    }
    out.push_str("</dl></section>");
    out
}

fn evidence(c: &Change) -> String {
    let mut out = String::from("<section class=\"card\"><h2 id=\"evidence\">Evidence</h2>");
    let m = &c.evidence.metrics;
    if m.is_empty() {
        out.push_str("<p class=\"empty\">No metrics.</p>");
    } else {
        out.push_str(
            "<table class=\"metrics\" aria-labelledby=\"evidence\"><thead><tr>\
             <th scope=\"col\">Metric</th><th scope=\"col\">Value</th></tr></thead><tbody>",
        );
        for (k, v) in m {
            let _ = write!(
                out,
                "<tr><td><code>{}</code></td><td>{}</td></tr>",
                e(k),
                e(&v.to_string())
            );
        }
        out.push_str("</tbody></table>");
    }
    if !c.evidence.links.is_empty() {
        out.push_str("<h3>Links</h3><ul class=\"links\">");
        for l in &c.evidence.links {
            if is_web_link(l) {
                let _ = write!(
                    out,
                    "<li><a href=\"{0}\" rel=\"noopener noreferrer nofollow\">{0}</a></li>",
                    e(l)
                );
            } else {
                let _ = write!(out, "<li><code>{}</code></li>", e(l));
            }
        }
        out.push_str("</ul>");
    }
    out.push_str("</section>");
    out
}

/// One review approval: a link to where it is voted, and where it stands.
fn review_row(out: &mut String, label: &str, id: &str, a: Option<&Approval>, now: Timestamp) {
    let _ = write!(
        out,
        "<dt>{label}</dt><dd><a href=\"{}\" data-approval=\"{}\"><code>{}</code></a>",
        e(&approval_href(id)),
        e(id),
        e(id)
    );
    if let Some(a) = a {
        let t = tally(a);
        let state = a.effective_state(now);
        let groups = if a.requirement.groups.is_empty() {
            String::new()
        } else {
            format!(" from {}", e(&a.requirement.groups.join(", ")))
        };
        // A review is used up the moment it is approved (the approval reads
        // `executed`): for the change, that is an approval.
        let badge = if state == ApprovalState::Executed {
            badge("approved")
        } else {
            state_badge(state)
        };
        let when = match (state, a.decided_at) {
            (ApprovalState::Pending, _) => {
                format!(", expires <time>{}</time>", e(&a.expires_at.rfc3339()))
            }
            (_, Some(at)) => format!(", decided <time>{}</time>", e(&at.rfc3339())),
            (_, None) => String::new(),
        };
        let _ = write!(
            out,
            " {badge} {} of {} approvals{groups}{when}",
            t.approvals(),
            a.requirement.quorum,
        );
    }
    out.push_str("</dd>");
}

async fn reviews(c: &Console, ch: &Change) -> String {
    let mut out = String::from("<section class=\"card\"><h2 id=\"reviews\">Reviews</h2>");
    let ids = [
        ("Review", ch.review_approval.as_deref()),
        ("Emergency override", ch.override_approval.as_deref()),
    ];
    if ids.iter().all(|(_, id)| id.is_none()) {
        // A change whose checks failed never opens its review: saying "not
        // required" would misread the gate report above.
        out.push_str(if ch.state == ChangeState::ChecksFailed {
            "<p class=\"empty\">No review was opened: a gate failed at submission.</p>"
        } else {
            "<p class=\"empty\">No review was required.</p>"
        });
    } else {
        out.push_str(
            "<p class=\"help\">Reviews are approvals: vote on the approval's page.</p>\
             <dl class=\"facts\">",
        );
        let now = Timestamp::now();
        for (label, id) in ids {
            let Some(id) = id else { continue };
            // The approval's standing is a courtesy; the link is what matters,
            // so a store error here leaves the link alone rather than the page.
            let a = match c.app.store.approval(id).await {
                Ok(a) => a,
                Err(err) => {
                    tracing::warn!(approval = %id, error = %err, "console: review approval not read");
                    None
                }
            };
            review_row(&mut out, label, id, a.as_ref(), now);
        }
        out.push_str("</dl>");
    }
    if !ch.approved_by.is_empty() {
        let _ = write!(
            out,
            "<p>Approved by <strong id=\"approved-by\">{}</strong></p>",
            e(&ch.approved_by.join(", "))
        );
    }
    out.push_str("</section>");
    out
}

fn time_or(t: Option<Timestamp>, none: &str) -> String {
    match t {
        Some(t) => format!("<time>{}</time>", e(&t.rfc3339())),
        None => format!("<span class=\"empty\">{}</span>", e(none)),
    }
}

fn deployment(c: &Change) -> String {
    let mut out = format!(
        "<section class=\"card\"><h2 id=\"deployment\">Deployment</h2><dl class=\"facts\">\
         <dt>Approved</dt><dd>{}</dd><dt>Deployed</dt><dd id=\"deployed-at\">{}</dd>",
        time_or(c.approved_at, "not yet"),
        time_or(c.deployed_at, "not yet"),
    );
    if let Some(d) = &c.deployed_by {
        let _ = write!(
            out,
            "<dt>Deploy decision</dt><dd><code>{}</code></dd>",
            e(d)
        );
    }
    if let Some(d) = &c.deploy_decision {
        let _ = write!(
            out,
            "<dt>Deploy allowed</dt><dd>by decision <code>{}</code>; its outcome is not reported yet</dd>",
            e(d)
        );
    }
    if let Some(next) = &c.superseded_by {
        let _ = write!(
            out,
            "<dt>Superseded by</dt><dd><a href=\"{}\"><code>{}</code></a></dd>",
            e(&change_href(next)),
            e(next)
        );
    }
    if let Some(t) = c.ended_at {
        let _ = write!(
            out,
            "<dt>Ended</dt><dd><time>{}</time> ({})</dd>",
            e(&t.rfc3339()),
            e(c.state.as_str())
        );
    }
    if let Some(why) = &c.end_reason {
        let _ = write!(out, "<dt>Why</dt><dd id=\"end-reason\">{}</dd>", e(why));
    }
    out.push_str("</dl></section>");
    out
}

pub async fn show(State(c): State<Console>, signed: Signed, Path(id): Path<String>) -> Response {
    let chrome = signed.chrome("changes");
    let ch = match c.app.governor.change(&id).await {
        Ok(ch) => ch,
        Err(err) => return error_page(Some(&chrome), &err.into()),
    };
    let mut body = header(&ch);
    body.push_str(&facts(&ch));
    body.push_str(&evidence(&ch));
    body.push_str(&gate_report(&ch, "gates"));
    body.push_str(&reviews(&c, &ch).await);
    body.push_str(&deployment(&ch));
    if let Some(report) = &ch.report {
        body.push_str(&report_section(&ch, report));
    }
    html(StatusCode::OK, page("Change", Some(&chrome), &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_and_https_urls_become_links() {
        assert!(is_web_link("https://ci.example.com/runs/42"));
        assert!(is_web_link("HTTP://example.com"));
        assert!(!is_web_link("javascript:alert(1)"));
        assert!(!is_web_link("data:text/html,<script>"));
        assert!(!is_web_link("https://a b"));
        assert!(!is_web_link("https:"));
        assert!(!is_web_link("é"));
    }
}
