//! The approval rules, end to end over HTTP against a served instance
//! running the starter policies.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a failed step should fail the test loudly"
)]

use crate::common::Server;
use serde_json::{Value, json};

async fn setup() -> (Server, Tokens) {
    let s = Server::start();
    let t = Tokens {
        alice: s.principal("alice", "user", &["engineer"], None).await,
        // An engineer who is also a reviewer: the self-approval case.
        eve: s
            .principal("eve", "user", &["engineer", "reviewer"], None)
            .await,
        rita: s.principal("rita", "user", &["reviewer"], None).await,
        sam: s.principal("sam", "user", &["reviewer"], None).await,
        ed: s.principal("ed", "user", &["engineer"], None).await,
        // An agent whose owner is a reviewer: the owner case.
        bot: s
            .principal("bot", "agent", &["engineer"], Some("rita"))
            .await,
        ci: s.principal("ci", "service", &["reviewer"], None).await,
        reviewer_bot: s
            .principal("reviewer-bot", "agent", &["reviewer"], Some("alice"))
            .await,
    };
    (s, t)
}

struct Tokens {
    alice: String,
    eve: String,
    rita: String,
    sam: String,
    ed: String,
    bot: String,
    ci: String,
    reviewer_bot: String,
}

fn drop_table(table: &str) -> Value {
    json!({"sql": {"statement": format!("DROP TABLE {table}")}})
}

fn approval_id(d: &Value) -> String {
    assert_eq!(d["verdict"], "pending", "{d}");
    d["approval"]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn two_reviewers_release_an_agents_ddl_exactly_once() {
    let (s, t) = setup().await;
    let bot = s.client(&t.bot);
    let d = bot
        .decide("sql.ddl", "Table", "orders", "prod", drop_table("orders"))
        .await;
    let id = approval_id(&d);
    assert_eq!(d["approval"]["quorum"], 2);
    assert_eq!(
        d["policies"],
        json!(["ddl-and-exports-in-prod-need-two-reviewers"])
    );

    // Asking again while pending points at the same approval.
    let again = bot
        .decide("sql.ddl", "Table", "orders", "prod", drop_table("orders"))
        .await;
    assert_eq!(approval_id(&again), id);

    let (st, a) = s
        .client(&t.sam)
        .vote(&id, "approve", Some("backup verified"))
        .await;
    assert_eq!(st, 200, "{a}");
    assert_eq!(a["state"], "pending");
    assert_eq!(a["approvals"], 1);

    // Still pending after one vote: the agent is not allowed yet.
    let d = bot
        .decide("sql.ddl", "Table", "orders", "prod", drop_table("orders"))
        .await;
    assert_eq!(d["verdict"], "pending");

    // sam voting again counts once.
    let (st, e) = s.client(&t.sam).vote(&id, "approve", Some("again")).await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (403, Some("already_voted"))
    );

    let (st, a) = s
        .client(&t.eve)
        .vote(&id, "approve", Some("ticket 42"))
        .await;
    assert_eq!(st, 200, "{a}");
    assert_eq!(a["state"], "approved");

    let d = bot
        .decide("sql.ddl", "Table", "orders", "prod", drop_table("orders"))
        .await;
    assert_eq!(d["verdict"], "allow", "{d}");
    assert_eq!(d["approved_by"], id);

    // Single use: the identical request needs a new approval.
    let d2 = bot
        .decide("sql.ddl", "Table", "orders", "prod", drop_table("orders"))
        .await;
    assert_ne!(approval_id(&d2), id);
    let (_, a) = s.admin().get(&format!("/v1/approvals/{id}")).await;
    assert_eq!(a["state"], "executed");
    assert_eq!(a["executed_by"], d["id"]);

    // The trail: the decision entries, both votes, approval, execution.
    let admin = s.admin();
    let executed = admin.audit("approval.executed").await;
    assert_eq!(executed.len(), 1);
    assert_eq!(executed[0]["approval_id"], id);
    let approved = admin.audit("approval.approved").await;
    assert_eq!(approved.len(), 1);
    let voters: Vec<&str> = approved[0]["votes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["voter"].as_str().unwrap())
        .collect();
    assert_eq!(voters, ["sam", "eve"]);
}

#[tokio::test]
async fn an_approval_never_releases_a_different_payload() {
    let (s, t) = setup().await;
    let bot = s.client(&t.bot);
    let d = bot
        .decide("sql.ddl", "Table", "orders", "prod", drop_table("orders"))
        .await;
    let id = approval_id(&d);
    for who in [&t.sam, &t.eve] {
        let (st, a) = s.client(who).vote(&id, "approve", Some("ok")).await;
        assert_eq!(st, 200, "{a}");
    }
    // Same action and resource, other statement: a new approval, not an allow.
    let other = bot
        .decide(
            "sql.ddl",
            "Table",
            "orders",
            "prod",
            drop_table("orders CASCADE"),
        )
        .await;
    assert_ne!(approval_id(&other), id);
    // Naming the approval for a different payload is refused outright.
    let (st, e) = bot
        .post(
            "/v1/decisions",
            json!({"action": "sql.ddl", "resource": {"type": "Table", "id": "customers"},
                   "environment": "prod", "context": drop_table("customers"), "approval_id": id}),
        )
        .await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (409, Some("approval_mismatch")),
        "{e}"
    );
    // Another principal cannot use it either.
    let alice = s.client(&t.alice);
    let d = alice
        .decide("sql.ddl", "Table", "orders", "prod", drop_table("orders"))
        .await;
    assert_ne!(approval_id(&d), id);
    // The approved request itself still goes through, once.
    let ok = bot
        .decide("sql.ddl", "Table", "orders", "prod", drop_table("orders"))
        .await;
    assert_eq!(ok["verdict"], "allow");
}

