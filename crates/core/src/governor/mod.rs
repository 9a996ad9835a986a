//! The governor: identity → policy → approvals → audit.
//!
//! It holds an immutable [`Snapshot`] (policy set, directory, tokens) behind a
//! lock that is only taken to clone an `Arc`, so decisions never wait on each
//! other; every change goes to the store as one atomic [`Write`] with its
//! audit events.

mod change_ends;
mod change_input;
mod change_reviews;
mod changes;
mod decide;
mod deploy;
mod directory;
mod env_policies;
mod events;
mod outcomes;
mod votes;
mod wait;

pub use changes::ChangeInput;
pub use decide::{AllowAck, DecisionInput};
pub use directory::NewPrincipal;
pub use outcomes::{OutcomeReport, OutcomeReporter};
pub use votes::VoteInput;
pub use wait::{Awaited, deny_reason};

use crate::audit::{AuditEvent, EventKind};
use crate::change::ChangeRules;
use crate::error::GovernorError;
use crate::ids::{IdSource, RandomIds};
use crate::principal::Principal;
use crate::store::{Store, StoreReader, Write};
use crate::time::{Clock, SystemClock, Timestamp};
use crate::token::{self, TokenRecord};
use countersign_policy::{Directory, DirectoryEntry, PolicySet};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use tokio::sync::broadcast;

/// Settings the governor needs (the binary maps its config onto this).
#[derive(Debug, Clone)]
pub struct GovernorConfig {
    /// Environments requests may name, in promotion order.
    pub environments: Vec<String>,
    /// Members of this group administer principals, tokens and policies.
    pub admin_group: String,
    /// Change kinds and their gates per environment.
    pub changes: ChangeRules,
}

impl Default for GovernorConfig {
    fn default() -> Self {
        GovernorConfig {
            environments: vec!["dev".into(), "staging".into(), "prod".into()],
            admin_group: "admin".into(),
            changes: ChangeRules::default(),
        }
    }
}

/// Everything a decision reads, immutable once built.
#[derive(Debug)]
pub struct Snapshot {
    /// The policy set loaded from disk: in force in every environment
    /// without an approved `policy` change of its own.
    pub policies: Arc<PolicySet>,
    pub directory: Directory,
    /// Environments whose policies came through an approved `policy`
    /// change, with the directory built against that set's schema.
    pub env_policies: HashMap<String, EnvPolicies>,
    pub principals: HashMap<String, Principal>,
    pub tokens: HashMap<String, TokenRecord>,
}

/// One environment's own policy set, from the `policy` change live there.
#[derive(Debug)]
pub struct EnvPolicies {
    pub policies: Arc<PolicySet>,
    pub directory: Directory,
    pub change_id: String,
}

impl Snapshot {
    fn build(
        policies: Arc<PolicySet>,
        env_sets: Vec<(String, Arc<PolicySet>, String)>,
        principals: Vec<Principal>,
        tokens: Vec<TokenRecord>,
    ) -> Result<Self, GovernorError> {
        let entries: Vec<DirectoryEntry> = principals.iter().map(directory::entry).collect();
        let directory = Directory::build(&policies, &entries)
            .map_err(|e| GovernorError::Policy(e.to_string()))?;
        let mut env_policies = HashMap::new();
        for (env, set, change_id) in env_sets {
            let directory = Directory::build(&set, &entries).map_err(|e| {
                GovernorError::Policy(format!("the policies of `{env}` (change {change_id}): {e}"))
            })?;
            env_policies.insert(
                env,
                EnvPolicies {
                    policies: set,
                    directory,
                    change_id,
                },
            );
        }
        Ok(Snapshot {
            policies,
            directory,
            env_policies,
            principals: principals
                .into_iter()
                .map(|p| (p.name.clone(), p))
                .collect(),
            tokens: tokens.into_iter().map(|t| (t.id.clone(), t)).collect(),
        })
    }

