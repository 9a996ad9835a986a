//! `countersign policy validate|test`: offline checks of a policy directory.

use super::admin::urlencode;
use crate::cli::{PolicyCmd, Remote};
use crate::client::{Client, print_json, s};
use crate::config::{self, CONFIG_FILE, Config};
use crate::exit;
use anyhow::{Context as _, Result, bail};
use countersign_core::policy::cases::{CasesFile, run_cases};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `--dir`, else the data directory's configured policy dir.
fn policy_dir(dir: Option<PathBuf>, data_dir: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(d) = dir {
        return Ok(d);
    }
    let data = data_dir.unwrap_or_else(config::default_data_dir);
    let cfg = data.join(CONFIG_FILE);
    if cfg.exists() {
        Ok(Config::load(&cfg, None)?.policy_dir)
    } else {
        Ok(data.join("policies"))
    }
}

/// The cases file's own directory, when it is a policy directory: cases
/// are written for the policies beside them (`policies-next/cases.toml`
/// tests `policies-next`, not the set in force).
fn beside(cases: &Path) -> Option<PathBuf> {
    let parent = match cases.parent() {
        Some(p) if p.as_os_str().is_empty() => Path::new("."),
        Some(p) => p,
        None => return None,
    };
    parent
        .join(config::SCHEMA_FILE)
        .exists()
        .then(|| parent.to_path_buf())
}

pub async fn run(cmd: PolicyCmd, remote: &Remote) -> Result<ExitCode> {
    match cmd {
        PolicyCmd::Propose {
            dir,
            environment,
            version,
            description,
        } => propose(&dir, environment, version, description, remote).await,
        PolicyCmd::Diff { environments } => diff(&environments, remote).await,
        PolicyCmd::Validate { dir, data_dir } => {
            let dir = policy_dir(dir, data_dir)?;
            match config::load_policies(&dir) {
                Ok(set) => {
                    println!(
                        "{}: {} policies valid against the schema, policy set {}",
                        dir.display(),
                        set.len(),
                        set.hash()
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("{}: invalid policy set\n{e}", dir.display());
                    Ok(ExitCode::from(exit::CHECK_FAILED))
                }
            }
        }
        PolicyCmd::Test {
            cases,
            dir,
            data_dir,
        } => {
            let dir = policy_dir(dir.or_else(|| beside(&cases)), data_dir)?;
            println!("testing the policies in {}", dir.display());
            let set = match config::load_policies(&dir) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("{}: invalid policy set\n{e}", dir.display());
                    return Ok(ExitCode::from(exit::CHECK_FAILED));
                }
            };
            let file = read_cases(&cases)?;
            let report = run_cases(&set, &file);
            for f in &report.failures {
                println!("{f}\n");
            }
            if report.ok() {
                println!(
                    "policy test: all {} cases match (policy set {})",
                    report.total,
                    set.hash()
                );
                Ok(ExitCode::SUCCESS)
            } else {
                println!(
                    "policy test: {} of {} cases do not match (policy set {})",
                    report.failures.len(),
                    report.total,
                    set.hash()
                );
                Ok(ExitCode::from(exit::CHECK_FAILED))
            }
        }
    }
}

/// Sends a policy directory as a `policy` change; the server compiles and
/// tests it, so the evidence is the server's, not the caller's word.
async fn propose(
    dir: &Path,
    environment: String,
    version: Option<String>,
    description: Option<String>,
    remote: &Remote,
) -> Result<ExitCode> {
    let schema = read_text(&dir.join(config::SCHEMA_FILE))?;
    let mut files = Vec::new();
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read `{}`", dir.display()))?;
    for entry in entries {
        let path = entry
            .with_context(|| format!("cannot read `{}`", dir.display()))?
            .path();
        if path.extension().is_some_and(|x| x == "cedar") {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            files.push(json!({ "name": name, "text": read_text(&path)? }));
        }
    }
    if files.is_empty() {
        bail!("no *.cedar policy files in `{}`", dir.display());
    }
    files.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    let cases_path = dir.join("cases.toml");
    let cases = if cases_path.exists() {
        Some(read_text(&cases_path)?)
    } else {
        None
    };
    let version = match version {
        Some(v) => v,
        None => default_version(dir, &schema, &files),
    };
    let body = json!({
        "kind": "policy",
        "version": version,
        "environment": environment,
        "description": description,
        "policy": { "schema": schema, "files": files, "cases": cases },
    });
    let client = Client::new(remote)?;
    let v = client.post("/v1/changes", &body).await?;
    super::change::report_submitted(&v, remote.json)
}

