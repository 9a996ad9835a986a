//! A walk over the WHOLE parse tree. The tree is serialized generically
//! (every node type the parser can produce, including ones this file does
//! not name), so a write hidden anywhere — a CTE, a subquery, a `PREPARE`
//! or `EXPLAIN ANALYZE` body, a `CREATE TABLE AS` — is still seen. Nodes
//! are recognised by their type name; statement types this file does not
//! know count as DDL, never as reads.

use super::class::SqlClass;
use super::functions::builtin_effect;
use super::{Facts, Relation};
use serde_json::{Map, Value};
use std::sync::Arc;

/// Statements that only read data or session state.
const READS: &[&str] = &[
    "SelectStmt",
    "ExplainStmt",
    "VariableShowStmt",
    "TransactionStmt",
    "ListenStmt",
    "UnlistenStmt",
    "DeclareCursorStmt",
    "FetchStmt",
    "ClosePortalStmt",
    "PrepareStmt",
    "ExecuteStmt",
    "CopyStmt",
    "DeallocateStmt",
    "DiscardStmt",
    "ConstraintsSetStmt",
    "VariableSetStmt",
    "ReturnStmt",
    "SetOperationStmt",
];

/// Statements that change rows or other non-schema state.
const WRITES: &[&str] = &[
    "InsertStmt",
    "UpdateStmt",
    "DeleteStmt",
    "MergeStmt",
    "TruncateStmt",
    "NotifyStmt",
    "LockStmt",
    "CallStmt",
];

/// Statements about roles, privileges, databases, the server, extensions
/// and code the proxy cannot see into.
const ADMIN: &[&str] = &[
    "AlterSystemStmt",
    "CreateRoleStmt",
    "AlterRoleStmt",
    "AlterRoleSetStmt",
    "DropRoleStmt",
    "GrantStmt",
    "GrantRoleStmt",
    "AlterDefaultPrivilegesStmt",
    "ReassignOwnedStmt",
    "DropOwnedStmt",
    "CreatedbStmt",
    "AlterDatabaseStmt",
    "AlterDatabaseSetStmt",
    "AlterDatabaseRefreshCollStmt",
    "DropdbStmt",
    "CreateTableSpaceStmt",
    "DropTableSpaceStmt",
    "AlterTableSpaceOptionsStmt",
    "LoadStmt",
    "CheckPointStmt",
    "DoStmt",
    "CreateExtensionStmt",
    "AlterExtensionStmt",
    "AlterExtensionContentsStmt",
    "CreateEventTrigStmt",
    "AlterEventTrigStmt",
    "CreateSubscriptionStmt",
    "AlterSubscriptionStmt",
    "DropSubscriptionStmt",
    "CreatePublicationStmt",
    "AlterPublicationStmt",
    "CreateFdwStmt",
    "AlterFdwStmt",
    "CreateForeignServerStmt",
    "AlterForeignServerStmt",
    "CreateUserMappingStmt",
    "AlterUserMappingStmt",
    "DropUserMappingStmt",
    "SecLabelStmt",
    "CreatePlangStmt",
    "CreateTransformStmt",
];

/// GUCs whose change is an administrative act.
const PRIVILEGED_SETTINGS: &[&str] = &[
    "role",
    "session_authorization",
    "session_replication_role",
    "row_security",
    "allow_system_table_mods",
    "lo_compat_privileges",
    "ignore_system_indexes",
    "zero_damaged_pages",
    "ignore_checksum_failure",
    "jit_provider",
    "local_preload_libraries",
    "session_preload_libraries",
];

fn str_of<'a>(o: &'a Map<String, Value>, k: &str) -> &'a str {
    o.get(k).and_then(Value::as_str).unwrap_or("")
}

fn bool_of(o: &Map<String, Value>, k: &str) -> bool {
    o.get(k).and_then(Value::as_bool).unwrap_or(false)
}

fn int_of(o: &Map<String, Value>, k: &str) -> i64 {
    o.get(k).and_then(Value::as_i64).unwrap_or(0)
}

fn present(o: &Map<String, Value>, k: &str) -> bool {
    match o.get(k) {
        None | Some(Value::Null) => false,
        Some(Value::Array(a)) => !a.is_empty(),
        Some(_) => true,
    }
}

/// The type name and fields of a `Node` wrapper (`{"node": {"Type": {…}}}`).
fn node_of(v: &Value) -> Option<(&str, &Map<String, Value>)> {
    let inner = v.get("node")?.as_object()?;
    let (k, v) = inner.iter().next()?;
    Some((k.as_str(), v.as_object()?))
}

