//! Properties on arbitrary input (the cargo-fuzz targets in `fuzz/` run the
//! same code longer): decoders and the classifier never panic, and adding a
//! write to any query never leaves it classed as a read.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use countersign_pgproxy::classify::{FunctionCatalog, ParseOptions, SqlClass, classify};
use countersign_pgproxy::wire::Frame;
use countersign_pgproxy::wire::backend::BackendMessage;
use countersign_pgproxy::wire::frontend::{FrontendMessage, StartupPacket};
use proptest::prelude::*;

const FRAGMENTS: &[&str] = &[
    "SELECT",
    "1",
    "*",
    "FROM",
    "orders",
    "customers c",
    "WHERE",
    "id",
    "=",
    "'x'",
    "E'\\''",
    "$$",
    "$t$",
    "/*",
    "*/",
    "--",
    "\n",
    ";",
    "(",
    ")",
    ",",
    "WITH",
    "AS",
    "DELETE",
    "INSERT INTO",
    "UPDATE",
    "SET",
    "VALUES",
    "RETURNING",
    "lower(",
    "pg_sleep(",
    "nextval(",
    "PREPARE p AS",
    "EXECUTE p",
    "COPY",
    "TO STDOUT",
    "DO",
    "U&'\\0041'",
    "\\",
    "'",
    "\"",
    "x",
    "UNION",
    "INTO",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn decoders_never_panic(tag in any::<u8>(), body in proptest::collection::vec(any::<u8>(), 0..256)) {
        let f = Frame::new(tag, &body);
        let _ = FrontendMessage::decode(&f);
        let _ = BackendMessage::decode(&f);
        let _ = StartupPacket::decode(&body);
    }

    #[test]
    fn the_classifier_never_panics_on_any_text(s in "\\PC{0,200}", scs in any::<bool>()) {
        let _ = classify(&s.replace('\0', ""), ParseOptions { standard_conforming_strings: scs }, &FunctionCatalog::default());
    }

    #[test]
    fn a_query_with_a_write_appended_is_never_a_read(
        parts in proptest::collection::vec(proptest::sample::select(FRAGMENTS), 0..12),
        scs in any::<bool>(),
    ) {
        let opts = ParseOptions { standard_conforming_strings: scs };
        let cat = FunctionCatalog::default();
        let base = parts.join(" ");
        if classify(&base, opts, &cat).is_ok() {
            // The newline ends a trailing line comment; then the write.
            let with_write = format!("{base}\n;DELETE FROM orders");
            if let Ok(c) = classify(&with_write, opts, &cat) {
                prop_assert!(c.class >= SqlClass::Write, "{with_write:?} classed {}", c.class);
            }
        }
    }
}
