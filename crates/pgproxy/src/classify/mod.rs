//! Statement classification with the server's own grammar (`pg_query`,
//! libpg_query). Two steps:
//!
//! 1. [`facts`]: what the text says — parsed, the whole tree walked
//!    ([`walk`]). Pure; cacheable by statement text.
//! 2. [`resolve`]: what it means in this session — prepared statements
//!    and cursors it refers to, functions looked up in the upstream
//!    catalog, unqualified tables qualified with the search path.
//!
//! Text that does not parse is an error: the session refuses it.

mod cache;
mod class;
mod functions;
mod walk;

pub use cache::FactsCache;
pub use class::SqlClass;
pub use functions::{FunctionCatalog, FunctionKind, FunctionOracle, builtin_effect};

use std::collections::BTreeSet;
use std::sync::Arc;

/// A relation or function name as written: optional schema, name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Relation {
    pub schema: Option<String>,
    pub name: String,
}

/// How the server will lex the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ParseOptions {
    /// `standard_conforming_strings`, as the server last reported it.
    pub standard_conforming_strings: bool,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            standard_conforming_strings: true,
        }
    }
}

/// Why a statement cannot be classified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClassifyError {
    #[error("statement does not parse: {0}")]
    Parse(String),
    #[error("statement cannot be analysed: {0}")]
    Analyse(String),
}

/// What a statement's text says, before session facts are applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    pub class: SqlClass,
    pub flags: BTreeSet<&'static str>,
    pub relations: BTreeSet<Relation>,
    pub functions: BTreeSet<Relation>,
    /// Names of CTEs (not tables).
    pub ctes: BTreeSet<String>,
    /// Relation names and aliases (a one-field column reference naming one
    /// of them is a whole-row reference).
    pub names: BTreeSet<String>,
    /// Column names referenced anywhere.
    pub columns: BTreeSet<String>,
    /// One-field column references.
    pub single_refs: BTreeSet<String>,
    /// A `*` appears.
    pub star: bool,
    pub statements: usize,
    /// `PREPARE name AS body`.
    pub prepares: Vec<(String, Arc<Facts>)>,
    /// `EXECUTE name`.
    pub executes: Vec<String>,
    /// `DEALLOCATE name` (`None`: `ALL`).
    pub deallocates: Vec<Option<String>>,
    /// `DISCARD …`.
    pub discards: bool,
    /// `DECLARE name CURSOR FOR body`.
    pub cursors: Vec<(String, Arc<Facts>)>,
    /// `FETCH`/`MOVE`/`CLOSE` of a cursor.
    pub fetches: Vec<String>,
    /// `SET search_path`.
    pub search_path: Option<Vec<String>>,
    /// Depends on constants (settings, COPY targets): not cached.
    pub uncacheable: bool,
}

impl Facts {
    pub(crate) fn raise(&mut self, c: SqlClass) {
        self.class = self.class.max(c);
    }

    pub(crate) fn flag(&mut self, f: &'static str) {
        self.flags.insert(f);
    }

    pub(crate) fn uncacheable(&mut self) {
        self.uncacheable = true;
    }
}

/// Parses `sql` and walks its whole tree.
pub fn facts(sql: &str, opts: ParseOptions) -> Result<Facts, ClassifyError> {
    let mut options = pg_query::ParserOptions::DEFAULT;
    if !opts.standard_conforming_strings {
        options |= pg_query::ParserOptions::DISABLE_STANDARD_CONFORMING_STRINGS;
    }
    // libpg_query's Rust wrapper asserts on tree shapes while building its
    // summaries; a failed assertion must refuse the statement, not end
    // the process.
    let parsed = std::panic::catch_unwind(|| pg_query::parse(sql, options))
        .map_err(|_| ClassifyError::Analyse("the parser failed".into()))?
        .map_err(|e| ClassifyError::Parse(e.to_string()))?;
    let tree = serde_json::to_value(&parsed.protobuf)
        .map_err(|e| ClassifyError::Analyse(e.to_string()))?;
    let mut f = Facts {
        statements: parsed.protobuf.stmts.len(),
        ..Facts::default()
    };
    walk::walk(&tree, &mut f);
    let ctes = f.ctes.clone();
    f.relations
        .retain(|r| r.schema.is_some() || !ctes.contains(&r.name));
    if f.statements > 1 {
        f.flag("multi_statement");
    }
    Ok(f)
}

