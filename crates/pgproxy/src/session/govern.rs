//! Asking the governor about one statement and turning its answer into
//! what the session does: forward (with obligations), refuse (an error the
//! client sees in order), or hold for an approval.

use super::Session;
use super::state::Run;
use crate::classify::{Classification, Facts, FunctionKind, FunctionOracle, SqlClass, resolve};
use crate::mask::MaskSpec;
use crate::session::state::StateLookup;
use crate::wire::backend::Fields;
use countersign_core::approval::ApprovalState;
use countersign_core::governor::{AllowAck, DecisionInput};
use countersign_core::verdict::{Decision, Verdict};
use countersign_core::{ResourceRef, Timestamp};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// What to do with a statement.
#[derive(Debug)]
pub(super) enum Govern {
    Forward(Run),
    Refuse(Fields),
}

/// Flags of statements that may change how later text lexes (or the
/// session's settings in general): later text waits until they are done.
const SETTINGS_FLAGS: &[&str] = &[
    "set",
    "set_search_path",
    "set_role",
    "set_privileged",
    "set_config",
    "transaction",
    "do_block",
    "call",
    "volatile_function",
    "unknown_function",
    "execute",
];

pub(super) fn may_change_settings(c: &Classification, facts: &Facts) -> bool {
    facts.discards || c.flags.iter().any(|f| SETTINGS_FLAGS.contains(&f.as_str()))
}

/// A catalog that knows nothing: every non-built-in function is unknown.
struct NoCatalog;

impl FunctionOracle for NoCatalog {
    fn kind(&self, _: Option<&str>, _: &str) -> FunctionKind {
        FunctionKind::Unknown
    }
}

pub(super) fn refusal(code: &str, message: impl Into<String>) -> Fields {
    Fields::new("ERROR", code, message)
}

