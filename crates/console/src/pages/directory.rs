//! Read-only: the policy set in force (and whether the files on disk still
//! validate), principals with their owners and groups, and tokens without
//! their values.

use super::changes::change_href;
use crate::Console;
use crate::auth::Signed;
use crate::html::{e, page};
use crate::respond::html;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use countersign_core::Timestamp;
use countersign_server::policy_sets::in_force;
use std::fmt::Write as _;

pub async fn policies(State(c): State<Console>, signed: Signed) -> Response {
    let snap = c.app.governor.snapshot();
    let disk_hash = snap.policies.hash();
    // Validating the files on disk shows whether a reload would succeed.
    let on_disk = match (c.app.policy_loader)() {
        Ok(set) if set.hash() == disk_hash => {
            "<span class=\"badge verified\">valid</span> the files on disk are the set loaded from disk"
                .to_owned()
        }
        Ok(set) => format!(
            "<span class=\"badge pending\">valid, not loaded</span> the files on disk (hash <code class=\"hash\">{}</code>) differ from the set loaded; reload to apply",
            e(set.hash())
        ),
        Err(msg) => format!(
            "<span class=\"badge unverified\">invalid</span> the files on disk do not validate; the set loaded stays:<pre><code>{}</code></pre>",
            e(&msg)
        ),
    };
    // What each environment enforces: the set from disk, or the one an
    // approved `policy` change put there.
    let sets = in_force(&c.app.governor);
    let mut body = String::from(
        "<h1>Policies</h1><section class=\"card\"><h2 id=\"in-force\">In force</h2>\
         <div class=\"scroll\"><table class=\"in-force\" aria-labelledby=\"in-force\"><thead><tr>\
         <th scope=\"col\">Environment</th><th scope=\"col\">Policy set</th><th scope=\"col\">From</th>\
         <th scope=\"col\">Policies</th></tr></thead><tbody>",
    );
    for p in &sets {
        let from = match &p.change_id {
            Some(id) => format!(
                "policy change <a href=\"{}\"><code>{}</code></a>",
                e(&change_href(id)),
                e(id)
            ),
            None => "the directory on disk".to_owned(),
        };
        let _ = write!(
            body,
            "<tr data-env=\"{env}\"><td><span class=\"badge env\">{env}</span></td>\
             <td><code class=\"hash\">{hash}</code></td><td>{from}</td><td>{n}</td></tr>",
            env = e(&p.environment),
            hash = e(&p.hash),
            n = p.policies,
        );
    }
    let _ = write!(
        body,
        "</tbody></table></div><dl class=\"facts\">\
         <dt>Loaded from disk</dt><dd>hash <code class=\"hash\" id=\"policy-hash\">{}</code> \
         (in force where no policy change is live)</dd>\
         <dt>Files on disk</dt><dd>{on_disk}</dd></dl></section>",
        e(disk_hash),
    );
    let _ = write!(
        body,
        "<section class=\"card\"><h2>Policies loaded from disk</h2><ul>"
    );
    for id in snap.policies.policy_ids() {
        let _ = write!(body, "<li><code>{}</code></li>", e(id));
    }
    body.push_str("</ul><h2>Actions</h2><ul class=\"inline\">");
    for a in snap.policies.action_names() {
        let _ = write!(body, "<li><code>{}</code></li>", e(a.as_ref()));
    }
    body.push_str("</ul></section>");
    html(
        StatusCode::OK,
        page("Policies", Some(&signed.chrome("policies")), &body),
    )
}

pub async fn principals(State(c): State<Console>, signed: Signed) -> Response {
    let snap = c.app.governor.snapshot();
    let mut all: Vec<_> = snap.principals.values().collect();
    all.sort_by(|a, b| a.name.cmp(&b.name));
    let mut body = String::from(
        "<h1>Principals</h1><div class=\"scroll\"><table><caption>People, agents and services</caption>\
         <thead><tr><th scope=\"col\">Name</th><th scope=\"col\">Kind</th><th scope=\"col\">Owner</th>\
         <th scope=\"col\">Groups</th><th scope=\"col\">Status</th></tr></thead><tbody>",
    );
    for p in all {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            e(&p.name),
            e(p.kind.as_str()),
            e(p.owner.as_deref().unwrap_or("")),
            e(&p.groups.join(", ")),
            if p.disabled { "disabled" } else { "enabled" }
        );
    }
    body.push_str("</tbody></table></div>");
    // Like the API: administrators see every token, others their own.
    let now = Timestamp::now();
    let mut tokens: Vec<_> = snap
        .tokens
        .values()
        .filter(|t| signed.admin || t.principal == signed.who.name)
        .collect();
    tokens.sort_by(|a, b| {
        (a.principal.as_str(), a.created_at).cmp(&(b.principal.as_str(), b.created_at))
    });
    body.push_str(
        "<h2>Tokens</h2><p class=\"help\">Token values are shown once, when issued, and never here.</p>\
         <div class=\"scroll\"><table><caption>Tokens</caption><thead><tr><th scope=\"col\">Id</th>\
         <th scope=\"col\">Principal</th><th scope=\"col\">Label</th><th scope=\"col\">Created</th>\
         <th scope=\"col\">Expires</th><th scope=\"col\">Status</th></tr></thead><tbody>",
    );
    for t in tokens {
        let status = if t.revoked_at.is_some() {
            "revoked"
        } else if t.is_active(now) {
            "active"
        } else {
            "expired"
        };
        let _ = write!(
            body,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{status}</td></tr>",
            e(&t.id),
            e(&t.principal),
            e(t.label.as_deref().unwrap_or("")),
            e(&t.created_at.rfc3339()),
            e(&t.expires_at
                .map(|x| x.rfc3339())
                .unwrap_or_else(|| "never".into())),
        );
    }
    body.push_str("</tbody></table></div>");
    html(
        StatusCode::OK,
        page("Principals", Some(&signed.chrome("principals")), &body),
    )
}
