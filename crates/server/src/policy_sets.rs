//! Which policy set is in force in each environment, and where it came
//! from: an approved `policy` change live there, or the directory on disk
//! (`[policy] dir`). One answer for `/readyz`, the start-up log and the
//! console, so none of them shows the disk set for an environment that a
//! policy change has moved on.

use countersign_core::Governor;
use serde::Serialize;

/// One environment's policy set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyInForce {
    pub environment: String,
    /// `sha256:…` of the set deciding requests there.
    pub hash: String,
    /// The `policy` change that put it there; `None`: the set on disk.
    pub change_id: Option<String>,
    /// How many policies the set has.
    pub policies: usize,
}

impl PolicyInForce {
    /// `disk` or the change id, for one-line summaries.
    pub fn source(&self) -> &str {
        self.change_id.as_deref().unwrap_or("disk")
    }
}

/// Every configured environment, in promotion order.
pub fn in_force(governor: &Governor) -> Vec<PolicyInForce> {
    let snap = governor.snapshot();
    governor
        .config()
        .environments
        .iter()
        .map(|env| {
            let (set, _) = snap.policies_for(env);
            PolicyInForce {
                environment: env.clone(),
                hash: set.hash().to_owned(),
                change_id: snap.env_policies.get(env).map(|e| e.change_id.clone()),
                policies: set.len(),
            }
        })
        .collect()
}

/// `dev=sha256:ab12… (disk) prod=sha256:cd34… (chg_…)`, for a log line.
pub fn summary(sets: &[PolicyInForce]) -> String {
    sets.iter()
        .map(|p| {
            let short = p.hash.get(..19).unwrap_or(&p.hash);
            format!("{}={short}… ({})", p.environment, p.source())
        })
        .collect::<Vec<_>>()
        .join(" ")
}