#[tokio::test]
async fn separation_of_duties() {
    let (s, t) = setup().await;
    // eve (engineer + reviewer) cannot approve her own write.
    let d = s
        .client(&t.eve)
        .decide("sql.write", "Table", "orders", "prod", json!({}))
        .await;
    let id = approval_id(&d);
    let (st, e) = s.client(&t.eve).vote(&id, "approve", None).await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (403, Some("self_approval"))
    );

    // Agents and services never approve, even in the reviewer group.
    for tok in [&t.reviewer_bot, &t.ci] {
        let (st, e) = s.client(tok).vote(&id, "approve", None).await;
        assert_eq!(
            (st, e["error"]["code"].as_str()),
            (403, Some("approver_not_human")),
            "{e}"
        );
    }
    // Not in an eligible group.
    let (st, e) = s.client(&t.ed).vote(&id, "approve", None).await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (403, Some("approver_not_eligible"))
    );

    // rita owns `bot`: she may not approve the agent's request.
    let d = s
        .client(&t.bot)
        .decide("sql.write", "Table", "orders", "prod", json!({}))
        .await;
    let bot_req = approval_id(&d);
    let (st, e) = s.client(&t.rita).vote(&bot_req, "approve", None).await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (403, Some("owner_approval"))
    );
    // …but sam may.
    let (st, a) = s.client(&t.sam).vote(&bot_req, "approve", None).await;
    assert_eq!((st, a["state"].as_str()), (200, Some("approved")));

    // Every refusal above is a security event in the audit log.
    let refused = s.admin().audit("approval.vote_refused").await;
    let codes: Vec<&str> = refused
        .iter()
        .map(|e| e["detail"]["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        [
            "self_approval",
            "approver_not_human",
            "approver_not_human",
            "approver_not_eligible",
            "owner_approval"
        ]
    );
}

#[tokio::test]
async fn any_eligible_deny_ends_it_and_finished_approvals_take_no_votes() {
    let (s, t) = setup().await;
    let bot = s.client(&t.bot);
    let d = bot
        .decide("sql.ddl", "Table", "orders", "prod", drop_table("orders"))
        .await;
    let id = approval_id(&d);
    let (_, a) = s.client(&t.sam).vote(&id, "approve", Some("fine")).await;
    assert_eq!(a["state"], "pending");
    let (st, a) = s
        .client(&t.eve)
        .vote(&id, "deny", Some("not during the sale"))
        .await;
    assert_eq!((st, a["state"].as_str()), (200, Some("denied")));
    let (st, e) = s.client(&t.rita).vote(&id, "approve", Some("late")).await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (403, Some("approval_finished"))
    );
    // The denied request opens a new approval when asked again; it is not allowed.
    let d = bot
        .decide("sql.ddl", "Table", "orders", "prod", drop_table("orders"))
        .await;
    assert_ne!(approval_id(&d), id);
}

