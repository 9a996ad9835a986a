//! The `[console]` section of `countersign.toml`.

use crate::{ConsoleConfig, SessionLimits};
use serde::Deserialize;
use std::time::Duration;

/// As written; every field optional.
///
/// ```toml
/// [console]
/// enabled = true            # default: served beside the API
/// secure_cookies = true     # when reached over HTTPS (a TLS proxy in front)
/// session_idle_minutes = 30
/// session_max_hours = 12
/// ```
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleSection {
    pub enabled: Option<bool>,
    pub secure_cookies: Option<bool>,
    pub session_idle_minutes: Option<u64>,
    pub session_max_hours: Option<u64>,
}

impl ConsoleSection {
    /// The console's settings, or `None` when it is turned off.
    pub fn validate(self) -> Result<Option<ConsoleConfig>, String> {
        if self.enabled == Some(false) {
            return Ok(None);
        }
        let idle = self.session_idle_minutes.unwrap_or(30);
        if !(1..=24 * 60).contains(&idle) {
            return Err("session_idle_minutes must be between 1 and 1440".into());
        }
        let max = self.session_max_hours.unwrap_or(12);
        if !(1..=24 * 7).contains(&max) {
            return Err("session_max_hours must be between 1 and 168".into());
        }
        Ok(Some(ConsoleConfig {
            secure_cookies: self.secure_cookies.unwrap_or(false),
            sessions: SessionLimits {
                idle: Duration::from_secs(idle * 60),
                absolute: Duration::from_secs(max * 3600),
                ..SessionLimits::default()
            },
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_disable_and_bounds() {
        let c = ConsoleSection::default().validate().unwrap().unwrap();
        assert!(!c.secure_cookies);
        assert_eq!(c.sessions.idle, Duration::from_secs(1800));
        let off = ConsoleSection {
            enabled: Some(false),
            ..ConsoleSection::default()
        };
        assert!(off.validate().unwrap().is_none());
        let bad = ConsoleSection {
            session_idle_minutes: Some(0),
            ..ConsoleSection::default()
        };
        assert!(bad.validate().is_err());
    }
}
