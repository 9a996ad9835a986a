//! The signed-in person: a session cookie resolved to a session, then to the
//! principal as the directory has it *now* (a disabled person or a revoked
//! or expired token ends the session on the next request).

use crate::Console;
use crate::html::Chrome;
use crate::respond::see_other;
use crate::session::Session;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use countersign_core::{Principal, Timestamp};

pub const SESSION_COOKIE: &str = "cs_session";
pub const LOGIN_COOKIE: &str = "cs_login";

/// A value of the request's `Cookie` header(s).
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Whether cookies set on this response should be `Secure`.
pub fn secure(c: &Console, headers: &HeaderMap) -> bool {
    c.config.secure_cookies
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, path `/`, `Secure` when
/// served over HTTPS. `max_age` 0 deletes it; `None` makes a browser-session cookie.
pub fn set_cookie(name: &str, value: &str, secure: bool, max_age: Option<u64>) -> String {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict");
    if let Some(a) = max_age {
        c.push_str(&format!("; Max-Age={a}"));
    }
    if secure {
        c.push_str("; Secure");
    }
    c
}

/// A signed-in request.
#[derive(Debug, Clone)]
pub struct Signed {
    pub who: Principal,
    pub session: Session,
    pub admin: bool,
}

impl Signed {
    pub fn chrome<'a>(&'a self, active: &'a str) -> Chrome<'a> {
        Chrome {
            who: &self.who.name,
            csrf: &self.session.csrf,
            active,
        }
    }
}

/// Not signed in: pages send the browser to the sign-in form (coming back
/// afterwards); the live endpoints answer 401 for the script to handle.
#[derive(Debug)]
pub struct NotSignedIn {
    path: String,
    wants_page: bool,
}

impl IntoResponse for NotSignedIn {
    fn into_response(self) -> Response {
        if self.wants_page {
            let next = crate::html::url_component(&self.path);
            see_other(&format!("/ui/login?next={next}"))
        } else {
            (StatusCode::UNAUTHORIZED, "sign in again").into_response()
        }
    }
}

impl FromRequestParts<Console> for Signed {
    type Rejection = NotSignedIn;

    async fn from_request_parts(parts: &mut Parts, c: &Console) -> Result<Self, NotSignedIn> {
        let path = parts.uri.path().to_owned();
        let reject = NotSignedIn {
            wants_page: parts.method == axum::http::Method::GET
                && !path.ends_with("/live")
                && !path.ends_with(".jsonl"),
            path,
        };
        let Some(id) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(reject);
        };
        let Some(session) = c.sessions.get(id) else {
            return Err(reject);
        };
        let snap = c.app.governor.snapshot();
        let token_ok = snap
            .tokens
            .get(&session.token_id)
            .is_some_and(|t| t.principal == session.principal && t.is_active(Timestamp::now()));
        let who = snap
            .principals
            .get(&session.principal)
            .filter(|p| token_ok && !p.disabled && p.kind.is_human())
            .cloned();
        match who {
            Some(who) => {
                let admin = c.app.governor.is_admin(&who);
                Ok(Signed {
                    who,
                    session,
                    admin,
                })
            }
            None => {
                tracing::info!(principal = %session.principal, "console session ended: token or principal no longer valid");
                c.sessions.remove(id);
                Err(reject)
            }
        }
    }
}
