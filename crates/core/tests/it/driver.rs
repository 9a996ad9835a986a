//! The front driver, through a small front: phases in order, refusals with
//! stable codes, obligations a front cannot carry out refused, holds that
//! end in a redemption, and every allow ending in exactly one outcome.

use crate::common::{Env, input};
use countersign_core::front::{
    Allowed, Driver, Front, FrontSpec, Held, Obligations, Refusal, Translated, Unmatched,
};
use countersign_core::governor::DecisionInput;
use countersign_core::verdict::{Decision, Outcome};
use countersign_core::{Approval, Principal, VoteDecision};
use serde_json::json;
use std::sync::Mutex;
use std::time::Duration;

/// A front whose requests are `(token, table, env)`; it "forwards" by
/// recording what it did.
struct Toy {
    hold: Duration,
    enforces: &'static [&'static str],
    log: Mutex<Vec<String>>,
    /// Report outcomes, or drop the `Allowed` without a word.
    report: bool,
}

struct Req {
    token: Option<String>,
    action: &'static str,
    table: &'static str,
    env: &'static str,
}

impl Toy {
    fn new(hold: Duration) -> Toy {
        Toy {
            hold,
            enforces: &[],
            log: Mutex::new(Vec::new()),
            report: true,
        }
    }

    fn log(&self, s: String) {
        self.log.lock().unwrap().push(s);
    }

