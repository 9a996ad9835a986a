//! Read-only: the policy set in force (and whether the files on disk still
//! validate), principals with their owners and groups, and tokens without
//! their values.

use crate::Console;
use crate::auth::Signed;
use crate::html::{e, page};
use crate::respond::html;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use countersign_core::Timestamp;
use std::fmt::Write as _;

pub async fn policies(State(c): State<Console>, signed: Signed) -> Response {
    let snap = c.app.governor.snapshot();
    let hash = snap.policies.hash();
    // Validating the files on disk shows whether a reload would succeed.
    let on_disk = match (c.app.policy_loader)() {
        Ok(set) if set.hash() == hash => {
            "<span class=\"badge verified\">valid</span> the files on disk are the set in force"
                .to_owned()
        }
        Ok(set) => format!(
            "<span class=\"badge pending\">valid, not loaded</span> the files on disk (hash <code class=\"hash\">{}</code>) differ from the set in force; reload to apply",
            e(set.hash())
        ),
        Err(msg) => format!(
            "<span class=\"badge unverified\">invalid</span> the files on disk do not validate; the set in force stays:<pre><code>{}</code></pre>",
            e(&msg)
        ),
    };
    let envs = c.app.governor.config().environments.join(", ");
    let mut body = format!(
        "<h1>Policies</h1><section class=\"card\"><dl class=\"facts\">\
         <dt>In force</dt><dd><span class=\"badge verified\">validated</span> hash <code class=\"hash\" id=\"policy-hash\">{}</code></dd>\
         <dt>Environments</dt><dd>{} (one policy set; rules name the environment)</dd>\
         <dt>Files on disk</dt><dd>{on_disk}</dd></dl></section>",
        e(hash),
        e(&envs),
    );
    body.push_str("<section class=\"card\"><h2>Policies</h2><ul>");
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