    /// The policy set and directory in force in `environment`.
    pub fn policies_for(&self, environment: &str) -> (&Arc<PolicySet>, &Directory) {
        match self.env_policies.get(environment) {
            Some(e) => (&e.policies, &e.directory),
            None => (&self.policies, &self.directory),
        }
    }

    /// Every group a principal is in, sorted (what permission probes use).
    pub fn directory_groups(&self) -> Vec<String> {
        let mut g: Vec<String> = self
            .principals
            .values()
            .flat_map(|p| p.groups.iter().cloned())
            .collect();
        g.sort();
        g.dedup();
        g
    }

    fn env_sets(&self) -> Vec<(String, Arc<PolicySet>, String)> {
        self.env_policies
            .iter()
            .map(|(env, e)| (env.clone(), Arc::clone(&e.policies), e.change_id.clone()))
            .collect()
    }
}

/// A change to an approval, broadcast to long-polling waiters.
#[derive(Debug, Clone)]
pub struct ApprovalUpdate {
    pub id: String,
    pub version: u64,
}

#[derive(Debug)]
pub struct Governor {
    store: Arc<dyn Store>,
    config: GovernorConfig,
    snapshot: RwLock<Arc<Snapshot>>,
    /// Serializes directory and policy changes (rare) so snapshots never regress.
    admin_lock: tokio::sync::Mutex<()>,
    updates: broadcast::Sender<ApprovalUpdate>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdSource>,
    /// Started by the first front driver that reports an outcome.
    outcomes: std::sync::OnceLock<OutcomeReporter>,
}

impl Governor {
    /// Loads the directory from the store and starts governing with `policies`.
    pub async fn open(
        store: Arc<dyn Store>,
        policies: PolicySet,
        config: GovernorConfig,
    ) -> Result<Self, GovernorError> {
        let env_sets = env_policies::load(store.as_ref(), &config).await?;
        let snap = Snapshot::build(
            Arc::new(policies),
            env_sets,
            store.principals().await?,
            store.tokens().await?,
        )?;
        let (updates, _) = broadcast::channel(1024);
        Ok(Governor {
            store,
            config,
            snapshot: RwLock::new(Arc::new(snap)),
            admin_lock: tokio::sync::Mutex::new(()),
            updates,
            clock: Arc::new(SystemClock),
            ids: Arc::new(RandomIds),
            outcomes: std::sync::OnceLock::new(),
        })
    }

    /// Reads the time from `clock` instead of the system clock (tests).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Takes new ids from `ids` instead of the random source (tests).
    #[must_use]
    pub fn with_ids(mut self, ids: Arc<dyn IdSource>) -> Self {
        self.ids = ids;
        self
    }

