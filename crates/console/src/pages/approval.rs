//! One approval (the target of Slack/Teams links): full context, the votes
//! so far, and the approve/deny form. The vote goes through
//! `Governor::vote`, so the rules are exactly the API's and a refusal is
//! shown in the API's words.

use super::changes::{change_badge, change_href};
use super::gate_table::gate_report;
use super::render::{approval_href, context, state_badge, summary_rows};
use crate::Console;
use crate::auth::Signed;
use crate::html::{e, page};
use crate::respond::{csrf_refused, error_page, html, see_other};
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use countersign_core::approval::{Approval, check_vote};
use countersign_core::change::Change;
use countersign_core::governor::VoteInput;
use countersign_core::store::Store as _;
use countersign_core::{ApprovalState, Timestamp, VoteDecision};
use countersign_server::ApiError;
use serde::Deserialize;
use std::fmt::Write as _;

#[derive(Debug, Deserialize)]
pub struct ShowQuery {
    voted: Option<String>,
}

/// What to show above the form after a vote.
enum Notice<'a> {
    None,
    Voted(&'a str),
    Refused(&'a ApiError),
}

fn render(
    signed: &Signed,
    a: &Approval,
    change: Option<&Change>,
    notice: Notice<'_>,
    reason: &str,
) -> String {
    let now = Timestamp::now();
    let state = a.effective_state(now);
    let mut out = match change {
        Some(ch) => format!(
            "<p><a href=\"/ui/approvals\">← Approvals</a></p>\
             <h1>Review: {} <code>{}</code> {} → {} {}</h1>",
            e(&ch.kind),
            e(&ch.subject.to_string()),
            e(&ch.version),
            e(&ch.environment),
            state_badge(state)
        ),
        None => format!(
            "<p><a href=\"/ui/approvals\">← Approvals</a></p>\
             <h1><code>{}</code> on <code>{}</code> {}</h1>",
            e(&a.request.action),
            e(&a.request.resource.id),
            state_badge(state)
        ),
    };
    match notice {
        Notice::None => {}
        Notice::Voted(d) => {
            let _ = write!(
                out,
                "<p role=\"status\" class=\"ok\" id=\"vote-result\">Your vote ({}) was recorded.</p>",
                e(d)
            );
        }
        Notice::Refused(err) => {
            let _ = write!(
                out,
                "<p role=\"alert\" class=\"error\" id=\"vote-error\" data-code=\"{}\">Vote refused: {}</p>",
                e(err.code),
                e(&err.message)
            );
        }
    }
    // A review leads with the change and its gate report: what is decided.
    if let Some(ch) = change {
        out.push_str(&change_under_review(ch));
        out.push_str(&gate_report(ch, "gates"));
    }
    out.push_str("<section class=\"card\"><h2>Request</h2><dl class=\"facts\">");
    out.push_str(&summary_rows(a, now));
    let _ = write!(
        out,
        "<dt>Approval</dt><dd><code>{}</code></dd>\
         <dt>Request hash</dt><dd><code class=\"hash\">{}</code></dd>\
         <dt>Asked</dt><dd>{}</dd><dt>Expires</dt><dd>{}</dd>\
         <dt>Eligible groups</dt><dd>{}</dd><dt>Reason required</dt><dd>{}</dd></dl>",
        e(&a.id),
        e(&a.request_hash.0),
        e(&a.created_at.rfc3339()),
        e(&a.expires_at.rfc3339()),
        if a.requirement.groups.is_empty() {
            "any person".to_owned()
        } else {
            e(&a.requirement.groups.join(", ")).to_string()
        },
        if a.requirement.reason_required {
            "yes"
        } else {
            "no"
        },
    );
    // A review's details are the change's facts, shown above.
    if change.is_none() {
        out.push_str("<h3>Details</h3>");
        out.push_str(&context(&a.request.context));
    }
    out.push_str("</section>");

    out.push_str("<section class=\"card\"><h2 id=\"votes\">Votes</h2>");
    if a.votes.is_empty() {
        out.push_str("<p class=\"empty\">No votes yet.</p>");
    } else {
        out.push_str(
            "<table aria-labelledby=\"votes\"><thead><tr><th scope=\"col\">Who</th>\
             <th scope=\"col\">Vote</th><th scope=\"col\">Reason</th><th scope=\"col\">When</th>\
             <th scope=\"col\">Via</th></tr></thead><tbody>",
        );
        for v in &a.votes {
            let d = match v.decision {
                VoteDecision::Approve => "approve",
                VoteDecision::Deny => "deny",
            };
            let _ = write!(
                out,
                "<tr><td>{}</td><td><span class=\"badge vote-{d}\">{d}</span></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                e(&v.voter),
                e(v.reason.as_deref().unwrap_or("")),
                e(&v.at.rfc3339()),
                e(&v.via)
            );
        }
        out.push_str("</tbody></table>");
    }
    out.push_str("</section>");

    if state == ApprovalState::Pending {
        out.push_str(&decision_form(signed, a, reason, now));
    }
    out
}

/// The vote form, for someone who may vote; for anyone else, why not (and
/// no buttons). The governor checks again when a vote is cast.
fn decision_form(signed: &Signed, a: &Approval, reason: &str, now: Timestamp) -> String {
    // A placeholder reason: whether one is required is the form's business.
    if let Err(why) = check_vote(a, &signed.who, VoteDecision::Approve, Some("-"), now) {
        return format!(
            "<section class=\"card\"><h2>Your decision</h2>\
             <p class=\"help\" id=\"cannot-vote\">You cannot vote on this approval: {}.</p></section>",
            e(&why.to_string())
        );
    }
    format!(
        "<section class=\"card\"><h2>Your decision</h2>\
         <form method=\"post\" action=\"{}/vote\" class=\"vote\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <label for=\"reason\">Reason{}</label>\
         <textarea id=\"reason\" name=\"reason\" rows=\"3\" maxlength=\"2000\">{}</textarea>\
         <div class=\"buttons\">\
         <button type=\"submit\" name=\"decision\" value=\"approve\" id=\"approve\">Approve</button>\
         <button type=\"submit\" name=\"decision\" value=\"deny\" id=\"deny\" class=\"danger\">Deny</button>\
         </div></form></section>",
        e(&approval_href(&a.id)),
        e(&signed.session.csrf),
        if a.requirement.reason_required {
            " (required to approve)"
        } else {
            " (optional)"
        },
        e(reason),
    )
}

/// What a review approval is about: the change, linked, with its evidence.
fn change_under_review(ch: &Change) -> String {
    let short = ch.artifact_sha256.get(..12).unwrap_or(&ch.artifact_sha256);
    let mut out = format!(
        "<section class=\"card\"><h2 id=\"change\">Change under review</h2><dl class=\"facts\">\
         <dt>Change</dt><dd><a href=\"{href}\" id=\"change-link\"><code>{id}</code></a> {state}</dd>\
         <dt>What</dt><dd>{kind} <code>{subject}</code> version {version} → \
         <span class=\"badge env\">{env}</span></dd>\
         <dt>Artifact</dt><dd><code class=\"short\" title=\"sha256:{digest}\">sha256:{short}…</code></dd>\
         <dt>Author</dt><dd><strong>{author}</strong> ({akind})</dd>",
        href = e(&change_href(&ch.id)),
        id = e(&ch.id),
        state = change_badge(ch.state),
        kind = e(&ch.kind),
        subject = e(&ch.subject.to_string()),
        version = e(&ch.version),
        env = e(&ch.environment),
        digest = e(&ch.artifact_sha256),
        short = e(short),
        author = e(&ch.author.name),
        akind = e(ch.author.kind.as_str()),
    );
    if let Some(d) = &ch.description {
        let _ = write!(out, "<dt>Description</dt><dd>{}</dd>", e(d));
    }
    if !ch.evidence.metrics.is_empty() {
        out.push_str("<dt>Metrics</dt><dd><ul class=\"metrics\" id=\"review-metrics\">");
        for (k, v) in &ch.evidence.metrics {
            let _ = write!(out, "<li><code>{}</code> {}</li>", e(k), e(&v.to_string()));
        }
        out.push_str("</ul></dd>");
    }
    let _ = write!(
        out,
        "</dl><p class=\"help\">Evidence links, the deployment and, for a policy change, what it \
         would change: on <a href=\"{}\">the change's page</a>.</p></section>",
        e(&change_href(&ch.id))
    );
    out
}

/// The change a review approval is about; `None` for other approvals, or
/// when it cannot be read (the page still shows the approval).
async fn change_of(c: &Console, a: &Approval) -> Option<Change> {
    let id = a.change_id.as_deref()?;
    match c.app.governor.change(id).await {
        Ok(ch) => Some(ch),
        Err(err) => {
            tracing::warn!(approval = %a.id, change = %id, error = %err, "console: change of a review not read");
            None
        }
    }
}

async fn load(c: &Console, id: &str) -> Result<Approval, ApiError> {
    c.app
        .store
        .approval(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("approval `{id}`")))
}

