//! Server-side sessions, kept in memory: the browser holds only a random
//! 256-bit id in an HttpOnly cookie; the token it signed in with is never
//! stored (only its id, so a revoked or expired token ends the session).
//! Sessions do not survive a restart: people sign in again.

use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq as _;

/// One signed-in person.
#[derive(Debug, Clone)]
pub struct Session {
    pub principal: String,
    pub token_id: String,
    /// Per-session CSRF token, sent back with every form.
    pub csrf: String,
    created: Instant,
    last_seen: Instant,
}

impl Session {
    /// Constant-time comparison of a submitted CSRF token.
    pub fn csrf_matches(&self, presented: Option<&str>) -> bool {
        match presented {
            Some(p) => {
                p.len() == self.csrf.len() && bool::from(p.as_bytes().ct_eq(self.csrf.as_bytes()))
            }
            None => false,
        }
    }
}

/// Limits on sessions.
#[derive(Debug, Clone)]
pub struct SessionLimits {
    /// Ends a session unused for this long.
    pub idle: Duration,
    /// Ends every session this long after sign-in.
    pub absolute: Duration,
    /// Most sessions held at once (memory bound).
    pub max: usize,
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits {
            idle: Duration::from_secs(30 * 60),
            absolute: Duration::from_secs(12 * 3600),
            max: 10_000,
        }
    }
}

/// Why a session could not be created.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("too many open sessions; try again later")]
    Full,
    #[error("no randomness available: {0}")]
    Random(String),
}

#[derive(Debug, Default)]
pub struct Sessions {
    // Keyed by SHA-256 of the id: the table never holds the cookie value.
    inner: Mutex<HashMap<[u8; 32], Session>>,
    limits: SessionLimits,
}

/// 32 random bytes, hex: session ids and CSRF tokens.
pub fn random_token() -> Result<String, SessionError> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| SessionError::Random(e.to_string()))?;
    Ok(hex::encode(b))
}

fn key(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

impl Sessions {
    pub fn new(limits: SessionLimits) -> Self {
        Sessions {
            inner: Mutex::new(HashMap::new()),
            limits,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    fn live(&self, s: &Session, now: Instant) -> bool {
        now.duration_since(s.last_seen) < self.limits.idle
            && now.duration_since(s.created) < self.limits.absolute
    }

    /// Starts a session; returns its id (the cookie value) and the session.
    pub fn create(
        &self,
        principal: &str,
        token_id: &str,
    ) -> Result<(String, Session), SessionError> {
        let id = random_token()?;
        let now = Instant::now();
        let s = Session {
            principal: principal.to_owned(),
            token_id: token_id.to_owned(),
            csrf: random_token()?,
            created: now,
            last_seen: now,
        };
        let mut map = self.lock();
        if map.len() >= self.limits.max {
            map.retain(|_, v| self.live(v, now));
            if map.len() >= self.limits.max {
                return Err(SessionError::Full);
            }
        }
        map.insert(key(&id), s.clone());
        Ok((id, s))
    }

    /// The live session with this id, refreshing its idle timer.
    pub fn get(&self, id: &str) -> Option<Session> {
        if id.len() != 64 {
            return None;
        }
        let k = key(id);
        let now = Instant::now();
        let mut map = self.lock();
        let live = map.get(&k).map(|s| self.live(s, now))?;
        if !live {
            map.remove(&k);
            return None;
        }
        let s = map.get_mut(&k)?;
        s.last_seen = now;
        Some(s.clone())
    }

    pub fn remove(&self, id: &str) {
        self.lock().remove(&key(id));
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_when_idle_and_are_bounded() {
        let s = Sessions::new(SessionLimits {
            idle: Duration::from_millis(0),
            absolute: Duration::from_secs(60),
            max: 2,
        });
        let (id, _) = s.create("alice", "t1").unwrap();
        assert!(s.get(&id).is_none(), "idle limit 0 ends it at once");
        assert!(s.is_empty());

        let s = Sessions::new(SessionLimits {
            max: 1,
            ..SessionLimits::default()
        });
        let (id, sess) = s.create("alice", "t1").unwrap();
        assert_eq!(id.len(), 64);
        assert!(matches!(s.create("bob", "t2"), Err(SessionError::Full)));
        assert!(sess.csrf_matches(Some(&sess.csrf)));
        assert!(!sess.csrf_matches(Some("nope")));
        assert!(!sess.csrf_matches(None));
        s.remove(&id);
        assert!(s.get(&id).is_none());
    }
}