    /// The time as the governor sees it.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    pub(crate) fn new_id(&self, prefix: &str) -> Result<String, GovernorError> {
        self.ids.new_id(prefix)
    }

    pub fn config(&self) -> &GovernorConfig {
        &self.config
    }

    /// The store itself. Fronts must not write through it: their events go
    /// through [`Governor::record_event`], and reads through
    /// [`Governor::reader`]. (Kept while the PostgreSQL and MCP fronts move
    /// to the front driver.)
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// A read-only handle on the store (approvals, changes, decisions).
    pub fn reader(&self) -> StoreReader {
        StoreReader::new(Arc::clone(&self.store))
    }

    /// The current snapshot (cheap: an `Arc` clone).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        match self.snapshot.read() {
            Ok(s) => Arc::clone(&s),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    fn install(&self, snap: Snapshot) {
        let snap = Arc::new(snap);
        match self.snapshot.write() {
            Ok(mut s) => *s = snap,
            Err(poisoned) => *poisoned.into_inner() = snap,
        }
    }

    /// Re-reads principals and tokens from the store (after a change).
    async fn refresh_directory(&self) -> Result<(), GovernorError> {
        let cur = self.snapshot();
        let snap = Snapshot::build(
            Arc::clone(&cur.policies),
            cur.env_sets(),
            self.store.principals().await?,
            self.store.tokens().await?,
        )?;
        self.install(snap);
        Ok(())
    }

    /// The hash of the policy set loaded from disk (environments with a
    /// `policy` change of their own have theirs: [`Snapshot::policies_for`]).
    pub fn policy_hash(&self) -> String {
        self.snapshot().policies.hash().to_owned()
    }

    /// Swaps in a new policy set if the directory still fits its schema; the
    /// old set stays in force on any error. Both outcomes are audited.
    pub async fn reload_policies(
        &self,
        result: Result<PolicySet, String>,
        by: Option<&Principal>,
        request_id: Option<&str>,
    ) -> Result<String, GovernorError> {
        let _guard = self.admin_lock.lock().await;
        let built = result.and_then(|set| {
            let cur = self.snapshot();
            Snapshot::build(
                Arc::new(set),
                cur.env_sets(),
                cur.principals.values().cloned().collect(),
                cur.tokens.values().cloned().collect(),
            )
            .map_err(|e| e.to_string())
        });
        let mut ev = AuditEvent::new(EventKind::PolicyLoaded).with_request_id(request_id);
        ev.principal = by.map(Principal::reference);
        match built {
            Ok(snap) => {
                let hash = snap.policies.hash().to_owned();
                ev.policy_hash = Some(hash.clone());
                ev.detail = Some(serde_json::json!({
                    "policies": snap.policies.len(),
                    "previous": self.policy_hash(),
                }));
                self.store.commit(Write::event(ev)).await?;
                self.install(snap);
                Ok(hash)
            }
            Err(msg) => {
                ev.kind = EventKind::PolicyRejected;
                ev.policy_hash = Some(self.policy_hash());
                ev.reason = Some(truncate(&msg, 4000));
                self.store.commit(Write::event(ev)).await?;
                Err(GovernorError::Policy(msg))
            }
        }
    }

    /// Resolves a bearer token to an enabled principal. Every failure looks
    /// the same to the caller; the reason goes to [`Self::audit_auth_failure`].
    pub fn authenticate(&self, value: &str) -> Result<Principal, AuthFailure> {
        let (id, secret) = token::parse(value).ok_or(AuthFailure::Malformed)?;
        let snap = self.snapshot();
        let rec = snap.tokens.get(id).ok_or(AuthFailure::UnknownToken)?;
        if !rec.matches(secret) {
            return Err(AuthFailure::BadSecret);
        }
        if rec.revoked_at.is_some() {
            return Err(AuthFailure::Revoked);
        }
        if !rec.is_active(self.clock.now()) {
            return Err(AuthFailure::Expired);
        }
        let p = snap
            .principals
            .get(&rec.principal)
            .ok_or(AuthFailure::UnknownPrincipal)?;
        if p.disabled {
            return Err(AuthFailure::Disabled);
        }
        Ok(p.clone())
    }

    /// Records a failed authentication (a security event).
    pub async fn audit_auth_failure(
        &self,
        failure: AuthFailure,
        presented: Option<&str>,
        channel: &str,
        request_id: Option<&str>,
    ) -> Result<(), GovernorError> {
        let mut ev = AuditEvent::new(EventKind::AuthFailed).with_request_id(request_id);
        ev.reason = Some(failure.to_string());
        ev.detail = Some(serde_json::json!({
            "channel": channel,
            "token": presented.map(token::redacted),
        }));
        self.store.commit(Write::event(ev)).await?;
        Ok(())
    }
}

/// Why a token was not accepted (audited; never shown to the caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    #[error("no or malformed token")]
    Malformed,
    #[error("unknown token")]
    UnknownToken,
    #[error("wrong token secret")]
    BadSecret,
    #[error("token revoked")]
    Revoked,
    #[error("token expired")]
    Expired,
    #[error("token's principal no longer exists")]
    UnknownPrincipal,
    #[error("principal disabled")]
    Disabled,
}

pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}