    fn logged(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

#[derive(Debug, PartialEq)]
enum Reply {
    Done(String),
    No(&'static str, Option<String>),
}

impl Front for Toy {
    type Request = Req;
    type Reply = Reply;

    fn spec(&self) -> FrontSpec {
        FrontSpec {
            name: "toy",
            obligations: Obligations::Enforces(self.enforces),
            hold: self.hold,
            heartbeat: None,
        }
    }

    fn credential<'r>(&self, req: &'r Req) -> Option<&'r str> {
        req.token.as_deref()
    }

    async fn translate(&self, who: &Principal, req: &mut Req, _: &str) -> Translated<Reply> {
        self.log(format!("translate {}", who.name));
        if req.table == "nowhere" {
            return Translated::Unmatched(Unmatched {
                environment: Some(req.env.into()),
                reason: "no rule maps `nowhere`".into(),
                detail: json!({"table": req.table}),
            });
        }
        Translated::Input(input(req.action, req.table, req.env, json!({})))
    }

    async fn held(&self, _: &Req, d: &Decision) -> Held {
        self.log(format!("held {}", d.approval.as_ref().unwrap().id));
        Held::Wait
    }

    fn progress(&self, _: &Req, a: &Approval) {
        self.log(format!("progress {}", a.votes.len()));
    }

    async fn forward(&self, req: Req, allowed: Allowed, _: &str) -> Reply {
        let d = allowed.decision().id.clone();
        self.log(format!("forward {} {d}", req.table));
        if self.report {
            allowed.report(Outcome {
                status: "executed".into(),
                rows_affected: Some(1),
                ..Outcome::default()
            });
        } else {
            drop(allowed);
        }
        Reply::Done(d)
    }

    fn refuse(&self, _: &Req, r: Refusal, _: &str) -> Reply {
        Reply::No(r.code(), r.decision().map(|d| d.id.clone()))
    }
}

fn req(env: &Env, who: &str, action: &'static str, table: &'static str) -> Req {
    Req {
        token: Some(env.tokens[who].clone()),
        action,
        table,
        env: "prod",
    }
}

/// The outcome recorded for decision `id`, once the batcher wrote it.
async fn outcome_of(env: &Env, id: &str) -> Outcome {
    for _ in 0..200 {
        if let Some(o) = env
            .governor
            .reader()
            .decision(id)
            .await
            .unwrap()
            .and_then(|r| r.outcome)
        {
            return o;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no outcome for {id}");
}

/// The approval a request is held for, once the hold began.
async fn held_approval(toy: &Toy) -> String {
    loop {
        if let Some(l) = toy.logged().iter().find(|l| l.starts_with("held ")) {
            return l.trim_start_matches("held ").to_owned();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn an_allowed_request_is_forwarded_and_its_outcome_recorded() {
    let env = Env::start().await;
    let toy = Toy::new(Duration::ZERO);
    let driver = Driver::new(env.governor.clone(), toy.spec());
    let r = driver
        .serve(&toy, req(&env, "alice", "sql.read", "orders"), "req_1")
        .await;
    let Reply::Done(id) = r else { panic!("{r:?}") };
    assert_eq!(
        toy.logged(),
        vec!["translate alice", &format!("forward orders {id}")]
    );
    let o = outcome_of(&env, &id).await;
    assert_eq!((o.status.as_str(), o.rows_affected), ("executed", Some(1)));
}

#[tokio::test]
async fn refusals_have_stable_codes_and_are_audited() {
    let env = Env::start().await;
    let toy = Toy::new(Duration::ZERO);
    let driver = Driver::new(env.governor.clone(), toy.spec());
    // No credential: refused, nothing recorded.
    let mut r = req(&env, "alice", "sql.read", "orders");
    r.token = None;
    assert_eq!(
        driver.serve(&toy, r, "req_1").await,
        Reply::No("unauthenticated", None)
    );
    assert!(env.audit("auth.failed").await.is_empty());
    // A wrong one: refused the same way, its reason audited.
    let mut r = req(&env, "alice", "sql.read", "orders");
    r.token = Some("cs_nope_nope".into());
    assert_eq!(
        driver.serve(&toy, r, "req_2").await,
        Reply::No("unauthenticated", None)
    );
    let failed = env.audit("auth.failed").await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["detail"]["channel"], "toy");
    // Unmatched: refused, audited with what the front saw.
    let r = driver
        .serve(&toy, req(&env, "alice", "sql.read", "nowhere"), "req_3")
        .await;
    assert_eq!(r, Reply::No("no_rule", None));
    let rejected = env.audit("request.rejected").await;
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0]["detail"]["channel"], "toy");
    assert_eq!(rejected[0]["detail"]["table"], "nowhere");
    assert_eq!(rejected[0]["request_id"], "req_3");
    // Denied by policy.
    let r = driver
        .serve(&toy, req(&env, "alice", "sql.write", "vault"), "req_4")
        .await;
    assert!(matches!(r, Reply::No("denied", Some(_))), "{r:?}");
    // Pending, and this front does not hold.
    let r = driver
        .serve(&toy, req(&env, "alice", "sql.write", "orders"), "req_5")
        .await;
    assert!(matches!(r, Reply::No("approval_pending", Some(_))), "{r:?}");
    // Invalid: an unknown environment.
    let mut r = req(&env, "alice", "sql.read", "orders");
    r.env = "moon";
    assert_eq!(
        driver.serve(&toy, r, "req_6").await,
        Reply::No("invalid_request", None)
    );
    // Only translate ran, never forward.
    assert!(toy.logged().iter().all(|l| l.starts_with("translate")));
}

#[tokio::test]
async fn an_obligation_the_front_cannot_carry_out_is_refused() {
    let env = Env::start().await;
    // The bot reads customers only masked; this front enforces nothing.
    let toy = Toy::new(Duration::ZERO);
    let driver = Driver::new(env.governor.clone(), toy.spec());
    let r = driver
        .serve(&toy, req(&env, "bot", "sql.read", "customers"), "req_1")
        .await;
    let Reply::No("obligation_unsupported", Some(id)) = r else {
        panic!("{r:?}")
    };
    let o = outcome_of(&env, &id).await;
    assert_eq!(o.status, "skipped");
    assert!(o.error.unwrap().contains("mask"));
    // A front that masks gets it, obligations attached.
    let mut toy = Toy::new(Duration::ZERO);
    toy.enforces = &["mask"];
    let driver = Driver::new(env.governor.clone(), toy.spec());
    let r = driver
        .serve(&toy, req(&env, "bot", "sql.read", "customers"), "req_2")
        .await;
    assert!(matches!(r, Reply::Done(_)), "{r:?}");
}

#[tokio::test]
async fn a_held_request_is_released_once_approved_and_redeems_its_approval() {
    let env = Env::start().await;
    let toy = std::sync::Arc::new(Toy::new(Duration::from_secs(30)));
    let driver = Driver::new(env.governor.clone(), toy.spec());
    let t = toy.clone();
    let r = req(&env, "alice", "sql.ddl", "orders");
    let held = tokio::spawn(async move { driver.serve(t.as_ref(), r, "req_1").await });
    // Wait for the hold to begin, then two reviewers approve.
    let id = held_approval(&toy).await;
    env.vote("rita", &id, VoteDecision::Approve).await;
    env.vote("ruth", &id, VoteDecision::Approve).await;
    let r = tokio::time::timeout(Duration::from_secs(10), held)
        .await
        .unwrap()
        .unwrap();
    let Reply::Done(decision) = r else {
        panic!("{r:?}")
    };
    let log = toy.logged();
    assert!(log.contains(&"progress 1".to_owned()), "{log:?}");
    assert!(log.last().unwrap().starts_with("forward orders"), "{log:?}");
    // The approval was used by this very decision.
    let a = env.governor.reader().approval(&id).await.unwrap().unwrap();
    assert_eq!(a.state.as_str(), "executed");
    assert_eq!(a.executed_by.as_deref(), Some(decision.as_str()));
}

#[tokio::test]
async fn a_denied_hold_and_a_dropped_allow_both_end_in_the_log() {
    let env = Env::start().await;
    let toy = std::sync::Arc::new(Toy::new(Duration::from_secs(30)));
    let driver = Driver::new(env.governor.clone(), toy.spec());
    let t = toy.clone();
    let r = req(&env, "alice", "sql.write", "orders");
    let d2 = driver.clone();
    let held = tokio::spawn(async move { d2.serve(t.as_ref(), r, "req_1").await });
    let id = held_approval(&toy).await;
    env.vote("rita", &id, VoteDecision::Deny).await;
    let r = held.await.unwrap();
    assert!(matches!(r, Reply::No("approval_denied", Some(_))), "{r:?}");

    // A front that drops its `Allowed` without a report still leaves one.
    let mut toy = Toy::new(Duration::ZERO);
    toy.report = false;
    let r = driver
        .serve(&toy, req(&env, "alice", "sql.read", "orders"), "req_2")
        .await;
    let Reply::Done(id) = r else { panic!("{r:?}") };
    let o = outcome_of(&env, &id).await;
    assert_eq!(o.status, "failed");
    assert!(o.error.unwrap().contains("unknown"));
}

#[tokio::test]
async fn govern_alone_is_the_same_path() {
    // Fronts with their own request loop (a PostgreSQL session) call the
    // phases themselves.
    let env = Env::start().await;
    let toy = Toy::new(Duration::ZERO);
    let driver = Driver::new(env.governor.clone(), toy.spec());
    let who = driver
        .authenticate(Some(&env.tokens["alice"]), "req_1")
        .await
        .unwrap();
    let r = req(&env, "alice", "sql.read", "orders");
    let i: DecisionInput = input("sql.read", "orders", "prod", json!({}));
    let allowed = driver.govern(&toy, &r, &who, i, "req_1").await.unwrap();
    let id = allowed.decision().id.clone();
    allowed.report(Outcome {
        status: "executed".into(),
        ..Outcome::default()
    });
    assert_eq!(outcome_of(&env, &id).await.status, "executed");
}