#[tokio::test]
async fn requester_cancels_and_others_cannot() {
    let (s, t) = setup().await;
    let d = s
        .client(&t.bot)
        .decide("sql.write", "Table", "orders", "prod", json!({}))
        .await;
    let id = approval_id(&d);
    let (st, e) = s
        .client(&t.sam)
        .post(&format!("/v1/approvals/{id}/cancel"), json!({}))
        .await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (403, Some("not_requester"))
    );
    let (st, a) = s
        .client(&t.bot)
        .post(&format!("/v1/approvals/{id}/cancel"), json!({}))
        .await;
    assert_eq!((st, a["state"].as_str()), (200, Some("cancelled")));
    let (st, e) = s.client(&t.sam).vote(&id, "approve", None).await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (403, Some("approval_finished"))
    );
}

#[tokio::test]
async fn votes_on_unknown_approvals_are_404() {
    let (s, t) = setup().await;
    let (st, e) = s
        .client(&t.sam)
        .vote("apr_00000000000000000000000000000000", "approve", None)
        .await;
    assert_eq!((st, e["error"]["code"].as_str()), (404, Some("not_found")));
}

/// 50 concurrent votes and cancels on one approval end in exactly one
/// terminal state, recorded once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_votes_and_cancels_end_in_one_terminal_state() {
    let s = Server::start();
    let requester = s
        .principal("agent-1", "agent", &["engineer"], Some("admin"))
        .await;
    let mut reviewers = Vec::new();
    for i in 0..48 {
        reviewers.push(
            s.principal(&format!("r{i}"), "user", &["reviewer"], None)
                .await,
        );
    }
    for round in 0..3 {
        let bot = s.client(&requester);
        let d = bot
            .decide(
                "sql.ddl",
                "Table",
                &format!("t{round}"),
                "prod",
                drop_table("t"),
            )
            .await;
        let id = approval_id(&d);
        let mut tasks = Vec::new();
        for (i, tok) in reviewers.iter().enumerate() {
            let c = s.client(tok);
            let id = id.clone();
            // Mostly approvals, some denials, in a different mix each round.
            let decision = if (i + round) % 7 == 3 {
                "deny"
            } else {
                "approve"
            };
            tasks.push(tokio::spawn(async move {
                c.vote(&id, decision, Some("race")).await
            }));
        }
        for _ in 0..2 {
            let c = s.client(&requester);
            let id = id.clone();
            tasks.push(tokio::spawn(async move {
                c.post(&format!("/v1/approvals/{id}/cancel"), json!({}))
                    .await
            }));
        }
        let mut ok = 0;
        for t in tasks {
            let (st, v) = t.await.unwrap();
            match st {
                200 => ok += 1,
                403 => assert!(
                    matches!(v["error"]["code"].as_str(), Some("approval_finished")),
                    "unexpected refusal {v}"
                ),
                other => panic!("unexpected status {other}: {v}"),
            }
        }
        assert!(ok >= 1);
        let (_, a) = s.admin().get(&format!("/v1/approvals/{id}")).await;
        let state = a["state"].as_str().unwrap().to_owned();
        assert!(
            ["approved", "denied", "cancelled"].contains(&state.as_str()),
            "{state}"
        );
        // Exactly one terminal event for this approval in the log.
        let mut terminal = 0;
        for kind in [
            "approval.approved",
            "approval.denied",
            "approval.cancelled",
            "approval.expired",
        ] {
            terminal += s
                .admin()
                .audit(kind)
                .await
                .iter()
                .filter(|e| e["approval_id"] == id.as_str())
                .count();
        }
        assert_eq!(terminal, 1, "round {round}: {state}");
        // Accepted votes are exactly the votes recorded.
        let votes = a["votes"].as_array().unwrap().len();
        let cancelled = usize::from(state == "cancelled");
        assert_eq!(votes + cancelled, ok, "round {round}");
        if state == "approved" {
            assert_eq!(a["approvals"], 2, "quorum reached exactly once");
        }
    }
}
