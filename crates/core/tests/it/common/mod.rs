//! A governor over a real SQLite store in a temporary directory, on a fake
//! clock with predictable ids, and a few people.
#![allow(dead_code, reason = "test harness")]

use countersign_core::governor::{DecisionInput, GovernorConfig, NewPrincipal, VoteInput};
use countersign_core::ids::SequentialIds;
use countersign_core::policy::{PolicySet, PolicySource, STARTER_SCHEMA};
use countersign_core::time::FakeClock;
use countersign_core::{Governor, Principal, PrincipalKind, ResourceRef, Timestamp, VoteDecision};
use countersign_store::{AuditFilter, SqliteStore};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// 2026-01-01T00:00:00Z.
pub const T0: Timestamp = Timestamp(1_767_225_600_000);

pub const POLICIES: &str = r#"
@id("reads") permit (principal, action == Action::"sql.read", resource);

@id("agents-read-customers-masked")
@obligation_mask("customers.email")
permit (principal is Agent, action == Action::"sql.read", resource == Table::"customers");

@id("prod-writes-need-a-reviewer")
@message("a production write needs one reviewer")
@approval_quorum("1")
@approval_groups("reviewer")
@approval_ttl("1h")
permit (principal, action == Action::"sql.write", resource)
when { context.environment == "prod" && context.approval.granted };

@id("prod-ddl-needs-two-reviewers")
@approval_quorum("2")
@approval_groups("reviewer")
@approval_ttl("1h")
permit (principal, action == Action::"sql.ddl", resource)
when {
  context.environment == "prod" && context.approval.granted && context.approval.count >= 2
};

@id("no-writes-to-vault")
@message("the vault is never written")
forbid (principal, action == Action::"sql.write", resource == Table::"vault");
"#;

pub struct Env {
    pub governor: Arc<Governor>,
    pub clock: Arc<FakeClock>,
    pub store: Arc<SqliteStore>,
    pub people: HashMap<String, Arc<Principal>>,
    pub tokens: HashMap<String, String>,
    _dir: tempfile::TempDir,
}

impl Env {
    pub async fn start() -> Env {
        Env::with_policies(POLICIES).await
    }

    pub async fn with_policies(policies: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("cs.db")).unwrap());
        let set = PolicySet::compile(
            "schema.cedarschema",
            STARTER_SCHEMA,
            &[PolicySource::new("policies.cedar", policies)],
        )
        .unwrap();
        let clock = Arc::new(FakeClock::at(T0));
        let governor = Arc::new(
            Governor::open(store.clone(), set, GovernorConfig::default())
                .await
                .unwrap()
                .with_clock(clock.clone())
                .with_ids(Arc::new(SequentialIds::default())),
        );
        let cast: [(&str, PrincipalKind, &[&str], Option<&str>); 4] = [
            ("alice", PrincipalKind::User, &["engineer"], None),
            ("rita", PrincipalKind::User, &["reviewer"], None),
            ("ruth", PrincipalKind::User, &["reviewer"], None),
            ("bot", PrincipalKind::Agent, &[], Some("alice")),
        ];
        let mut people = HashMap::new();
        let mut tokens = HashMap::new();
        for (name, kind, groups, owner) in cast {
            let p = governor
                .add_principal(
                    None,
                    NewPrincipal {
                        name: name.into(),
                        kind,
                        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
                        owner: owner.map(str::to_owned),
                        email: None,
                    },
                    None,
                )
                .await
                .unwrap();
            people.insert(name.to_owned(), Arc::new(p));
            let t = governor
                .create_token(None, name, None, None, None)
                .await
                .unwrap();
            tokens.insert(name.to_owned(), t.value);
        }
        Env {
            governor,
            clock,
            store,
            people,
            tokens,
            _dir: dir,
        }
    }

    pub fn p(&self, name: &str) -> Arc<Principal> {
        Arc::clone(&self.people[name])
    }

    pub async fn vote(&self, who: &str, approval: &str, decision: VoteDecision) {
        self.governor
            .vote(
                &self.p(who),
                approval,
                VoteInput {
                    decision,
                    reason: Some("checked".into()),
                    via: "api".into(),
                },
                None,
            )
            .await
            .unwrap();
    }

    pub async fn audit(&self, kind: &str) -> Vec<Value> {
        self.store
            .audit_entries(AuditFilter {
                limit: 10_000,
                kind: Some(kind.into()),
                ..AuditFilter::default()
            })
            .await
            .unwrap()
            .into_iter()
            .map(|e| serde_json::from_slice(&e.entry).unwrap())
            .collect()
    }
}

/// `action` on `Table::"table"` in `env`, with `context`.
pub fn input(action: &str, table: &str, env: &str, context: Value) -> DecisionInput {
    DecisionInput {
        action: action.into(),
        resource: ResourceRef {
            kind: "Table".into(),
            id: table.into(),
        },
        environment: env.into(),
        context: match context {
            Value::Object(m) => m,
            _ => Map::new(),
        },
        reason: None,
        approval_id: None,
    }
}
