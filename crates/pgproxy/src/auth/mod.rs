//! Authenticating clients as Countersign principals: the user name is the
//! principal, the password a Countersign token. Over TLS the token is
//! sent in cleartext (inside the encrypted channel) and checked by the
//! governor; without TLS only SCRAM-SHA-256 is offered (see [`scram`]).

pub mod scram;

use scram::Verifier;
use std::collections::HashMap;
use std::sync::Mutex;

/// SCRAM verifiers of tokens that principals presented over TLS.
#[derive(Debug, Default)]
pub struct VerifierCache {
    by_user: Mutex<HashMap<String, Verifier>>,
}

impl VerifierCache {
    pub fn get(&self, user: &str) -> Option<Verifier> {
        self.by_user.lock().ok()?.get(user).cloned()
    }

    pub fn has_token(&self, user: &str, token_id: &str) -> bool {
        self.get(user).is_some_and(|v| v.token_id == token_id)
    }

    pub fn put(&self, user: &str, v: Verifier) {
        if let Ok(mut m) = self.by_user.lock() {
            m.insert(user.to_owned(), v);
        }
    }

    pub fn remove(&self, user: &str) {
        if let Ok(mut m) = self.by_user.lock() {
            m.remove(user);
        }
    }
}

/// The id part of a token (`cs_<id>_<secret>`), if it has that shape.
pub fn token_id(token: &str) -> Option<&str> {
    countersign_core::token::parse(token).map(|(id, _)| id)
}
