//! What the proxy needs from the upstream's catalog, over a private
//! connection per target: function volatility (for classification) and
//! relation and column names by OID (to map `RowDescription` columns back
//! to `table.column` for masking). Cached; invalidated after DDL.

use crate::classify::FunctionCatalog;
use crate::config::Target;
use crate::error::ProxyError;
use crate::upstream::{self, Connected};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A relation's names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelInfo {
    pub schema: String,
    pub table: String,
    pub columns: HashMap<i16, String>,
}

#[derive(Debug)]
pub struct TargetCatalog {
    target: Target,
    max_message: usize,
    conn: tokio::sync::Mutex<Option<Connected>>,
    functions: Mutex<Option<(Arc<FunctionCatalog>, Instant)>>,
    relations: Mutex<HashMap<u32, Arc<RelInfo>>>,
}

/// Unknown functions trigger a reload at most this often.
const FUNCTION_RELOAD_EVERY: Duration = Duration::from_secs(1);

impl TargetCatalog {
    pub fn new(target: Target, max_message: usize) -> TargetCatalog {
        TargetCatalog {
            target,
            max_message,
            conn: tokio::sync::Mutex::new(None),
            functions: Mutex::new(None),
            relations: Mutex::new(HashMap::new()),
        }
    }

    async fn query(&self, sql: &str) -> Result<Vec<Vec<Option<String>>>, ProxyError> {
        let mut guard = self.conn.lock().await;
        if guard.is_none() {
            let params = [(
                "application_name".to_owned(),
                "countersign-catalog".to_owned(),
            )];
            *guard = Some(upstream::connect(&self.target, &params, self.max_message).await?);
        }
        let Some(conn) = guard.as_mut() else {
            return Err(ProxyError::upstream(
                &self.target.name,
                "no catalog connection",
            ));
        };
        let r = upstream::simple_query(conn, &self.target.name, sql).await;
        if r.is_err() {
            // Start over with a fresh connection next time.
            *guard = None;
        }
        r
    }

    /// The function catalog, loading it on first use.
    pub async fn functions(&self) -> Result<Arc<FunctionCatalog>, ProxyError> {
        if let Some((f, _)) = self.functions.lock().ok().and_then(|g| g.clone()) {
            return Ok(f);
        }
        self.reload_functions().await
    }

    /// Reloads the function catalog (rate-limited: returns the cached one
    /// if it was loaded very recently).
    pub async fn reload_functions(&self) -> Result<Arc<FunctionCatalog>, ProxyError> {
        if let Some((f, at)) = self.functions.lock().ok().and_then(|g| g.clone())
            && at.elapsed() < FUNCTION_RELOAD_EVERY
        {
            return Ok(f);
        }
        let rows = self
            .query(
                "SELECT n.nspname, p.proname, bool_or(p.provolatile = 'v') \
                 FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
                 GROUP BY 1, 2",
            )
            .await?;
        let cat = Arc::new(FunctionCatalog::from_rows(rows.into_iter().filter_map(
            |r| {
                let mut it = r.into_iter();
                let schema = it.next().flatten()?;
                let name = it.next().flatten()?;
                let volatile = it.next().flatten().is_some_and(|v| v == "t");
                Some((schema, name, volatile))
            },
        )));
        if let Ok(mut g) = self.functions.lock() {
            *g = Some((Arc::clone(&cat), Instant::now()));
        }
        Ok(cat)
    }

    /// Forgets cached names (after DDL went through).
    pub fn invalidate(&self) {
        if let Ok(mut r) = self.relations.lock() {
            r.clear();
        }
        if let Ok(mut f) = self.functions.lock()
            && let Some((_, at)) = f.as_mut()
        {
            // Keep using it, but allow an immediate reload.
            *at = Instant::now()
                .checked_sub(FUNCTION_RELOAD_EVERY)
                .unwrap_or_else(Instant::now);
        }
    }

    /// Names of relations by OID; OIDs the catalog does not know are absent.
    pub async fn relations(&self, oids: &[u32]) -> Result<HashMap<u32, Arc<RelInfo>>, ProxyError> {
        let mut out = HashMap::new();
        let mut missing = Vec::new();
        if let Ok(cache) = self.relations.lock() {
            for &oid in oids {
                match cache.get(&oid) {
                    Some(r) => {
                        out.insert(oid, Arc::clone(r));
                    }
                    None if !missing.contains(&oid) => missing.push(oid),
                    None => {}
                }
            }
        }
        if missing.is_empty() {
            return Ok(out);
        }
        let list = missing
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let rows = self
            .query(&format!(
                "SELECT c.oid, n.nspname, c.relname, a.attnum, a.attname \
                 FROM pg_catalog.pg_class c \
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                 JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid \
                 WHERE a.attnum > 0 AND c.oid IN ({list})"
            ))
            .await?;
        let mut found: HashMap<u32, RelInfo> = HashMap::new();
        for r in rows {
            let [
                Some(oid),
                Some(schema),
                Some(table),
                Some(attnum),
                Some(attname),
            ] = <[Option<String>; 5]>::try_from(r).unwrap_or_default()
            else {
                continue;
            };
            let (Ok(oid), Ok(attnum)) = (oid.parse::<u32>(), attnum.parse::<i16>()) else {
                continue;
            };
            found
                .entry(oid)
                .or_insert_with(|| RelInfo {
                    schema,
                    table,
                    columns: HashMap::new(),
                })
                .columns
                .insert(attnum, attname);
        }
        if let Ok(mut cache) = self.relations.lock() {
            for (oid, info) in found {
                let info = Arc::new(info);
                cache.insert(oid, Arc::clone(&info));
                out.insert(oid, info);
            }
        }
        Ok(out)
    }
}
