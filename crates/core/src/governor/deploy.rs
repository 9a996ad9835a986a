//! Enforcement: a `<kind>.deploy` (or `policy.apply`) is allowed only with
//! an approved change for that subject and environment whose artifact digest
//! matches what is deployed, and whose deploy gates (promotion soak, wait
//! timer, freeze windows) pass. Cedar is still asked: the change is a
//! precondition, never a bypass.

use super::Governor;
use super::change_input::normalize_digest;
use crate::change::{Change, GateResult, gates};
use crate::error::GovernorError;
use crate::request::ResourceRef;
use serde_json::{Map, Value, json};

/// What checking a deploy against its change found.
#[derive(Debug, Default)]
pub(crate) struct DeployCheck {
    /// The change, when the request named one that exists.
    pub change: Option<Change>,
    /// Why the deploy is refused; `None` when every check passed.
    pub refusal: Option<String>,
    pub gates: Vec<GateResult>,
}

impl DeployCheck {
    fn refused(change: Option<Change>, why: String) -> Self {
        DeployCheck {
            change,
            refusal: Some(why),
            gates: Vec::new(),
        }
    }

    /// For the decision's audit entry.
    pub fn detail(&self) -> Value {
        json!({
            "change_gates": self.gates,
            "change_refusal": self.refusal,
        })
    }
}

impl Governor {
    /// Checks a deploy of `resource` in `environment` by action `action`
    /// against the change the caller names in `context.change`
    /// (`{"id": "chg_…", "artifact_sha256": "…"}`). The claim is replaced by
    /// the change's facts (id, kind, version, digest) for Cedar, or removed.
    pub(crate) async fn deploy_check(
        &self,
        kind: &str,
        action: &str,
        resource: &ResourceRef,
        environment: &str,
        context: &mut Map<String, Value>,
    ) -> Result<DeployCheck, GovernorError> {
        let claim = context.remove("change");
        let how = "pass the change and the artifact (`countersign run --change ID --artifact FILE`, or context.change = {\"id\": …, \"artifact_sha256\": …})";
        let (id, digest) = match claim {
            None => {
                return Ok(DeployCheck::refused(
                    None,
                    format!(
                        "`{action}` needs an approved {kind} change for {resource} in {environment}: {how}"
                    ),
                ));
            }
            Some(v) => {
                let id = v.get("id").and_then(Value::as_str);
                let d = v.get("artifact_sha256").and_then(Value::as_str);
                match (id, d) {
                    (Some(id), Some(d)) => match normalize_digest(d) {
                        Ok(d) => (id.to_owned(), d),
                        Err(e) => return Ok(DeployCheck::refused(None, e.to_string())),
                    },
                    _ => {
                        return Ok(DeployCheck::refused(
                            None,
                            format!("context.change must name the change and the artifact: {how}"),
                        ));
                    }
                }
            }
        };
        if !crate::ids::is_id(crate::ids::CHANGE, &id) {
            return Ok(DeployCheck::refused(
                None,
                format!("`{}` is not a change id", super::truncate(&id, 80)),
            ));
        }
        let Some(change) = self.store.change(&id).await? else {
            return Ok(DeployCheck::refused(None, format!("change {id} not found")));
        };
        if change.kind != kind || change.subject != *resource || change.environment != environment {
            let why = format!(
                "change {id} is for {} {} in {}, not {kind} {resource} in {environment}",
                change.kind, change.subject, change.environment
            );
            return Ok(DeployCheck::refused(Some(change), why));
        }
        let Some(rules) = self.config.changes.gate(kind, environment) else {
            return Ok(DeployCheck::refused(
                Some(change),
                format!("no gates for `{environment}`"),
            ));
        };
        let siblings = self.siblings(resource).await?;
        let override_approved = change.emergency.is_some() && change.approved_at.is_some();
        let (results, refusal) = gates::at_deploy(
            &change,
            &rules,
            &siblings,
            &digest,
            override_approved,
            self.now(),
        );
        if refusal.is_none() {
            context.insert(
                "change".into(),
                json!({
                    "id": change.id,
                    "kind": change.kind,
                    "version": change.version,
                    "artifact_sha256": change.artifact_sha256,
                }),
            );
        }
        Ok(DeployCheck {
            change: Some(change),
            refusal,
            gates: results,
        })
    }
}
