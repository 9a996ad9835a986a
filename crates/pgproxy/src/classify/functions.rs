//! Functions with side effects. Built-in ones are listed here with the
//! class they imply; any other function is resolved against the upstream
//! catalog (a volatile user function may write, so it counts as a write;
//! a function the catalog does not know counts as a write too).

use super::class::SqlClass;
use std::collections::HashMap;

/// A built-in function with an effect, and the flag that names it.
pub fn builtin_effect(name: &str) -> Option<(SqlClass, &'static str)> {
    use SqlClass::{Admin, Export, Write};
    let e = match name {
        // Other sessions, the server process, configuration.
        "pg_terminate_backend" | "pg_cancel_backend" | "pg_signal_backend" => {
            (Admin, "signal_backend")
        }
        "pg_reload_conf"
        | "pg_rotate_logfile"
        | "pg_promote"
        | "pg_switch_wal"
        | "pg_switch_xlog"
        | "pg_create_restore_point"
        | "pg_backup_start"
        | "pg_backup_stop"
        | "pg_start_backup"
        | "pg_stop_backup"
        | "pg_wal_replay_pause"
        | "pg_wal_replay_resume"
        | "pg_xlog_replay_pause"
        | "pg_xlog_replay_resume"
        | "pg_log_backend_memory_contexts"
        | "pg_import_system_collations"
        | "pg_stat_reset"
        | "pg_stat_reset_shared"
        | "pg_stat_reset_single_table_counters"
        | "pg_stat_reset_single_function_counters"
        | "pg_stat_reset_slru"
        | "pg_stat_reset_replication_slot"
        | "pg_stat_reset_subscription_stats"
        | "pg_stat_statements_reset"
        | "pg_stat_clear_snapshot"
        | "pg_drop_replication_slot"
        | "pg_create_physical_replication_slot"
        | "pg_create_logical_replication_slot"
        | "pg_copy_physical_replication_slot"
        | "pg_copy_logical_replication_slot"
        | "pg_replication_slot_advance"
        | "pg_logical_slot_get_changes"
        | "pg_logical_slot_get_binary_changes"
        | "pg_logical_slot_peek_changes"
        | "pg_logical_slot_peek_binary_changes"
        | "pg_logical_emit_message"
        | "pg_replication_origin_create"
        | "pg_replication_origin_drop"
        | "pg_replication_origin_session_setup"
        | "pg_replication_origin_session_reset"
        | "pg_replication_origin_advance"
        | "pg_replication_origin_xact_setup"
        | "pg_replication_origin_xact_reset"
        | "pg_sync_replication_slots"
        | "pg_wal_summary_contents"
        | "pg_clear_attribute_stats"
        | "pg_restore_attribute_stats"
        | "pg_clear_relation_stats"
        | "pg_restore_relation_stats"
        | "pg_nextoid"
        | "pg_stop_making_pinned_objects"
        | "pg_extension_config_dump"
        | "pg_rotate_logfile_old"
        | "plpgsql_call_handler"
        | "plpgsql_inline_handler"
        | "plpgsql_validator" => (Admin, "server_admin"),
        n if n.starts_with("binary_upgrade_") => (Admin, "server_admin"),
        "set_config" => (Admin, "set_config"),
        // The server's file system.
        "pg_read_file"
        | "pg_read_binary_file"
        | "pg_ls_dir"
        | "pg_stat_file"
        | "pg_ls_logdir"
        | "pg_ls_waldir"
        | "pg_ls_tmpdir"
        | "pg_ls_archive_statusdir"
        | "pg_ls_logicalsnapdir"
        | "pg_ls_logicalmapdir"
        | "pg_ls_replslotdir"
        | "pg_file_write"
        | "pg_file_rename"
        | "pg_file_unlink"
        | "pg_file_sync"
        | "pg_logdir_ls"
        | "lo_import"
        | "lo_export"
        | "pg_read_file_old"
        | "pg_hba_file_rules"
        | "pg_ident_file_mappings"
        | "pg_show_all_file_settings" => (Admin, "server_file"),
        // Other databases, or SQL given as a string.
        "dblink"
        | "dblink_exec"
        | "dblink_connect"
        | "dblink_connect_u"
        | "dblink_send_query"
        | "dblink_open"
        | "dblink_fetch"
        | "dblink_get_result"
        | "dblink_close"
        | "dblink_disconnect"
        | "dblink_build_sql_insert"
        | "dblink_build_sql_update"
        | "dblink_build_sql_delete" => (Admin, "remote_sql"),
        "query_to_xml"
        | "query_to_xmlschema"
        | "query_to_xml_and_xmlschema"
        | "cursor_to_xml"
        | "cursor_to_xmlschema"
        | "ts_stat"
        | "ts_rewrite" => (Admin, "sql_in_string"),
        // Whole tables or schemas read by name, not as a relation.
        "table_to_xml"
        | "table_to_xmlschema"
        | "table_to_xml_and_xmlschema"
        | "schema_to_xml"
        | "schema_to_xmlschema"
        | "schema_to_xml_and_xmlschema"
        | "database_to_xml"
        | "database_to_xmlschema"
        | "database_to_xml_and_xmlschema" => (Export, "table_by_name"),
        // Writes that are not DML.
        "nextval" | "setval" => (Write, "sequence"),
        "lo_create" | "lo_creat" | "lo_unlink" | "lo_put" | "lo_from_bytea" | "lowrite"
        | "lo_write" | "lo_truncate" | "lo_truncate64" | "lo_open" => (Write, "large_object"),
        "pg_notify" => (Write, "notify"),
        "brin_summarize_new_values"
        | "brin_summarize_range"
        | "brin_desummarize_range"
        | "gin_clean_pending_list"
        | "pg_prewarm" => (Write, "index_maintenance"),
        _ => return None,
    };
    Some(e)
}

