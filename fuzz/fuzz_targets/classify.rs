//! The classifier on arbitrary text, with both lexing modes: it never
//! panics, and whatever it cannot analyse is an error, not a read.
#![no_main]

use countersign_pgproxy::classify::{FunctionCatalog, ParseOptions, SqlClass, classify};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(sql) = std::str::from_utf8(data) else {
        return;
    };
    if sql.contains('\0') {
        return;
    }
    let catalog = FunctionCatalog::default();
    for scs in [true, false] {
        let opts = ParseOptions {
            standard_conforming_strings: scs,
        };
        let first = classify(sql, opts, &catalog);
        // Deterministic: the same text classifies the same way.
        assert_eq!(first, classify(sql, opts, &catalog));
        // A write after the text (on its own line) is never a read.
        if first.is_ok() {
            let with_write = format!("{sql}\n;DELETE FROM t");
            if let Ok(c) = classify(&with_write, opts, &catalog) {
                assert!(
                    c.class >= SqlClass::Write,
                    "{with_write:?} classed {}",
                    c.class
                );
            }
        }
    }
});
