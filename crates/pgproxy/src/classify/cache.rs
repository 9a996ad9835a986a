//! A bounded cache of [`Facts`]: by exact text, and by normalized text
//! (constants replaced by `$n`, libpg_query's `normalize`), so statements
//! that differ only in constants are parsed once. Only facts that do not
//! depend on constants are cached (see [`Facts::uncacheable`]), and only
//! with `standard_conforming_strings` on (normalization lexes that way).
//! The cache saves parsing, never classification: session facts and the
//! catalog are applied to cached facts every time.

use super::{ClassifyError, Facts, ParseOptions, facts};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Longest text cached.
const MAX_TEXT: usize = 16 * 1024;

#[derive(Debug)]
pub struct FactsCache {
    exact: Mutex<HashMap<String, Arc<Facts>>>,
    normalized: Mutex<HashMap<String, Arc<Facts>>>,
    capacity: usize,
}

fn insert(map: &Mutex<HashMap<String, Arc<Facts>>>, capacity: usize, k: String, f: &Arc<Facts>) {
    if let Ok(mut m) = map.lock() {
        if m.len() >= capacity {
            // Crude but bounded: start over when full.
            m.clear();
        }
        m.insert(k, Arc::clone(f));
    }
}

fn lookup(map: &Mutex<HashMap<String, Arc<Facts>>>, k: &str) -> Option<Arc<Facts>> {
    map.lock().ok()?.get(k).cloned()
}

impl FactsCache {
    pub fn new(capacity: usize) -> FactsCache {
        FactsCache {
            exact: Mutex::new(HashMap::new()),
            normalized: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    /// The facts of `sql`, parsed or cached.
    pub fn get(&self, sql: &str, opts: ParseOptions) -> Result<Arc<Facts>, ClassifyError> {
        if !opts.standard_conforming_strings || sql.len() > MAX_TEXT {
            return facts(sql, opts).map(Arc::new);
        }
        if let Some(f) = lookup(&self.exact, sql) {
            return Ok(f);
        }
        let normalized = pg_query::normalize(sql).ok();
        if let Some(n) = &normalized
            && let Some(f) = lookup(&self.normalized, n)
        {
            return Ok(f);
        }
        let f = Arc::new(facts(sql, opts)?);
        if !f.uncacheable {
            insert(&self.exact, self.capacity, sql.to_owned(), &f);
            if let Some(n) = normalized {
                insert(&self.normalized, self.capacity, n, &f);
            }
        }
        Ok(f)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use crate::classify::SqlClass;

    #[test]
    fn constants_share_an_entry_but_structure_does_not() {
        let c = FactsCache::new(100);
        let o = ParseOptions::default();
        let a = c.get("SELECT * FROM t WHERE id = 1", o).unwrap();
        let b = c.get("SELECT * FROM t WHERE id = 2", o).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let w = c
            .get("SELECT * FROM t WHERE id = 2; DELETE FROM t", o)
            .unwrap();
        assert_eq!(w.class, SqlClass::Write);
        // A string that hides a statement is a constant, not structure.
        let s = c.get("SELECT '; DELETE FROM t'", o).unwrap();
        assert_eq!(s.class, SqlClass::Read);
        let off = ParseOptions {
            standard_conforming_strings: false,
        };
        let x = c.get("SELECT 'x\\'';DELETE FROM t;--'", off).unwrap();
        assert_eq!(x.class, SqlClass::Write);
    }
}
