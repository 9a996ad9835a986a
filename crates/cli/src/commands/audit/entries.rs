//! `countersign audit tail` and `audit export`: paging through
//! `GET /v1/audit/entries`.

use super::entry_bytes;
use crate::cli::Remote;
use crate::client::Client;
use crate::commands::admin::urlencode;
use anyhow::{Result, anyhow};
use serde_json::Value;
use std::collections::VecDeque;
use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

/// Entries per request (the API's maximum).
const PAGE: u64 = 1000;
/// How often `tail -f` asks for new entries.
const POLL: Duration = Duration::from_millis(500);

/// The API's entry filters.
#[derive(Debug, Default)]
pub struct Filter {
    pub principal: Option<String>,
    pub action: Option<String>,
    pub environment: Option<String>,
    pub verdict: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
}

impl Filter {
    fn query(&self) -> String {
        [
            ("principal", &self.principal),
            ("action", &self.action),
            ("environment", &self.environment),
            ("verdict", &self.verdict),
            ("since", &self.since),
            ("until", &self.until),
        ]
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("&{k}={}", urlencode(v))))
        .collect()
    }
}

/// One page from `start`: the entries and where the next page starts.
async fn page(c: &Client, start: u64, filter: &Filter) -> Result<(Vec<Value>, Option<u64>)> {
    let v = c
        .get(&format!(
            "/v1/audit/entries?start={start}&limit={PAGE}{}",
            filter.query()
        ))
        .await?;
    let list = v["entries"].as_array().cloned().unwrap_or_default();
    Ok((list, v["next_start"].as_u64()))
}

/// One entry as its exact canonical JSON line.
fn jsonl(e: &Value) -> Result<String> {
    String::from_utf8(entry_bytes(&e["entry"])?).map_err(|e| anyhow!("entry is not UTF-8: {e}"))
}

fn field<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("-")
}

/// A one-line human summary of an entry.
fn line(e: &Value) -> String {
    let en = &e["entry"];
    let resource = match (
        en["resource"]["type"].as_str(),
        en["resource"]["id"].as_str(),
    ) {
        (Some(t), Some(id)) => format!(" {t}::{id:?}"),
        _ => String::new(),
    };
    format!(
        "{:>7}  {}  {:<22} {:<16} {}{} {} {}",
        e["seq"],
        field(e, "time"),
        field(en, "type"),
        field(&en["principal"], "name"),
        field(en, "action"),
        resource,
        field(en, "environment"),
        field(en, "verdict"),
    )
}

fn print(e: &Value, json: bool) -> Result<()> {
    let text = if json { jsonl(e)? } else { line(e) };
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")?;
    out.flush()?;
    Ok(())
}

pub async fn tail(lines: u64, follow: bool, remote: &Remote) -> Result<ExitCode> {
    let c = Client::new(remote)?;
    let none = Filter::default();
    // The latest checkpoint is at most a moment behind the log: start a
    // little before the last `lines` entries it covers and read to the end.
    let size = c.get("/v1/audit/checkpoint").await?["size"]
        .as_u64()
        .unwrap_or(0);
    let mut start = size.saturating_sub(lines);
    let mut last: VecDeque<Value> = VecDeque::new();
    loop {
        let (list, next) = page(&c, start, &none).await?;
        for e in list {
            start = e["seq"].as_u64().map_or(start, |s| s + 1);
            last.push_back(e);
            if last.len() as u64 > lines {
                last.pop_front();
            }
        }
        if next.is_none() {
            break;
        }
    }
    for e in &last {
        print(e, remote.json)?;
    }
    if !follow {
        return Ok(ExitCode::SUCCESS);
    }
    loop {
        tokio::time::sleep(POLL).await;
        loop {
            let (list, next) = page(&c, start, &none).await?;
            for e in &list {
                start = e["seq"].as_u64().map_or(start, |s| s + 1);
                print(e, remote.json)?;
            }
            if next.is_none() {
                break;
            }
        }
    }
}

pub async fn export(filter: &Filter, remote: &Remote) -> Result<ExitCode> {
    let c = Client::new(remote)?;
    let mut start = 0;
    loop {
        let (list, next) = page(&c, start, filter).await?;
        for e in &list {
            print(e, true)?;
        }
        match next {
            Some(n) => start = n,
            None => break,
        }
    }
    Ok(ExitCode::SUCCESS)
}