/// The strings of a list of `String` nodes (a qualified name).
fn name_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|n| match node_of(n) {
                    Some(("String", s)) => Some(str_of(s, "sval").to_owned()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Walks `v` (a subtree) into `facts`.
pub(super) fn walk(v: &Value, facts: &mut Facts) {
    match v {
        Value::Object(o) => {
            // Some fields embed a node without its type tag (a statement's
            // target `RangeVar`, `CALL`'s `FuncCall`): recognise those two
            // by shape, tagged or not.
            if o.contains_key("relname") && o.contains_key("relpersistence") {
                visit_shape("RangeVar", o, facts);
            } else if o.contains_key("funcname") && o.contains_key("agg_star") {
                visit_shape("FuncCall", o, facts);
            }
            for (k, child) in o {
                if k.starts_with(|c: char| c.is_ascii_uppercase())
                    && let Value::Object(fields) = child
                {
                    visit(k, fields, facts);
                }
                walk(child, facts);
            }
        }
        Value::Array(a) => {
            for child in a {
                walk(child, facts);
            }
        }
        _ => {}
    }
}

/// Facts of a subtree on its own (a `PREPARE` or `DECLARE` body).
fn sub_facts(v: Option<&Value>) -> Facts {
    let mut f = Facts::default();
    if let Some(v) = v {
        walk(v, &mut f);
    }
    f
}

fn visit(kind: &str, o: &Map<String, Value>, f: &mut Facts) {
    if kind.ends_with("Stmt") && kind != "RawStmt" {
        let class = if READS.contains(&kind) {
            SqlClass::Read
        } else if WRITES.contains(&kind) {
            SqlClass::Write
        } else if ADMIN.contains(&kind) {
            SqlClass::Admin
        } else {
            SqlClass::Ddl
        };
        f.raise(class);
    }
    match kind {
        "SelectStmt" => {
            if present(o, "intoClause") || present(o, "into_clause") {
                f.raise(SqlClass::Ddl);
                f.flag("select_into");
            }
            if present(o, "lockingClause") || present(o, "locking_clause") {
                f.raise(SqlClass::Write);
                f.flag("row_lock");
            }
        }
        "UpdateStmt" | "DeleteStmt" => {
            if !present(o, "whereClause") && !present(o, "where_clause") {
                f.flag("no_where");
            }
        }
        "TruncateStmt" => f.flag("truncate"),
        "DropStmt" => f.flag("drop"),
        "AlterSystemStmt" => f.flag("alter_system"),
        "DoStmt" => f.flag("do_block"),
        "NotifyStmt" => f.flag("notify"),
        "ListenStmt" => f.flag("listen"),
        "LockStmt" => f.flag("lock"),
        "CallStmt" => f.flag("call"),
        "GrantStmt" | "GrantRoleStmt" => f.flag("grant"),
        "CreateRoleStmt" | "AlterRoleStmt" | "DropRoleStmt" | "AlterRoleSetStmt" => f.flag("role"),
        "TransactionStmt" => {
            f.flag("transaction");
            // PREPARE TRANSACTION, COMMIT/ROLLBACK PREPARED (8, 9, 10).
            if (8..=10).contains(&int_of(o, "kind")) {
                f.raise(SqlClass::Write);
                f.flag("two_phase");
            }
        }
        "ExplainStmt" => {
            let analyze = o
                .get("options")
                .and_then(Value::as_array)
                .is_some_and(|opts| {
                    opts.iter().any(|d| {
                        matches!(node_of(d), Some(("DefElem", e)) if str_of(e, "defname") == "analyze")
                    })
                });
            if analyze {
                f.flag("explain_analyze");
            }
        }
        "CopyStmt" => {
            f.uncacheable();
            if bool_of(o, "is_program") {
                f.raise(SqlClass::Admin);
                f.flag("copy_program");
            } else if !str_of(o, "filename").is_empty() {
                f.raise(SqlClass::Admin);
                f.flag("copy_file");
            }
            if bool_of(o, "is_from") {
                f.raise(SqlClass::Write);
                f.flag("copy_from");
            } else {
                f.raise(SqlClass::Export);
                f.flag("copy_to");
            }
        }
        "CommonTableExpr" => {
            if let Some(q) = o.get("ctequery")
                && let Some((k, _)) = node_of(q)
                && WRITES.contains(&k)
            {
                f.flag("cte_write");
            }
            let name = str_of(o, "ctename");
            if !name.is_empty() {
                f.ctes.insert(name.to_owned());
            }
        }
        "VariableSetStmt" => {
            f.uncacheable();
            let name = str_of(o, "name").to_ascii_lowercase();
            let kind = int_of(o, "kind");
            if kind == 6 {
                // RESET ALL: also resets the role to the session's.
                f.flag("set");
            } else if PRIVILEGED_SETTINGS.contains(&name.as_str()) {
                f.raise(SqlClass::Admin);
                f.flag(if name == "role" || name == "session_authorization" {
                    "set_role"
                } else {
                    "set_privileged"
                });
            } else if name == "search_path" {
                f.flag("set_search_path");
                f.search_path = Some(search_path_of(o));
            } else {
                f.flag("set");
            }
        }
        _ => visit_rest(kind, o, f),
    }
}

/// Nodes recognised by shape, wherever they are embedded.
fn visit_shape(kind: &str, o: &Map<String, Value>, f: &mut Facts) {
    match kind {
        "FuncCall" => {
            let mut parts = name_list(o.get("funcname"));
            let name = parts.pop().unwrap_or_default();
            let schema = parts.pop();
            if let Some((class, flag)) = builtin_effect(&name)
                .filter(|_| schema.as_deref().is_none_or(|s| s == "pg_catalog"))
            {
                f.raise(class);
                f.flag(flag);
                if class == SqlClass::Admin || flag == "table_by_name" {
                    f.flag("side_effect_function");
                }
            }
            f.functions.insert(Relation { schema, name });
        }
        "RangeVar" => {
            let rel = Relation {
                schema: Some(str_of(o, "schemaname"))
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
                name: str_of(o, "relname").to_owned(),
            };
            if let Some(a) = o
                .get("alias")
                .and_then(|a| a.get("aliasname"))
                .and_then(Value::as_str)
            {
                f.names.insert(a.to_owned());
            }
            f.names.insert(rel.name.clone());
            f.relations.insert(rel);
        }
        _ => {}
    }
}

fn visit_rest(kind: &str, o: &Map<String, Value>, f: &mut Facts) {
    match kind {
        "Alias" => {
            let a = str_of(o, "aliasname");
            if !a.is_empty() {
                f.names.insert(a.to_owned());
            }
        }
        "ColumnRef" => {
            let fields = o.get("fields").and_then(Value::as_array);
            let mut last = None;
            let mut n = 0;
            for fld in fields.into_iter().flatten() {
                n += 1;
                match node_of(fld) {
                    Some(("String", s)) => last = Some(str_of(s, "sval").to_owned()),
                    Some(("AStar", _)) => {
                        f.star = true;
                        last = None;
                    }
                    _ => {}
                }
            }
            if let Some(l) = last {
                if n == 1 {
                    f.single_refs.insert(l.clone());
                }
                f.columns.insert(l);
            }
        }
        "PrepareStmt" => {
            f.flag("prepare");
            let body = Arc::new(sub_facts(o.get("query")));
            f.prepares.push((str_of(o, "name").to_owned(), body));
        }
        "ExecuteStmt" => {
            f.flag("execute");
            f.executes.push(str_of(o, "name").to_owned());
        }
        "DeallocateStmt" => {
            let name = str_of(o, "name");
            f.deallocates
                .push((!name.is_empty() && !bool_of(o, "isall")).then(|| name.to_owned()));
        }
        "DiscardStmt" => f.discards = true,
        "DeclareCursorStmt" => {
            f.flag("cursor");
            let body = Arc::new(sub_facts(o.get("query")));
            f.cursors.push((str_of(o, "portalname").to_owned(), body));
        }
        "FetchStmt" | "ClosePortalStmt" => {
            let name = str_of(o, "portalname");
            if !name.is_empty() {
                f.fetches.push(name.to_owned());
            }
        }
        _ => {}
    }
}

fn search_path_of(o: &Map<String, Value>) -> Vec<String> {
    let mut out = Vec::new();
    for a in o
        .get("args")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(("AConst", c)) = node_of(a)
            && let Some(s) = c
                .get("val")
                .and_then(|v| v.get("Sval"))
                .and_then(|s| s.get("sval"))
                .and_then(Value::as_str)
        {
            out.extend(s.split(',').map(|p| p.trim().trim_matches('"').to_owned()));
        }
    }
    out
}
