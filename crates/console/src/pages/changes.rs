//! Changes and inventory: what is running where and who let it in, then the
//! recent changes (newest first), filtered by state and environment. Read
//! only: reviews are approvals and are voted on the approval pages.

use crate::Console;
use crate::auth::Signed;
use crate::html::{e, page, url_component};
use crate::respond::html;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use countersign_core::change::{Change, ChangeFilter, ChangeState, InventoryItem};
use countersign_server::ApiError;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Changes listed on one page: the newest this many.
const RECENT: usize = 100;

/// Every state, in lifecycle order: the filter's choices and the words
/// of its refusal.
const STATES: [ChangeState; 9] = [
    ChangeState::ChecksFailed,
    ChangeState::AwaitingReview,
    ChangeState::Approved,
    ChangeState::Rejected,
    ChangeState::Expired,
    ChangeState::Cancelled,
    ChangeState::Superseded,
    ChangeState::Deployed,
    ChangeState::RolledBack,
];

/// Longest filter value quoted back in a refusal.
const MAX_QUOTED: usize = 80;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangesQuery {
    state: Option<String>,
    environment: Option<String>,
}

/// The filters, validated.
#[derive(Debug, Default)]
struct Filters {
    state: Option<ChangeState>,
    environment: Option<String>,
}

