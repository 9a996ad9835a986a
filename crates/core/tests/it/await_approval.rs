//! `Governor::await_approval`: the one wait for an approval's decision.
//! A decision made before the wait starts is seen by its first read; one
//! made during the wait ends it at once; the wait is bounded, cancellable,
//! and sees a TTL pass on the governor's clock.

use crate::common::{Env, input};
use countersign_core::governor::Awaited;
use countersign_core::{ApprovalState, VoteDecision};
use serde_json::json;
use std::future::{pending, ready};
use std::time::{Duration, Instant};

const LONG: Duration = Duration::from_secs(30);

async fn pending_write(env: &Env) -> String {
    let d = env
        .governor
        .decide(
            &env.p("alice"),
            input("sql.write", "orders", "prod", json!({})),
            None,
        )
        .await
        .unwrap();
    d.approval.unwrap().id
}

#[tokio::test]
async fn a_decision_made_before_the_wait_starts_is_seen_at_once() {
    // The race the PostgreSQL and MCP fronts lost: a reviewer approves
    // between the front's decision and its wait. The wait must not sit
    // out its whole budget.
    for (vote, want) in [
        (VoteDecision::Approve, ApprovalState::Approved),
        (VoteDecision::Deny, ApprovalState::Denied),
    ] {
        let env = Env::start().await;
        let id = pending_write(&env).await;
        env.vote("rita", &id, vote).await;
        let started = Instant::now();
        let got = env
            .governor
            .await_approval(&id, LONG, pending(), |_| {})
            .await
            .unwrap();
        assert!(started.elapsed() < Duration::from_secs(5), "{got:?}");
        match (want, got) {
            (ApprovalState::Approved, Awaited::Approved(a)) => assert_eq!(a.id, id),
            (ApprovalState::Denied, g @ Awaited::Ended { .. }) => {
                assert_eq!(g.reason(), Some("checked"));
                let Awaited::Ended { state, .. } = g else {
                    unreachable!()
                };
                assert_eq!(state, ApprovalState::Denied);
            }
            (w, g) => panic!("wanted {w:?}, got {g:?}"),
        }
    }
}

#[tokio::test]
async fn a_decision_during_the_wait_ends_it_and_votes_are_reported() {
    let env = Env::start().await;
    let d = env
        .governor
        .decide(
            &env.p("alice"),
            input("sql.ddl", "orders", "prod", json!({})),
            None,
        )
        .await
        .unwrap();
    let id = d.approval.unwrap().id;
    let g = env.governor.clone();
    let wid = id.clone();
    let waiter = tokio::spawn(async move {
        let mut seen = Vec::new();
        let r = g
            .await_approval(&wid, LONG, pending(), |a| seen.push(a.votes.len()))
            .await
            .unwrap();
        (r, seen)
    });
    // Let the waiter subscribe and read first.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    env.vote("rita", &id, VoteDecision::Approve).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    env.vote("ruth", &id, VoteDecision::Approve).await;
    let (r, seen) = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("the wait did not end on approval")
        .unwrap();
    assert!(matches!(r, Awaited::Approved(_)), "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // The first vote (quorum not yet reached) was reported as progress.
    assert_eq!(seen, vec![1]);
}

#[tokio::test]
async fn the_wait_is_bounded_cancellable_and_sees_the_ttl() {
    let env = Env::start().await;
    let id = pending_write(&env).await;
    // Bounded: still pending at the deadline.
    let r = env
        .governor
        .await_approval(&id, Duration::from_millis(50), pending(), |_| {})
        .await
        .unwrap();
    assert!(matches!(r, Awaited::Pending(ref a) if a.id == id), "{r:?}");
    // Cancellable: the front's client went away.
    let r = env
        .governor
        .await_approval(&id, LONG, ready(()), |_| {})
        .await
        .unwrap();
    assert_eq!(r, Awaited::Abandoned);
    // Past its TTL on the governor's clock, it is expired at once, before
    // any sweeper recorded it.
    env.clock.advance(Duration::from_secs(3601));
    let r = env
        .governor
        .await_approval(&id, LONG, pending(), |_| {})
        .await
        .unwrap();
    assert!(
        matches!(
            r,
            Awaited::Ended {
                state: ApprovalState::Expired,
                ..
            }
        ),
        "{r:?}"
    );
}

#[tokio::test]
async fn an_unknown_approval_is_an_error_not_a_wait() {
    let env = Env::start().await;
    let e = env
        .governor
        .await_approval(
            "apr_00000000000000000000000000000099",
            LONG,
            pending(),
            |_| {},
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), "not_found");
}
