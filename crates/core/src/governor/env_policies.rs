//! Policies per environment through `policy` changes: a proposed set is
//! compiled and tested when submitted, and takes effect in its environment
//! only once the change is approved (and its deploy gates pass). The set
//! live in each environment is the deployed policy change there, loaded from
//! the store at start: what was reviewed is exactly what is in force.

use super::{Governor, GovernorConfig, Snapshot};
use crate::change::{
    ChangeFilter, ChangeState, GateResult, GateStatus, POLICY_KIND, PolicyBundle, gates::live_in,
};
use crate::error::GovernorError;
use crate::store::Store;
use countersign_policy::cases::{CasesFile, run_cases};
use countersign_policy::{PolicySet, PolicySource, diff_permissions};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

const SCHEMA_NAME: &str = "schema.cedarschema";
const MAX_FILES: usize = 64;
const MAX_BUNDLE_BYTES: usize = 2 * 1024 * 1024;
const MAX_REPORTED_FAILURES: usize = 20;

/// What checking a proposed policy set found.
#[derive(Debug)]
pub(super) struct PolicyChecks {
    pub digest: String,
    pub gates: Vec<GateResult>,
    pub metrics: BTreeMap<String, f64>,
    pub report: Value,
}

/// Compiles a stored bundle (what an approved change applies).
pub(super) fn compile_bundle(bundle: Option<&PolicyBundle>) -> Result<PolicySet, String> {
    let b = bundle.ok_or("the change carries no policy set")?;
    let sources: Vec<PolicySource> = b
        .files
        .iter()
        .map(|f| PolicySource::new(f.name.clone(), f.text.clone()))
        .collect();
    PolicySet::compile(SCHEMA_NAME, &b.schema, &sources).map_err(|e| e.to_string())
}

/// Bounds, compiles and tests a proposed set, and compares it with the set
/// live in `environment`. Malformed bundles are errors; a set that does not
/// compile or whose cases fail is a failed gate.
pub(super) fn check_bundle(
    bundle: &PolicyBundle,
    live: &PolicySet,
    environment: &str,
    groups: &[String],
) -> Result<PolicyChecks, GovernorError> {
    let bad = |m: String| Err(GovernorError::InvalidRequest(m));
    if bundle.files.is_empty() {
        return bad("a policy change needs at least one .cedar file".into());
    }
    if bundle.files.len() > MAX_FILES {
        return bad(format!("at most {MAX_FILES} policy files"));
    }
    let total = bundle.schema.len()
        + bundle.cases.as_ref().map_or(0, String::len)
        + bundle.files.iter().map(|f| f.text.len()).sum::<usize>();
    if total > MAX_BUNDLE_BYTES {
        return bad(format!(
            "the policy set is larger than {MAX_BUNDLE_BYTES} bytes"
        ));
    }
    for f in &bundle.files {
        let ok = f.name.ends_with(".cedar")
            && f.name.len() <= 128
            && f.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !ok {
            return bad(format!(
                "policy file name `{}`: a plain `*.cedar` name",
                super::truncate(&f.name, 80)
            ));
        }
    }
    let mut gates = Vec::new();
    let mut metrics = BTreeMap::new();
    let mut report = serde_json::Map::new();
    let set = compile_bundle(Some(bundle));
    let digest = match &set {
        Ok(s) => s.hash().trim_start_matches("sha256:").to_owned(),
        Err(_) => bundle_digest(bundle),
    };
    match &set {
        Ok(s) => {
            gates.push(GateResult::new(
                "policy.compile",
                "the set compiles and validates against its schema",
                "no errors",
                Some(format!("{} policies, set {}", s.len(), s.hash())),
                GateStatus::Pass,
            ));
            metrics.insert("policies".into(), s.len() as f64);
            report.insert("diff".into(), diff(live, s));
            // What reviewers most need: who gains or loses which access.
            let permissions = live
                .effective_permissions(environment, groups)
                .and_then(|l| {
                    Ok(diff_permissions(
                        &l,
                        &s.effective_permissions(environment, groups)?,
                    ))
                });
            report.insert(
                "permissions".into(),
                match permissions {
                    Ok(d) => json!(d),
                    Err(e) => json!({ "error": e.to_string() }),
                },
            );
        }
        Err(e) => {
            gates.push(GateResult::new(
                "policy.compile",
                "the set compiles and validates against its schema",
                "no errors",
                Some(super::truncate(e, 2000)),
                GateStatus::Fail,
            ));
        }
    }
    let tests = match (&set, &bundle.cases) {
        (_, None) => Err("no test cases: a policy change carries its cases (cases.toml)".into()),
        (Err(_), Some(_)) => Err("not run: the set does not compile".into()),
        (Ok(s), Some(text)) => CasesFile::parse("cases.toml", text)
            .map_err(|e| format!("cases.toml: {e}"))
            .map(|file| run_cases(s, &file)),
    };
    match tests {
        Ok(r) => {
            metrics.insert("tests_total".into(), r.total as f64);
            metrics.insert("tests_passed".into(), r.passed as f64);
            let failures: Vec<String> = r
                .failures
                .iter()
                .take(MAX_REPORTED_FAILURES)
                .map(ToString::to_string)
                .collect();
            report.insert(
                "tests".into(),
                json!({ "total": r.total, "passed": r.passed, "failures": failures }),
            );
            gates.push(GateResult::new(
                "policy.tests",
                format!("policy test (cases.toml) in {environment}"),
                format!("all {} cases match", r.total),
                Some(format!("{} of {} match", r.passed, r.total)),
                if r.ok() && r.total > 0 {
                    GateStatus::Pass
                } else {
                    GateStatus::Fail
                },
            ));
        }
        Err(e) => {
            report.insert("tests".into(), json!({ "error": e }));
            gates.push(GateResult::new(
                "policy.tests",
                "policy test (cases.toml)",
                "all cases match",
                Some(super::truncate(&e, 2000)),
                GateStatus::Fail,
            ));
        }
    }
    Ok(PolicyChecks {
        digest,
        gates,
        metrics,
        report: Value::Object(report),
    })
}