fn quoted(s: &str) -> &str {
    let mut end = s.len().min(MAX_QUOTED);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn trimmed(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl ChangesQuery {
    /// Known values only: an unknown state or environment would otherwise
    /// show an empty list that reads as "nothing happened".
    fn validate(&self, environments: &[String]) -> Result<Filters, ApiError> {
        let state = match trimmed(&self.state) {
            None | Some("all") => None,
            Some(s) => Some(ChangeState::parse(s).ok_or_else(|| {
                let known: Vec<&str> = STATES.iter().map(|s| s.as_str()).collect();
                ApiError::bad_request(
                    "invalid_query",
                    format!(
                        "unknown state `{}`: use {} or all",
                        quoted(s),
                        known.join(", ")
                    ),
                )
            })?),
        };
        let environment = match trimmed(&self.environment) {
            None | Some("all") => None,
            Some(env) if environments.iter().any(|e| e == env) => Some(env.to_owned()),
            Some(env) => {
                return Err(ApiError::bad_request(
                    "invalid_query",
                    format!(
                        "unknown environment `{}`: use {} or all",
                        quoted(env),
                        environments.join(", ")
                    ),
                ));
            }
        };
        Ok(Filters { state, environment })
    }
}

pub fn change_href(id: &str) -> String {
    format!("/ui/changes/{}", url_component(id))
}

pub fn change_badge(state: ChangeState) -> String {
    super::render::badge(state.as_str())
}

/// The first 12 hex digits: enough to tell artifacts apart at a glance;
/// the change page shows the whole digest.
pub fn short_digest(hex: &str) -> &str {
    hex.get(..12).unwrap_or(hex)
}

/// Metrics as `name value` pairs on one line.
pub fn metrics_inline(m: &BTreeMap<String, f64>) -> String {
    if m.is_empty() {
        return "<span class=\"empty\">none</span>".to_owned();
    }
    let mut out = String::from("<ul class=\"metrics\">");
    for (k, v) in m {
        let _ = write!(out, "<li><code>{}</code> {}</li>", e(k), e(&v.to_string()));
    }
    out.push_str("</ul>");
    out
}

fn select(
    label: &str,
    name: &str,
    current: Option<&str>,
    choices: &[&str],
    all_label: &str,
) -> String {
    let mut out = format!(
        "<div class=\"field\"><label for=\"f-{name}\">{label}</label><select id=\"f-{name}\" name=\"{name}\">\
         <option value=\"\">{all_label}</option>"
    );
    for c in choices {
        let sel = if current == Some(*c) { " selected" } else { "" };
        let _ = write!(out, "<option value=\"{0}\"{sel}>{0}</option>", e(c));
    }
    out.push_str("</select></div>");
    out
}

/// The filter form. A GET form changes nothing, so it needs no CSRF token;
/// it only offers known values.
fn filter_form(f: &Filters, environments: &[String]) -> String {
    let states: Vec<&str> = STATES.iter().map(|s| s.as_str()).collect();
    let envs: Vec<&str> = environments.iter().map(String::as_str).collect();
    format!(
        "<form method=\"get\" action=\"/ui/changes\" class=\"card filters\" role=\"search\">{}{}\
         <div class=\"buttons\"><button type=\"submit\">Filter</button> <a href=\"/ui/changes\">Clear</a></div></form>",
        select(
            "State",
            "state",
            f.state.map(ChangeState::as_str),
            &states,
            "any state"
        ),
        select(
            "Environment",
            "environment",
            f.environment.as_deref(),
            &envs,
            "every environment"
        ),
    )
}

fn inventory_table(items: &[InventoryItem], env: Option<&str>) -> String {
    let mut out = String::from("<section class=\"card\"><h2 id=\"inventory\">Inventory</h2>");
    let _ = write!(
        out,
        "<p class=\"help\">What is running where, and who let it in: the deployed change of each \
         subject in {}.</p>",
        match env {
            Some(env) => format!("<strong>{}</strong>", e(env)),
            None => "each environment".to_owned(),
        }
    );
    if items.is_empty() {
        out.push_str("<p class=\"empty\">Nothing deployed through a change yet.</p></section>");
        return out;
    }
    out.push_str(
        "<div class=\"scroll\"><table class=\"inventory\" aria-labelledby=\"inventory\"><thead><tr>\
         <th scope=\"col\">Environment</th><th scope=\"col\">Subject</th><th scope=\"col\">Version</th>\
         <th scope=\"col\">Artifact</th><th scope=\"col\">Since</th><th scope=\"col\">Author</th>\
         <th scope=\"col\">Approved by</th><th scope=\"col\">Metrics</th></tr></thead><tbody>",
    );
    for i in items {
        let approvers = if i.approved_by.is_empty() {
            "<span class=\"empty\">no review required</span>".to_owned()
        } else {
            e(&i.approved_by.join(", ")).to_string()
        };
        let _ = write!(
            out,
            "<tr data-change=\"{id}\"><td><span class=\"badge env\">{env}</span></td>\
             <td>{kind} <code>{subject}</code></td><td><a href=\"{href}\">{version}</a></td>\
             <td><code class=\"short\" title=\"sha256:{digest}\">{short}</code></td>\
             <td><time>{since}</time></td><td>{author}</td><td>{approvers}</td><td>{metrics}</td></tr>",
            id = e(&i.change_id),
            env = e(&i.environment),
            kind = e(&i.kind),
            subject = e(&i.subject.to_string()),
            href = e(&change_href(&i.change_id)),
            version = e(&i.version),
            digest = e(&i.artifact_sha256),
            short = e(short_digest(&i.artifact_sha256)),
            since = e(&i.since.rfc3339()),
            author = e(&i.author),
            metrics = metrics_inline(&i.metrics),
        );
    }
    out.push_str("</tbody></table></div></section>");
    out
}

fn changes_table(list: &[Change]) -> String {
    let mut out = String::from("<section class=\"card\"><h2 id=\"recent\">Recent changes</h2>");
    if list.is_empty() {
        out.push_str("<p class=\"empty\">No changes match.</p></section>");
        return out;
    }
    if list.len() == RECENT {
        let _ = write!(
            out,
            "<p class=\"help\">The newest {RECENT} shown; filter to see older ones.</p>"
        );
    }
    out.push_str(
        "<div class=\"scroll\"><table class=\"changes\" aria-labelledby=\"recent\"><thead><tr>\
         <th scope=\"col\">Submitted</th><th scope=\"col\">Change</th><th scope=\"col\">Subject</th>\
         <th scope=\"col\">Version</th><th scope=\"col\">Environment</th><th scope=\"col\">State</th>\
         <th scope=\"col\">Author</th><th scope=\"col\">Failed gates</th></tr></thead><tbody>",
    );
    for c in list {
        let failed = c.failed_gates().count();
        let failed = if failed == 0 {
            "0".to_owned()
        } else {
            format!("<span class=\"badge gate-fail\">{failed}</span>")
        };
        let _ = write!(
            out,
            "<tr data-change=\"{id}\"><td><time>{at}</time></td><td><a href=\"{href}\"><code class=\"hash\">{id}</code></a></td>\
             <td>{kind} <code>{subject}</code></td><td>{version}</td>\
             <td><span class=\"badge env\">{env}</span></td><td>{state}</td><td>{author}</td><td>{failed}</td></tr>",
            id = e(&c.id),
            at = e(&c.created_at.rfc3339()),
            href = e(&change_href(&c.id)),
            kind = e(&c.kind),
            subject = e(&c.subject.to_string()),
            version = e(&c.version),
            env = e(&c.environment),
            state = change_badge(c.state),
            author = e(&c.author.name),
        );
    }
    out.push_str("</tbody></table></div></section>");
    out
}

async fn body(c: &Console, f: &Filters, environments: &[String]) -> Result<String, ApiError> {
    let env = f.environment.as_deref();
    let inventory = c.app.governor.inventory(env).await?;
    let recent = c
        .app
        .governor
        .changes(&ChangeFilter {
            state: f.state,
            environment: f.environment.clone(),
            limit: RECENT,
            ..ChangeFilter::default()
        })
        .await?;
    Ok(format!(
        "<h1>Changes and inventory</h1>{}{}{}",
        filter_form(f, environments),
        inventory_table(&inventory, env),
        changes_table(&recent)
    ))
}

pub async fn list(
    State(c): State<Console>,
    signed: Signed,
    q: Result<Query<ChangesQuery>, QueryRejection>,
) -> Response {
    let chrome = signed.chrome("changes");
    let environments = c.app.governor.config().environments.clone();
    let filters = q
        .map_err(|rej| ApiError::bad_request("invalid_query", rej.body_text()))
        .and_then(|Query(q)| q.validate(&environments));
    let result = match filters {
        Ok(f) => body(&c, &f, &environments).await,
        Err(err) => Err(err),
    };
    match result {
        Ok(body) => html(StatusCode::OK, page("Changes", Some(&chrome), &body)),
        Err(err) => {
            // The form again (with no filter selected), and why: the refused
            // value is quoted only inside the escaped message.
            let body = format!(
                "<h1>Changes and inventory</h1>{}<p role=\"alert\" class=\"error\" id=\"filter-error\" \
                 data-code=\"{}\">{}</p>",
                filter_form(&Filters::default(), &environments),
                e(err.code),
                e(&err.message)
            );
            html(err.status, page("Changes", Some(&chrome), &body))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envs() -> Vec<String> {
        vec!["dev".into(), "staging".into(), "prod".into()]
    }

    fn q(state: Option<&str>, environment: Option<&str>) -> ChangesQuery {
        ChangesQuery {
            state: state.map(str::to_owned),
            environment: environment.map(str::to_owned),
        }
    }

    #[test]
    fn known_filters_are_accepted_and_empty_or_all_means_none() {
        let f = q(Some("awaiting_review"), Some("prod"))
            .validate(&envs())
            .ok();
        let f = f.as_ref();
        assert_eq!(f.and_then(|f| f.state), Some(ChangeState::AwaitingReview));
        assert_eq!(f.and_then(|f| f.environment.as_deref()), Some("prod"));
        for (s, env) in [
            (Some(""), Some(" ")),
            (Some("all"), Some("all")),
            (None, None),
        ] {
            let f = q(s, env).validate(&envs());
            assert!(
                f.as_ref()
                    .is_ok_and(|f| f.state.is_none() && f.environment.is_none()),
                "{s:?} {env:?}: {f:?}"
            );
        }
    }

    #[test]
    fn unknown_filters_are_refused_naming_the_choices() {
        let err = q(Some("deployed!"), None).validate(&envs()).err();
        let msg = err.map(|e| (e.status, e.message));
        assert_eq!(
            msg,
            Some((
                StatusCode::BAD_REQUEST,
                "unknown state `deployed!`: use checks_failed, awaiting_review, approved, \
                 rejected, expired, cancelled, superseded, deployed, rolled_back or all"
                    .to_owned()
            ))
        );
        let err = q(None, Some("qa")).validate(&envs()).err();
        assert_eq!(
            err.map(|e| e.message),
            Some("unknown environment `qa`: use dev, staging, prod or all".to_owned())
        );
    }

    #[test]
    fn a_long_refused_value_is_quoted_cut_short() {
        let long = "é".repeat(100);
        let err = q(Some(&long), None).validate(&envs()).err();
        let msg = err.map(|e| e.message).unwrap_or_default();
        assert!(msg.starts_with(&format!("unknown state `{}`", "é".repeat(40))));
        assert!(msg.len() < 300, "{msg}");
    }

    #[test]
    fn digests_are_shortened_without_panicking() {
        assert_eq!(short_digest(&"ab".repeat(32)), "abababababab");
        assert_eq!(short_digest("abc"), "abc");
        assert_eq!(short_digest("ééééééé"), "éééééé");
    }
}