/// Session facts a statement can refer to.
pub trait SessionLookup {
    /// A prepared statement (protocol-level or `PREPARE`).
    fn prepared(&self, name: &str) -> Option<Arc<Facts>>;
    /// A cursor opened with `DECLARE`.
    fn cursor(&self, name: &str) -> Option<Arc<Facts>>;
}

/// A session with nothing prepared and no cursors.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSession;

impl SessionLookup for NoSession {
    fn prepared(&self, _: &str) -> Option<Arc<Facts>> {
        None
    }
    fn cursor(&self, _: &str) -> Option<Arc<Facts>> {
        None
    }
}

/// A statement's class, tables, functions and flags: what the governor
/// is asked about.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Classification {
    pub class: SqlClass,
    /// Schema-qualified tables (`public.orders`).
    pub tables: BTreeSet<String>,
    pub functions: BTreeSet<String>,
    pub flags: BTreeSet<String>,
    pub statements: usize,
}

impl Classification {
    /// The action the governor is asked about.
    pub fn action(&self) -> &'static str {
        self.class.action()
    }
}

/// Qualifies `r` as the server would find it first on `search_path`
/// (approximately: system catalogs by their `pg_` prefix, everything else
/// in the first schema of the path).
pub fn qualify(r: &Relation, search_path: &[String]) -> String {
    match &r.schema {
        Some(s) => format!("{s}.{}", r.name),
        None if r.name.starts_with("pg_") => format!("pg_catalog.{}", r.name),
        None => {
            let schema = search_path
                .iter()
                .map(String::as_str)
                .find(|s| !s.is_empty() && *s != "$user" && *s != "pg_catalog")
                .unwrap_or("public");
            format!("{schema}.{}", r.name)
        }
    }
}

/// Applies session facts and the function catalog to `facts`.
pub fn resolve(
    facts: &Facts,
    oracle: &dyn FunctionOracle,
    session: &dyn SessionLookup,
    search_path: &[String],
) -> Classification {
    let mut c = Classification {
        class: facts.class,
        statements: facts.statements,
        ..Classification::default()
    };
    merge(&mut c, facts, oracle, session, search_path, 0);
    c
}

fn merge(
    c: &mut Classification,
    f: &Facts,
    oracle: &dyn FunctionOracle,
    session: &dyn SessionLookup,
    search_path: &[String],
    depth: usize,
) {
    c.class = c.class.max(f.class);
    c.flags.extend(f.flags.iter().map(|s| (*s).to_owned()));
    c.tables
        .extend(f.relations.iter().map(|r| qualify(r, search_path)));
    for func in &f.functions {
        let shown = match &func.schema {
            Some(s) => format!("{s}.{}", func.name),
            None => func.name.clone(),
        };
        c.functions.insert(shown);
        let builtin = builtin_effect(&func.name).is_some()
            && func.schema.as_deref().is_none_or(|s| s == "pg_catalog");
        if builtin {
            continue;
        }
        match oracle.kind(func.schema.as_deref(), &func.name) {
            FunctionKind::Builtin | FunctionKind::ReadOnly => {}
            FunctionKind::Volatile => {
                c.class = c.class.max(SqlClass::Write);
                c.flags.insert("volatile_function".into());
            }
            FunctionKind::Unknown => {
                c.class = c.class.max(SqlClass::Write);
                c.flags.insert("unknown_function".into());
            }
        }
    }
    if depth > 4 {
        return;
    }
    for name in &f.executes {
        let local = f
            .prepares
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, b)| Arc::clone(b));
        match local.or_else(|| session.prepared(name)) {
            Some(body) => merge(c, &body, oracle, session, search_path, depth + 1),
            None => {
                c.class = c.class.max(SqlClass::Admin);
                c.flags.insert("unknown_prepared_statement".into());
            }
        }
    }
    for name in &f.fetches {
        let local = f
            .cursors
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, b)| Arc::clone(b));
        match local.or_else(|| session.cursor(name)) {
            Some(body) => merge(c, &body, oracle, session, search_path, depth + 1),
            None => {
                c.class = c.class.max(SqlClass::Write);
                c.flags.insert("unknown_cursor".into());
            }
        }
    }
}

/// Classifies `sql` with no session and `oracle` (tests, tools).
pub fn classify(
    sql: &str,
    opts: ParseOptions,
    oracle: &dyn FunctionOracle,
) -> Result<Classification, ClassifyError> {
    let f = facts(sql, opts)?;
    Ok(resolve(&f, oracle, &NoSession, &[]))
}
