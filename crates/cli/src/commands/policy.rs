//! `countersign policy validate|test`: offline checks of a policy directory.

use crate::cli::PolicyCmd;
use crate::config::{self, CONFIG_FILE, Config};
use crate::exit;
use anyhow::{Context as _, Result};
use countersign_core::policy::cases::{CasesFile, run_cases};
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

pub async fn run(cmd: PolicyCmd) -> Result<ExitCode> {
    match cmd {
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
            let dir = policy_dir(dir, data_dir)?;
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

fn read_cases(path: &Path) -> Result<CasesFile> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read `{}`", path.display()))?;
    let name = path.display().to_string();
    CasesFile::parse(&name, &text).map_err(|e| anyhow::anyhow!("{e}"))
}
