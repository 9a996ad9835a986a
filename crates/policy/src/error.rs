//! The crate's errors: one for building things, one for asking questions.

use std::fmt;

/// One problem found in a schema, policy or cases file, with its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file name as given in [`crate::PolicySource::name`].
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub col: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.col, self.message
        )
    }
}

/// Lists diagnostics one per line, for error messages.
struct DiagnosticList<'a>(&'a [Diagnostic]);

impl fmt::Display for DiagnosticList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in self.0 {
            write!(f, "\n  {d}")?;
        }
        Ok(())
    }
}

/// An error compiling a policy set, building a directory or reading a cases
/// file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The schema or policies are invalid; nothing was compiled.
    #[error("invalid policy set ({} problem(s)):{}", diagnostics.len(), DiagnosticList(diagnostics))]
    Invalid {
        /// Every problem found, in file order.
        diagnostics: Vec<Diagnostic>,
    },
    /// A policy test cases file is malformed.
    #[error("invalid cases file:{}", DiagnosticList(diagnostics))]
    InvalidCases {
        /// Every problem found.
        diagnostics: Vec<Diagnostic>,
    },
    /// A directory entry is invalid (duplicate, an agent without owner, or
    /// not conforming to the schema).
    #[error("invalid directory: {0}")]
    Directory(String),
    /// Effective permissions could not be tabulated: nothing could be
    /// probed, so an empty table would misreport the set.
    #[error("could not probe effective permissions in `{environment}`: {message}")]
    Probe {
        /// The environment probed.
        environment: String,
        /// What went wrong.
        message: String,
    },
}

impl PolicyError {
    /// The diagnostics of an `Invalid` or `InvalidCases` error, else empty.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            Self::Invalid { diagnostics } | Self::InvalidCases { diagnostics } => diagnostics,
            Self::Directory(_) | Self::Probe { .. } => &[],
        }
    }
}

/// An error in a [`crate::Query`]: the request itself is malformed, so no
/// decision was made. Fronts map these to "bad request".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// The action is not declared in the schema.
    #[error("unknown action `{0}`")]
    UnknownAction(String),
    /// The principal or resource type is not declared in the schema.
    #[error("unknown entity type `{0}`")]
    UnknownEntityType(String),
    /// The principal or resource type is declared but the action does not
    /// apply to it.
    #[error("action `{action}` does not apply to {role} type `{kind}`")]
    NotApplicable {
        /// The action asked for.
        action: String,
        /// `principal` or `resource`.
        role: &'static str,
        /// The entity type given.
        kind: String,
    },
    /// The context does not match the action's context type.
    #[error("invalid context for `{action}`: {message}")]
    InvalidContext {
        /// The action asked for.
        action: String,
        /// Cedar's explanation.
        message: String,
    },
}
