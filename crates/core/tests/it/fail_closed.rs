//! If the store cannot record a decision, nothing is allowed. A store that
//! fails on write is the one place a stand-in is used: a real disk failure
//! cannot be produced on demand in a test.
use async_trait::async_trait;
use countersign_core::approval::Approval;
use countersign_core::change::{Change, ChangeFilter};
use countersign_core::governor::{AllowAck, DecisionInput, GovernorConfig};
use countersign_core::policy::PolicySet;
use countersign_core::store::{ApprovalFilter, Store, StoreError, Write};
use countersign_core::verdict::{DecisionRecord, Verdict};
use countersign_core::{
    Governor, GovernorError, Principal, PrincipalKind, RequestHash, ResourceRef, Timestamp,
    TokenRecord,
};
use std::sync::Arc;

#[derive(Debug)]
struct BrokenDisk {
    principals: Vec<Principal>,
}

#[async_trait]
impl Store for BrokenDisk {
    async fn commit(&self, _: Write) -> Result<Vec<u64>, StoreError> {
        Err(StoreError::Unavailable("disk full".into()))
    }
    async fn principals(&self) -> Result<Vec<Principal>, StoreError> {
        Ok(self.principals.clone())
    }
    async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        Ok(vec![])
    }
    async fn approval(&self, _: &str) -> Result<Option<Approval>, StoreError> {
        Ok(None)
    }
    async fn approvals(&self, _: &ApprovalFilter) -> Result<Vec<Approval>, StoreError> {
        Ok(vec![])
    }
    async fn open_approval(
        &self,
        _: &str,
        _: &RequestHash,
    ) -> Result<Option<Approval>, StoreError> {
        Ok(None)
    }
    async fn due_approvals(&self, _: Timestamp, _: usize) -> Result<Vec<Approval>, StoreError> {
        Ok(vec![])
    }
    async fn decision(&self, _: &str) -> Result<Option<DecisionRecord>, StoreError> {
        Ok(None)
    }
    async fn change(&self, _: &str) -> Result<Option<Change>, StoreError> {
        Ok(None)
    }
    async fn changes(&self, _: &ChangeFilter) -> Result<Vec<Change>, StoreError> {
        Ok(Vec::new())
    }
}

#[tokio::test]
async fn an_unwritable_store_allows_nothing() {
    let alice = Principal {
        name: "alice".into(),
        kind: PrincipalKind::User,
        groups: vec!["engineer".into()],
        owner: None,
        email: None,
        disabled: false,
        created_at: Timestamp(0),
    };
    let store = Arc::new(BrokenDisk {
        principals: vec![alice.clone()],
    });
    let gov = Governor::open(
        store,
        PolicySet::starter().unwrap(),
        GovernorConfig::default(),
    )
    .await
    .unwrap();
    // sql.read is allowed for everyone by the starter policies …
    let input = DecisionInput {
        action: "sql.read".into(),
        resource: ResourceRef {
            kind: "Table".into(),
            id: "orders".into(),
        },
        environment: "prod".into(),
        context: Default::default(),
        reason: None,
        approval_id: None,
    };
    // … but not when the decision cannot be recorded.
    match gov.decide(&alice, input, None).await {
        Err(GovernorError::Unavailable(m)) => assert!(m.contains("disk full")),
        other => panic!("expected a fail-closed error, got {other:?}"),
    }
}

/// A store whose flush fails but whose commit works: tells which path each
/// decision took.
#[derive(Debug)]
struct NoFlush(BrokenDisk);

#[async_trait]
impl Store for NoFlush {
    async fn commit(&self, w: Write) -> Result<Vec<u64>, StoreError> {
        self.0.commit(w).await
    }
    async fn commit_committed(&self, _: Write) -> Result<Vec<u64>, StoreError> {
        Ok(vec![7])
    }
    async fn principals(&self) -> Result<Vec<Principal>, StoreError> {
        self.0.principals().await
    }
    async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        Ok(vec![])
    }
    async fn approval(&self, _: &str) -> Result<Option<Approval>, StoreError> {
        Ok(None)
    }
    async fn approvals(&self, _: &ApprovalFilter) -> Result<Vec<Approval>, StoreError> {
        Ok(vec![])
    }
    async fn open_approval(
        &self,
        _: &str,
        _: &RequestHash,
    ) -> Result<Option<Approval>, StoreError> {
        Ok(None)
    }
    async fn due_approvals(&self, _: Timestamp, _: usize) -> Result<Vec<Approval>, StoreError> {
        Ok(vec![])
    }
    async fn decision(&self, _: &str) -> Result<Option<DecisionRecord>, StoreError> {
        Ok(None)
    }
    async fn change(&self, _: &str) -> Result<Option<Change>, StoreError> {
        Ok(None)
    }
    async fn changes(&self, _: &ChangeFilter) -> Result<Vec<Change>, StoreError> {
        Ok(Vec::new())
    }
}

/// `AllowAck::Committed` relaxes only plain allows; everything else still
/// waits for a durable write (and so fails closed here).
#[tokio::test]
async fn relaxed_acks_apply_to_plain_allows_only() {
    let alice = Principal {
        name: "alice".into(),
        kind: PrincipalKind::User,
        groups: vec!["engineer".into()],
        owner: None,
        email: None,
        disabled: false,
        created_at: Timestamp(0),
    };
    let store = Arc::new(NoFlush(BrokenDisk {
        principals: vec![alice.clone()],
    }));
    let gov = Governor::open(
        store,
        PolicySet::starter().unwrap(),
        GovernorConfig::default(),
    )
    .await
    .unwrap();
    let input = |action: &str, kind: &str| DecisionInput {
        action: action.into(),
        resource: ResourceRef {
            kind: kind.into(),
            id: "orders".into(),
        },
        environment: "prod".into(),
        context: Default::default(),
        reason: None,
        approval_id: None,
    };
    let read = gov
        .decide_with(
            &alice,
            input("sql.read", "Table"),
            None,
            AllowAck::Committed,
        )
        .await
        .unwrap();
    assert_eq!(read.verdict, Verdict::Allow);
    assert_eq!(read.audit_seq, 7, "went through commit_committed");
    // The same read without the opt-in waits for the flush.
    assert!(
        gov.decide(&alice, input("sql.read", "Table"), None)
            .await
            .is_err()
    );
    // A write in prod needs an approval: opening it is always durable.
    assert!(
        gov.decide_with(
            &alice,
            input("sql.write", "Table"),
            None,
            AllowAck::Committed
        )
        .await
        .is_err()
    );
    // A denial is always durable.
    assert!(
        gov.decide_with(
            &alice,
            input("iam.change", "Role"),
            None,
            AllowAck::Committed
        )
        .await
        .is_err()
    );
}
