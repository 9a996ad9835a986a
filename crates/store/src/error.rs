use thiserror::Error;

/// Why the store could not be opened.
#[derive(Debug, Error)]
pub enum OpenError {
    #[error("cannot open database `{path}`: {source}")]
    Sqlite {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("database `{path}` has schema version {found}; this build knows {known}")]
    SchemaVersion {
        path: String,
        found: i64,
        known: i64,
    },
    #[error("audit log in `{path}` is inconsistent: {message}")]
    Log { path: String, message: String },
    #[error("cannot start the store writer: {0}")]
    Thread(std::io::Error),
}