impl Session {
    /// Classifies `facts` in this session, with the upstream's function
    /// catalog (reloaded once when a function is unknown).
    pub(super) async fn classify(&self, facts: &Facts) -> Classification {
        let resolve_with = |oracle: &dyn FunctionOracle| {
            let st = self.st();
            resolve(facts, oracle, &StateLookup(&st), &st.search_path)
        };
        if facts.functions.is_empty() {
            return resolve_with(&NoCatalog);
        }
        let catalog = match self.catalog.functions().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "postgres: function catalog unavailable; functions count as writes");
                return resolve_with(&NoCatalog);
            }
        };
        let c = resolve_with(catalog.as_ref());
        if !c.flags.contains("unknown_function") {
            return c;
        }
        match self.catalog.reload_functions().await {
            Ok(fresh) => resolve_with(fresh.as_ref()),
            Err(_) => c,
        }
    }

    /// The decision input for a statement: identical text, classification
    /// and parameters give an identical input (an approval binds to it).
    fn input(&self, c: &Classification, sql: &str, params: Option<&[String]>) -> DecisionInput {
        let resource = match c.tables.iter().next() {
            Some(t) if c.tables.len() == 1 => ResourceRef {
                kind: "Table".into(),
                id: t.clone(),
            },
            _ => ResourceRef {
                kind: "Database".into(),
                id: self.target.name.clone(),
            },
        };
        let mut facts = Map::new();
        facts.insert("statement".into(), Value::String(sql.to_owned()));
        facts.insert("tables".into(), json!(c.tables));
        facts.insert("flags".into(), json!(c.flags));
        facts.insert("functions".into(), json!(c.functions));
        facts.insert("target".into(), Value::String(self.target.name.clone()));
        facts.insert(
            "database".into(),
            Value::String(self.target.database.clone()),
        );
        if let Some(p) = params {
            facts.insert("parameters".into(), json!(p));
        }
        let mut context = Map::new();
        context.insert("sql".into(), Value::Object(facts));
        DecisionInput {
            action: c.action().to_owned(),
            resource,
            environment: self.target.environment.clone(),
            context,
            reason: None,
            approval_id: None,
        }
    }

    /// Asks the governor and settles the statement, holding it while an
    /// approval is pending.
    pub(super) async fn govern(
        &self,
        c: &Classification,
        facts: &[&Facts],
        sql: &str,
        params: Option<&[String]>,
    ) -> Govern {
        let encoding = self.st().client_encoding.clone();
        if super::startup::unsafe_encoding(&encoding) {
            return Govern::Refuse(refusal(
                "22023",
                format!(
                    "countersign: client encoding \"{encoding}\" is not supported; statements are refused"
                ),
            ));
        }
        let input = self.input(c, sql, params);
        let rid = self.request_id();
        let ack = if self.target.relaxed_reads && c.action() == "sql.read" {
            AllowAck::Committed
        } else {
            AllowAck::Durable
        };
        let decision = match self
            .shared
            .governor
            .decide_with(&self.principal, input.clone(), Some(&rid), ack)
            .await
        {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(session = self.id, request_id = %rid, error = %e, "postgres: no decision");
                return Govern::Refuse(
                    refusal(
                        "58000",
                        format!(
                            "countersign cannot decide on this statement ({e}); it was not sent"
                        ),
                    )
                    .with(b'D', format!("request id: {rid}")),
                );
            }
        };
        tracing::debug!(
            session = self.id, request_id = %rid, action = %input.action,
            resource = %input.resource, verdict = decision.verdict.as_str(), "postgres: decision"
        );
        match decision.verdict {
            Verdict::Allow => self.allowed(&decision, c, facts),
            Verdict::Deny => Govern::Refuse(self.denied(&decision, &input)),
            Verdict::Pending => self.hold(decision, input, c, facts).await,
        }
    }

    fn allowed(&self, d: &Decision, c: &Classification, facts: &[&Facts]) -> Govern {
        let mut masks = Vec::new();
        for o in &d.obligations {
            if o.kind == "mask" {
                masks.extend(o.targets.iter().map(String::as_str));
            } else {
                return Govern::Refuse(refusal(
                    "42501",
                    format!(
                        "countersign: policy `{}` attaches a `{}` obligation, which the PostgreSQL front cannot enforce; the statement was not sent",
                        o.policy, o.kind
                    ),
                ));
            }
        }
        let mask = MaskSpec::new(masks, facts).map(Arc::new);
        if mask.is_some() && c.flags.contains("copy_to") {
            return Govern::Refuse(refusal(
                "42501",
                "countersign: policy masks columns of this data, and COPY output cannot be masked; the statement was not sent",
            ).with(b'H', "read the data with SELECT"));
        }
        Govern::Forward(Run {
            decision_id: d.id.clone(),
            started: Instant::now(),
            rows: None,
            error: None,
            mask,
            plan: None,
            ddl: c.class >= SqlClass::Ddl,
        })
    }

    fn denied(&self, d: &Decision, input: &DecisionInput) -> Fields {
        let reason = d
            .reason
            .clone()
            .unwrap_or_else(|| "no policy permits it".into());
        let policies = if d.policies.is_empty() {
            "no policy permits it (default deny)".to_owned()
        } else {
            format!("policy: {}", d.policies.join(", "))
        };
        refusal(
            "42501",
            format!(
                "countersign: {} on {} denied: {reason}",
                input.action, input.resource
            ),
        )
        .with(b'D', format!("{policies}; decision {}", d.id))
    }

    async fn hold(
        &self,
        d: Decision,
        input: DecisionInput,
        c: &Classification,
        facts: &[&Facts],
    ) -> Govern {
        let Some(approval) = d.approval.clone() else {
            return Govern::Refuse(self.denied(&d, &input));
        };
        let id = approval.id.clone();
        let wait = self.shared.config.approval_wait;
        let how = format!("approve with: countersign approvals approve {id}");
        let notice = Fields::new(
            "NOTICE",
            "01000",
            format!(
                "countersign: {} on {} needs approval {id} ({}); holding the statement for up to {}s",
                input.action,
                input.resource,
                d.reason.as_deref().unwrap_or("approval required"),
                wait.as_secs()
            ),
        )
        .with(b'D', how.clone());
        if self.notice(&notice).await.is_err() {
            return Govern::Refuse(refusal("08006", "client went away"));
        }
        let deadline = tokio::time::Instant::now() + wait;
        let cancelled_at = self.hold.generation.load(Ordering::SeqCst);
        let store = self.shared.governor.store();
        let mut version = match store.approval(&id).await {
            Ok(Some(a)) => a.version,
            _ => 0,
        };
        let pending_error = || {
            refusal(
                "57014",
                format!(
                    "countersign: approval {id} is still pending after {}s; the statement was not run",
                    wait.as_secs()
                ),
            )
            .with(b'D', how.clone())
            .with(b'H', "once it is approved, send the same statement again: it will run once")
        };
        loop {
            let notified = self.hold.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.hold.generation.load(Ordering::SeqCst) != cancelled_at {
                return Govern::Refuse(
                    refusal("57014", "canceling statement due to user request")
                        .with(b'D', format!("approval {id} stays pending; {how}")),
                );
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Govern::Refuse(pending_error());
            }
            let changed = tokio::select! {
                r = self.shared.governor.wait_for_change(&id, version, deadline - now) => r,
                _ = &mut notified => continue,
            };
            let a = match changed {
                Ok(Some(a)) => a,
                Ok(None) => continue,
                Err(e) => {
                    return Govern::Refuse(refusal(
                        "58000",
                        format!("countersign cannot follow approval {id}: {e}"),
                    ));
                }
            };
            match a.effective_state(Timestamp::now()) {
                ApprovalState::Pending => version = a.version,
                ApprovalState::Approved => {
                    let rid = self.request_id();
                    return match self
                        .shared
                        .governor
                        .decide(&self.principal, input.clone(), Some(&rid))
                        .await
                    {
                        Ok(d2) if d2.verdict == Verdict::Allow => self.allowed(&d2, c, facts),
                        Ok(d2) => Govern::Refuse(self.denied(&d2, &input)),
                        Err(e) => Govern::Refuse(refusal(
                            "58000",
                            format!(
                                "countersign cannot decide on this statement ({e}); it was not sent"
                            ),
                        )),
                    };
                }
                other => {
                    return Govern::Refuse(refusal(
                        "42501",
                        format!(
                            "countersign: approval {id} was {}; the statement was not run",
                            other.as_str()
                        ),
                    ));
                }
            }
        }
    }
}
