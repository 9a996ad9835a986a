//! The five SQL action classes, ordered by severity: a statement (or a
//! multi-statement query) takes the most severe class of anything in it.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum SqlClass {
    /// Reads data or session state.
    #[default]
    Read,
    /// Changes rows (DML), sequences, large objects, notifications.
    Write,
    /// Copies data out in bulk (`COPY … TO`).
    Export,
    /// Changes schema objects.
    Ddl,
    /// Changes roles, privileges, server settings or files, or runs code
    /// the proxy cannot see into (`DO`).
    Admin,
}

impl SqlClass {
    /// The governor action for this class.
    pub fn action(self) -> &'static str {
        match self {
            SqlClass::Read => "sql.read",
            SqlClass::Write => "sql.write",
            SqlClass::Export => "sql.export",
            SqlClass::Ddl => "sql.ddl",
            SqlClass::Admin => "sql.admin",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SqlClass::Read => "read",
            SqlClass::Write => "write",
            SqlClass::Export => "export",
            SqlClass::Ddl => "ddl",
            SqlClass::Admin => "admin",
        }
    }
}

impl fmt::Display for SqlClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
