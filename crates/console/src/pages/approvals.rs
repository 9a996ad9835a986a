//! The approvals inbox: pending approvals the signed-in person may decide,
//! most urgent (closest to expiry) first, refreshed by the page's script
//! from `/ui/approvals/live` without a reload.

use super::render::{approval_href, context, summary};
use crate::Console;
use crate::auth::Signed;
use crate::html::{e, page};
use crate::respond::{error_page, html};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use countersign_core::approval::{Approval, check_vote};
use countersign_core::store::{ApprovalFilter, Store as _};
use countersign_core::{ApprovalState, Principal, Timestamp, VoteDecision};
use countersign_server::ApiError;
use std::fmt::Write as _;

/// Most pending approvals read for one inbox.
const MAX_PENDING: usize = 500;

struct Inbox {
    mine: Vec<Approval>,
    /// Pending, but not this person's to decide (and why not).
    others: Vec<(Approval, String)>,
}

async fn load(c: &Console, who: &Principal) -> Result<Inbox, ApiError> {
    let now = Timestamp::now();
    let mut list = c
        .app
        .store
        .approvals(&ApprovalFilter {
            state: Some(ApprovalState::Pending),
            requester: None,
            limit: MAX_PENDING,
        })
        .await?;
    list.retain(|a| a.effective_state(now) == ApprovalState::Pending);
    // Most urgent first; among equals, newest first.
    list.sort_by(|a, b| {
        a.expires_at
            .cmp(&b.expires_at)
            .then(b.created_at.cmp(&a.created_at))
    });
    let mut inbox = Inbox {
        mine: Vec::new(),
        others: Vec::new(),
    };
    for a in list {
        // The same rules the vote will face; a stand-in reason so that
        // "reason required" does not hide an approval (the form asks for it).
        match check_vote(&a, who, VoteDecision::Approve, Some("-"), now) {
            Ok(()) => inbox.mine.push(a),
            Err(why) => {
                let why = why.to_string();
                inbox.others.push((a, why));
            }
        }
    }
    Ok(inbox)
}

fn card(out: &mut String, a: &Approval, now: Timestamp, note: Option<&str>) {
    let r = &a.request;
    let _ = write!(
        out,
        "<li class=\"card approval\" data-approval=\"{id}\"><h3><a href=\"{href}\">\
         <code>{action}</code> on <code>{rid}</code> in {env}</a></h3>{summary}",
        id = e(&a.id),
        href = e(&approval_href(&a.id)),
        action = e(&r.action),
        rid = e(&r.resource.id),
        env = e(&r.environment),
        summary = summary(a, now),
    );
    if !r.context.is_empty() {
        let _ = write!(
            out,
            "<details><summary>Details</summary>{}</details>",
            context(&r.context)
        );
    }
    if let Some(n) = note {
        let _ = write!(out, "<p class=\"help\">Not yours to decide: {}</p>", e(n));
    }
    out.push_str("</li>");
}

fn render(inbox: &Inbox) -> String {
    let now = Timestamp::now();
    let mut out = format!(
        "<h2 id=\"mine\">Yours to decide <span class=\"count\">{}</span></h2>",
        inbox.mine.len()
    );
    if inbox.mine.is_empty() {
        out.push_str("<p class=\"empty\">Nothing is waiting for you.</p>");
    } else {
        out.push_str("<ul class=\"cards\" aria-labelledby=\"mine\">");
        for a in &inbox.mine {
            card(&mut out, a, now, None);
        }
        out.push_str("</ul>");
    }
    if !inbox.others.is_empty() {
        let _ = write!(
            out,
            "<h2 id=\"others\">Waiting on others <span class=\"count\">{}</span></h2>\
             <ul class=\"cards muted\" aria-labelledby=\"others\">",
            inbox.others.len()
        );
        for (a, why) in &inbox.others {
            card(&mut out, a, now, Some(why));
        }
        out.push_str("</ul>");
    }
    out
}

pub async fn inbox(State(c): State<Console>, signed: Signed) -> Response {
    let chrome = signed.chrome("approvals");
    let inbox = match load(&c, &signed.who).await {
        Ok(i) => i,
        Err(err) => return error_page(Some(&chrome), &err),
    };
    let body = format!(
        "<h1>Approvals</h1>\
         <p class=\"help\">Updates by itself; the most urgent first.</p>\
         <div id=\"inbox\" data-live=\"/ui/approvals/live\" aria-live=\"polite\">{}</div>",
        render(&inbox)
    );
    html(StatusCode::OK, page("Approvals", Some(&chrome), &body))
}

/// The inbox's list alone, for the script to swap in.
pub async fn inbox_fragment(State(c): State<Console>, signed: Signed) -> Response {
    match load(&c, &signed.who).await {
        Ok(i) => html(StatusCode::OK, render(&i)),
        Err(err) => html(
            err.status,
            format!("<p class=\"error\">{}</p>", e(&err.message)),
        ),
    }
}