/// A digest for a bundle that does not compile (its set has no hash).
fn bundle_digest(b: &PolicyBundle) -> String {
    let mut h = Sha256::new();
    h.update(b.schema.as_bytes());
    for f in &b.files {
        h.update([0]);
        h.update(f.name.as_bytes());
        h.update([0]);
        h.update(f.text.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Which policies the proposal adds, removes or changes against the live set.
fn diff(live: &PolicySet, proposed: &PolicySet) -> Value {
    let texts = |s: &PolicySet| -> BTreeMap<String, String> {
        s.cedar_policies()
            .policies()
            .map(|p| (p.id().to_string(), p.to_string()))
            .collect()
    };
    let (a, b) = (texts(live), texts(proposed));
    let ids: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let (mut added, mut removed, mut changed) = (Vec::new(), Vec::new(), Vec::new());
    for id in ids {
        match (a.get(id), b.get(id)) {
            (None, Some(_)) => added.push(id.clone()),
            (Some(_), None) => removed.push(id.clone()),
            (Some(x), Some(y)) if x != y => changed.push(id.clone()),
            _ => {}
        }
    }
    json!({
        "live": live.hash(),
        "proposed": proposed.hash(),
        "added": added,
        "removed": removed,
        "changed": changed,
        "schema_changed": live.schema_source().text != proposed.schema_source().text,
    })
}

/// The policy set live in each environment through a deployed policy
/// change: `(environment, set, change id)`. A stored set that no longer
/// compiles stops the start (fail closed), naming the change.
pub(super) async fn load(
    store: &dyn Store,
    config: &GovernorConfig,
) -> Result<Vec<(String, Arc<PolicySet>, String)>, GovernorError> {
    let deployed = store
        .changes(&ChangeFilter {
            kind: Some(POLICY_KIND.into()),
            state: Some(ChangeState::Deployed),
            limit: 100_000,
            ..ChangeFilter::default()
        })
        .await?;
    let mut out = Vec::new();
    for env in &config.environments {
        if let Some(live) = live_in(&deployed, env) {
            // Listings leave the proposed set out; read it for the live one.
            let c = store
                .change(&live.id)
                .await?
                .ok_or_else(|| GovernorError::NotFound(format!("change `{}`", live.id)))?;
            let set = compile_bundle(c.policy.as_ref()).map_err(|e| {
                GovernorError::Policy(format!(
                    "the policy set of `{env}` (change {}) no longer compiles: {e}",
                    c.id
                ))
            })?;
            out.push((env.clone(), Arc::new(set), c.id.clone()));
        }
    }
    Ok(out)
}

impl Governor {
    /// Re-reads which policy change is live in each environment and swaps
    /// the snapshot (after a policy change was applied or rolled back).
    pub(super) async fn refresh_env_policies(&self) -> Result<(), GovernorError> {
        let _guard = self.admin_lock.lock().await;
        let env_sets = load(self.store.as_ref(), &self.config).await?;
        let cur = self.snapshot();
        let snap = Snapshot::build(
            Arc::clone(&cur.policies),
            env_sets,
            cur.principals.values().cloned().collect(),
            cur.tokens.values().cloned().collect(),
        )?;
        self.install(snap);
        Ok(())
    }
}
