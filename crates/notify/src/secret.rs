//! Secrets named by configuration (an environment variable or a file),
//! held so that `Debug` and logs never show them.

use crate::error::ConfigError;
use std::path::Path;
use std::sync::Arc;

/// Largest secret file read.
const MAX_SECRET_FILE: u64 = 64 * 1024;

/// A secret value. `Debug` prints `Secret(***)`.
#[derive(Clone)]
pub struct Secret(Arc<str>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl Secret {
    pub fn new(v: impl Into<Arc<str>>) -> Self {
        Secret(v.into())
    }

    /// The value itself, for signing and authorization headers only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Where a secret comes from.
#[derive(Debug)]
pub struct SecretRef {
    env: Option<String>,
    file: Option<String>,
}

impl SecretRef {
    pub fn new(env: Option<String>, file: Option<String>) -> Self {
        SecretRef { env, file }
    }

    pub fn resolve(self, what: &str, data_dir: &Path) -> Result<Secret, ConfigError> {
        let v = match (self.env, self.file) {
            (Some(var), None) => std::env::var(&var).map_err(|_| {
                ConfigError(format!("{what}: environment variable `{var}` is not set"))
            })?,
            (None, Some(file)) => {
                let p = Path::new(&file);
                let p = if p.is_absolute() {
                    p.to_owned()
                } else {
                    data_dir.join(p)
                };
                let meta = std::fs::metadata(&p).map_err(|e| {
                    ConfigError(format!("{what}: cannot read `{}`: {e}", p.display()))
                })?;
                if meta.len() > MAX_SECRET_FILE {
                    return Err(ConfigError(format!(
                        "{what}: `{}` is larger than {MAX_SECRET_FILE} bytes",
                        p.display()
                    )));
                }
                std::fs::read_to_string(&p).map_err(|e| {
                    ConfigError(format!("{what}: cannot read `{}`: {e}", p.display()))
                })?
            }
            (Some(_), Some(_)) => {
                return Err(ConfigError(format!(
                    "{what}: give either an environment variable or a file, not both"
                )));
            }
            (None, None) => {
                return Err(ConfigError(format!(
                    "{what}: missing (set `*_env` or `*_file`)"
                )));
            }
        };
        let v = v.trim();
        if v.is_empty() {
            return Err(ConfigError(format!("{what} is empty")));
        }
        Ok(Secret::new(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let s = Secret::new("xoxb-very-secret");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(s.expose(), "xoxb-very-secret");
    }

    #[test]
    fn both_or_neither_source_is_refused() {
        let d = Path::new("/");
        assert!(SecretRef::new(None, None).resolve("x", d).is_err());
        assert!(
            SecretRef::new(Some("A".into()), Some("b".into()))
                .resolve("x", d)
                .is_err()
        );
        let e = SecretRef::new(Some("COUNTERSIGN_NOTIFY_SURELY_UNSET".into()), None)
            .resolve("x", d)
            .unwrap_err();
        assert!(e.0.contains("COUNTERSIGN_NOTIFY_SURELY_UNSET"));
    }
}