/// What the upstream catalog says about a function name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FunctionKind {
    /// Every function of this name is in `pg_catalog` (built-in).
    Builtin,
    /// Defined outside `pg_catalog`; every overload is stable or immutable,
    /// which the server enforces: such a function cannot write.
    ReadOnly,
    /// Defined outside `pg_catalog` with a volatile overload: it may write.
    Volatile,
    /// Not in the catalog.
    Unknown,
}

/// Resolves function names; the proxy backs this with the upstream
/// catalog, tests with a list.
pub trait FunctionOracle: Send + Sync {
    fn kind(&self, schema: Option<&str>, name: &str) -> FunctionKind;
}

/// An oracle from lists: `(schema, name, volatile)`.
#[derive(Debug, Clone, Default)]
pub struct FunctionCatalog {
    /// name → (in pg_catalog, has a user overload, any user overload volatile)
    by_name: HashMap<String, Entry>,
    /// (schema, name) → any overload volatile
    qualified: HashMap<(String, String), bool>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    builtin: bool,
    user: bool,
    user_volatile: bool,
}

impl FunctionCatalog {
    pub fn from_rows<I, S>(rows: I) -> FunctionCatalog
    where
        I: IntoIterator<Item = (S, S, bool)>,
        S: Into<String>,
    {
        let mut c = FunctionCatalog::default();
        for (schema, name, volatile) in rows {
            let (schema, name) = (schema.into(), name.into());
            let e = c.by_name.entry(name.clone()).or_default();
            if schema == "pg_catalog" || schema == "information_schema" {
                e.builtin = true;
            } else {
                e.user = true;
                e.user_volatile |= volatile;
            }
            *c.qualified.entry((schema, name)).or_default() |= volatile;
        }
        c
    }

    pub fn len(&self) -> usize {
        self.qualified.len()
    }

    pub fn is_empty(&self) -> bool {
        self.qualified.is_empty()
    }
}

impl FunctionOracle for FunctionCatalog {
    fn kind(&self, schema: Option<&str>, name: &str) -> FunctionKind {
        match schema {
            Some(s @ ("pg_catalog" | "information_schema")) => {
                match self.qualified.get(&(s.to_owned(), name.to_owned())) {
                    Some(_) => FunctionKind::Builtin,
                    None => FunctionKind::Unknown,
                }
            }
            Some(s) => match self.qualified.get(&(s.to_owned(), name.to_owned())) {
                Some(true) => FunctionKind::Volatile,
                Some(false) => FunctionKind::ReadOnly,
                None => FunctionKind::Unknown,
            },
            None => match self.by_name.get(name) {
                None => FunctionKind::Unknown,
                Some(e) if e.user_volatile => FunctionKind::Volatile,
                Some(e) if e.user => FunctionKind::ReadOnly,
                Some(_) => FunctionKind::Builtin,
            },
        }
    }
}
