//! Sign-in with a Countersign token, and sign-out.
//!
//! The sign-in form has its own CSRF defence (a random value in a
//! SameSite=Strict cookie that the form must echo), so another site cannot
//! sign a browser in under someone else's token.

use crate::Console;
use crate::auth::{LOGIN_COOKIE, SESSION_COOKIE, Signed, cookie, secure, set_cookie};
use crate::html::{e, page};
use crate::respond::{csrf_refused, html, see_other};
use crate::session::random_token;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use subtle::ConstantTimeEq as _;

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

/// Only console paths, so the sign-in form cannot be turned into an open redirect.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n)
            if n.starts_with("/ui/")
                && n.len() <= 200
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"/_-.".contains(&b)) =>
        {
            n
        }
        _ => "/ui/approvals",
    }
}

fn login_page(
    c: &Console,
    headers: &HeaderMap,
    next: &str,
    status: StatusCode,
    message: Option<&str>,
) -> Response {
    let nonce = match random_token() {
        Ok(n) => n,
        Err(err) => {
            tracing::error!(error = %err, "cannot draw a sign-in nonce");
            return html(
                StatusCode::SERVICE_UNAVAILABLE,
                page(
                    "Unavailable",
                    None,
                    "<h1>Unavailable</h1><p>Try again shortly.</p>",
                ),
            );
        }
    };
    let alert = message
        .map(|m| format!("<p role=\"alert\" class=\"error\">{}</p>", e(m)))
        .unwrap_or_default();
    let body = format!(
        "<h1>Sign in</h1>{alert}\
         <form method=\"post\" action=\"/ui/login\" class=\"card login\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <input type=\"hidden\" name=\"next\" value=\"{}\">\
         <label for=\"token\">Your Countersign token</label>\
         <input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"off\" required \
          spellcheck=\"false\" autofocus aria-describedby=\"token-help\">\
         <p id=\"token-help\" class=\"help\">The token starts with <code>cs_</code>. It is \
         checked once and never stored in your browser.</p>\
         <button type=\"submit\">Sign in</button></form>",
        e(&nonce),
        e(next)
    );
    let mut resp = html(status, page("Sign in", None, &body));
    if let Ok(v) = set_cookie(LOGIN_COOKIE, &nonce, secure(c, headers), Some(900)).parse() {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

pub async fn form(
    State(c): State<Console>,
    headers: HeaderMap,
    q: Result<Query<LoginQuery>, QueryRejection>,
) -> Response {
    let next = q.ok().and_then(|Query(q)| q.next);
    login_page(
        &c,
        &headers,
        safe_next(next.as_deref()),
        StatusCode::OK,
        None,
    )
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    csrf: Option<String>,
    token: Option<String>,
    next: Option<String>,
}

pub async fn submit(
    State(c): State<Console>,
    headers: HeaderMap,
    f: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    let Ok(Form(f)) = f else {
        return csrf_refused();
    };
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or("");
    let presented = f.csrf.as_deref().unwrap_or("");
    if expected.len() != 64
        || presented.len() != expected.len()
        || !bool::from(presented.as_bytes().ct_eq(expected.as_bytes()))
    {
        return csrf_refused();
    }
    let next = safe_next(f.next.as_deref()).to_owned();
    let token = f.token.as_deref().map(str::trim).unwrap_or("");
    let who = match c.app.governor.authenticate(token) {
        Ok(p) => p,
        Err(failure) => {
            tracing::warn!(reason = %failure, "console sign-in failed");
            let rid = countersign_server::current_request_id();
            let presented = (!token.is_empty()).then_some(token);
            if let Err(err) = c
                .app
                .governor
                .audit_auth_failure(failure, presented, "console", rid.as_deref())
                .await
            {
                tracing::error!(error = %err, "cannot audit failed console sign-in");
            }
            return login_page(
                &c,
                &headers,
                &next,
                StatusCode::UNAUTHORIZED,
                Some("Sign-in failed: that token was not accepted."),
            );
        }
    };
    if !who.kind.is_human() {
        return login_page(
            &c,
            &headers,
            &next,
            StatusCode::FORBIDDEN,
            Some("The console is for people: agents and services use the API."),
        );
    }
    let Some((token_id, _)) = countersign_core::token::parse(token) else {
        return login_page(
            &c,
            &headers,
            &next,
            StatusCode::UNAUTHORIZED,
            Some("Sign-in failed."),
        );
    };
    let (sid, _) = match c.sessions.create(&who.name, token_id) {
        Ok(s) => s,
        Err(err) => {
            tracing::warn!(error = %err, "console sign-in refused");
            return login_page(
                &c,
                &headers,
                &next,
                StatusCode::SERVICE_UNAVAILABLE,
                Some(&err.to_string()),
            );
        }
    };
    tracing::info!(principal = %who.name, "console sign-in");
    let sec = secure(&c, &headers);
    let mut resp = see_other(&next);
    for v in [
        set_cookie(SESSION_COOKIE, &sid, sec, None),
        set_cookie(LOGIN_COOKIE, "", sec, Some(0)),
    ] {
        if let Ok(v) = v.parse() {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    resp
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    csrf: Option<String>,
}

pub async fn logout(
    State(c): State<Console>,
    signed: Signed,
    headers: HeaderMap,
    f: Result<Form<CsrfForm>, FormRejection>,
) -> Response {
    let presented = f.ok().and_then(|Form(f)| f.csrf);
    if !signed.session.csrf_matches(presented.as_deref()) {
        return csrf_refused();
    }
    if let Some(id) = cookie(&headers, SESSION_COOKIE) {
        c.sessions.remove(id);
    }
    tracing::info!(principal = %signed.who.name, "console sign-out");
    let mut resp = see_other("/ui/login");
    if let Ok(v) = set_cookie(SESSION_COOKIE, "", secure(&c, &headers), Some(0)).parse() {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp.into_response()
}