/// The first 12 hex digits of the set's hash, as `policy validate --dir`
/// prints it. A set that does not load still goes to the server, whose
/// `policy.compile` gate reports why (that report is the evidence); its
/// label is then the start of a hash of its files.
fn default_version(dir: &Path, schema: &str, files: &[Value]) -> String {
    let hex = match config::load_policies(dir) {
        Ok(set) => set.hash().trim_start_matches("sha256:").to_owned(),
        Err(_) => {
            let mut h = Sha256::new();
            h.update(schema.as_bytes());
            for f in files {
                h.update(f.to_string().as_bytes());
            }
            hex::encode(h.finalize())
        }
    };
    hex.get(..12).unwrap_or(&hex).to_owned()
}

/// Effective permissions that differ between two environments.
async fn diff(environments: &[String], remote: &Remote) -> Result<ExitCode> {
    let [left, right] = environments else {
        bail!("give exactly two environments: --env staging --env prod");
    };
    let client = Client::new(remote)?;
    let v = client
        .get(&format!(
            "/v1/policies/diff?left={}&right={}",
            urlencode(left),
            urlencode(right)
        ))
        .await?;
    if remote.json {
        print_json(&v)?;
        return Ok(ExitCode::SUCCESS);
    }
    let rows = v["differences"].as_array().cloned().unwrap_or_default();
    println!(
        "{left}: policy set {}\n{right}: policy set {}",
        s(&v["left"], "hash"),
        s(&v["right"], "hash")
    );
    if rows.is_empty() {
        println!("no differences in effective permissions between {left} and {right}");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} differences (who / action / resource type: {left} → {right}):",
        rows.len()
    );
    for r in &rows {
        println!("  {}", permission_change_text(r));
    }
    Ok(ExitCode::SUCCESS)
}

/// One changed permission: who, action, resource type, before → after.
pub fn permission_change_text(r: &Value) -> String {
    let who = match r["group"].as_str() {
        Some(g) => format!("{} in {g}", s(r, "principal_kind")),
        None => format!("{} in no group", s(r, "principal_kind")),
    };
    format!(
        "{who:<28} {:<16} {:<10} {} → {}",
        s(r, "action"),
        s(r, "resource_type"),
        access_text(&r["left"]),
        access_text(&r["right"]),
    )
}

fn access_text(v: &Value) -> String {
    match s(v, "type") {
        "approval" => {
            let groups: Vec<&str> = v["groups"]
                .as_array()
                .map(|g| g.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            format!(
                "approval({} of {})",
                v["quorum"],
                if groups.is_empty() {
                    "anyone".to_owned()
                } else {
                    groups.join(",")
                }
            )
        }
        other => other.to_owned(),
    }
}

fn read_text(path: &Path) -> Result<String> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read `{}`", path.display()))?;
    if meta.len() > 2 * 1024 * 1024 {
        bail!("`{}` is larger than 2 MiB", path.display());
    }
    std::fs::read_to_string(path).with_context(|| format!("cannot read `{}`", path.display()))
}

fn read_cases(path: &Path) -> Result<CasesFile> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read `{}`", path.display()))?;
    let name = path.display().to_string();
    CasesFile::parse(&name, &text).map_err(|e| anyhow::anyhow!("{e}"))
}