pub async fn show(
    State(c): State<Console>,
    signed: Signed,
    Path(id): Path<String>,
    q: Result<Query<ShowQuery>, QueryRejection>,
) -> Response {
    let chrome = signed.chrome("approvals");
    let a = match load(&c, &id).await {
        Ok(a) => a,
        Err(err) => return error_page(Some(&chrome), &err),
    };
    let voted = q.ok().and_then(|Query(q)| q.voted);
    let notice = match voted.as_deref() {
        Some(d @ ("approve" | "deny")) => Notice::Voted(d),
        _ => Notice::None,
    };
    let change = change_of(&c, &a).await;
    let body = render(&signed, &a, change.as_ref(), notice, "");
    html(StatusCode::OK, page("Approval", Some(&chrome), &body))
}

#[derive(Debug, Deserialize)]
pub struct VoteForm {
    csrf: Option<String>,
    decision: Option<String>,
    reason: Option<String>,
}

pub async fn vote(
    State(c): State<Console>,
    signed: Signed,
    Path(id): Path<String>,
    f: Result<Form<VoteForm>, FormRejection>,
) -> Response {
    let Ok(Form(f)) = f else {
        return csrf_refused();
    };
    if !signed.session.csrf_matches(f.csrf.as_deref()) {
        return csrf_refused();
    }
    let chrome = signed.chrome("approvals");
    let decision = match f.decision.as_deref() {
        Some("approve") => VoteDecision::Approve,
        Some("deny") => VoteDecision::Deny,
        _ => {
            return error_page(
                Some(&chrome),
                &ApiError::bad_request("invalid_request", "choose approve or deny"),
            );
        }
    };
    let reason = f.reason.unwrap_or_default();
    let trimmed = reason.trim();
    let rid = countersign_server::current_request_id();
    let result = c
        .app
        .governor
        .vote(
            &signed.who,
            &id,
            VoteInput {
                decision,
                reason: (!trimmed.is_empty()).then(|| trimmed.to_owned()),
                via: "web".to_owned(),
            },
            rid.as_deref(),
        )
        .await;
    match result {
        Ok(a) => {
            tracing::info!(approval = %id, voter = %signed.who.name, state = a.state.as_str(), "vote cast from the console");
            let d = if decision == VoteDecision::Approve {
                "approve"
            } else {
                "deny"
            };
            see_other(&format!("{}?voted={d}", approval_href(&id)))
        }
        Err(err) => {
            let err = ApiError::from(err);
            tracing::info!(approval = %id, voter = %signed.who.name, code = err.code, "console vote refused");
            match load(&c, &id).await {
                Ok(a) => {
                    let change = change_of(&c, &a).await;
                    let body = render(&signed, &a, change.as_ref(), Notice::Refused(&err), &reason);
                    html(err.status, page("Approval", Some(&chrome), &body))
                }
                Err(_) => error_page(Some(&chrome), &err),
            }
        }
    }
}
