//! Approval notifications end to end: the real gateway with a `[notify]`
//! section, a local fake of the Slack Web API, and local Teams/webhook
//! receivers. Webhook signatures are checked with the `standardwebhooks`
//! package from PyPI (an implementation this project did not write).

use crate::common::notify_fakes::{
    FakeSlack, Receiver, python_with_standardwebhooks, verify_with_standardwebhooks,
};
use crate::common::{Server, free_port};
use countersign_notify::slack::verify::slack_signature;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const BOT_TOKEN: &str = "xoxb-test-token";
const WH_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn write_config(s: &Server, notify: &str) {
    let path = s.data_dir().join("countersign.toml");
    let mut cfg = std::fs::read_to_string(&path).unwrap();
    cfg.push('\n');
    cfg.push_str(notify);
    std::fs::write(&path, cfg).unwrap();
    std::fs::write(s.data_dir().join("slack-signing"), SIGNING_SECRET).unwrap();
    std::fs::write(s.data_dir().join("slack-token"), BOT_TOKEN).unwrap();
    std::fs::write(s.data_dir().join("wh-secret"), WH_SECRET).unwrap();
}

async fn add_user(s: &Server, name: &str, groups: &[&str], email: &str) -> String {
    let admin = s.admin();
    let (st, v) = admin
        .post(
            "/v1/principals",
            json!({"name": name, "kind": "user", "groups": groups, "email": email}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let (st, t) = admin.post("/v1/tokens", json!({"principal": name})).await;
    assert_eq!(st, 201, "{t}");
    t["token"].as_str().unwrap().to_owned()
}

fn write_to(table: &str) -> Value {
    json!({"sql": {"statement": format!("UPDATE {table} SET x = 1")}})
}

/// A block_actions click as Slack sends it, signed at `ts`.
fn click(
    user: &str,
    action: &str,
    approval: &str,
    ts: i64,
    secret: &str,
) -> (String, String, String) {
    let payload = json!({
        "type": "block_actions",
        "user": {"id": user, "username": user.to_lowercase()},
        "channel": {"id": "COPS"},
        "message": {"ts": "1700000000.000001"},
        "actions": [{"action_id": action, "value": approval, "type": "button"}],
    });
    let body = serde_urlencoded_pair("payload", &payload.to_string());
    let sig = slack_signature(secret, ts, body.as_bytes());
    (body, ts.to_string(), sig)
}

fn serde_urlencoded_pair(k: &str, v: &str) -> String {
    let mut out = format!("{k}=");
    for b in v.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

async fn post_click(s: &Server, (body, ts, sig): &(String, String, String)) -> u16 {
    reqwest::Client::new()
        .post(format!("{}/v1/notify/slack/interactions", s.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", ts)
        .header("x-slack-signature", sig)
        .body(body.clone())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn slack_message_click_votes_and_updates_in_place() {
    let slack = FakeSlack::start(BOT_TOKEN, None).await;
    let mut s = Server::prepare(None);
    write_config(
        &s,
        &format!(
            r#"[notify]
public_url = "https://cs.example.com"
[notify.slack]
api_url = "{}"
bot_token_file = "slack-token"
signing_secret_file = "slack-signing"
users = {{ UEVE = "eve" }}
[[notify.routes]]
environments = ["prod"]
slack = ["COPS"]
"#,
            slack.url
        ),
    );
    s.spawn();
    let eve = add_user(&s, "eve", &["engineer", "reviewer"], "eve@example.com").await;
    add_user(&s, "sam", &["reviewer"], "sam@example.com").await;
    // Sam is mapped by e-mail through users.info (confirmed); Mallory's
    // e-mail is not confirmed, so she is not mapped to anyone.
    slack.add_user("USAM", "Sam@Example.com", true);
    slack.add_user("UMAL", "sam@example.com", false);

    let d = s
        .client(&eve)
        .decide("sql.write", "Table", "orders", "prod", write_to("orders"))
        .await;
    assert_eq!(d["verdict"], "pending", "{d}");
    let id = d["approval"]["id"].as_str().unwrap().to_owned();

    // The message: context and buttons, in the routed channel.
    let posts = slack
        .wait_for("chat.postMessage", Duration::from_secs(10), |c| {
            !c.is_empty()
        })
        .await;
    assert_eq!(posts.len(), 1);
    let msg = &posts[0].body;
    assert_eq!(msg["channel"], "COPS");
    let blocks = msg["blocks"].to_string();
    for needle in [
        "sql.write",
        "orders",
        "prod",
        "eve",
        "writes-in-prod-need-a-reviewer",
        "UPDATE orders SET x = 1",
        "countersign_approve",
        "countersign_deny",
        &format!("https://cs.example.com/ui/approvals/{id}"),
    ] {
        assert!(blocks.contains(needle), "message lacks {needle}: {blocks}");
    }

    // The requester's own click is refused, shown to her only, audited.
    let own = click("UEVE", "countersign_approve", &id, now(), SIGNING_SECRET);
    assert_eq!(post_click(&s, &own).await, 200);
    let eph = slack
        .wait_for("chat.postEphemeral", Duration::from_secs(10), |c| {
            !c.is_empty()
        })
        .await;
    assert_eq!(eph[0].body["user"], "UEVE");
    assert!(
        eph[0].body["text"]
            .as_str()
            .unwrap()
            .contains("not counted"),
        "{eph:?}"
    );
    let refused = s.admin().audit("approval.vote_refused").await;
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0]["detail"]["via"], "slack");

    // An unconfirmed e-mail maps to nobody.
    let mal = click("UMAL", "countersign_approve", &id, now(), SIGNING_SECRET);
    assert_eq!(post_click(&s, &mal).await, 200);
    slack
        .wait_for("chat.postEphemeral", Duration::from_secs(10), |c| {
            c.len() == 2
        })
        .await;

    // Forged, stale and malformed requests are refused before parsing and audited.
    let forged = click("USAM", "countersign_approve", &id, now(), "not-the-secret");
    assert_eq!(post_click(&s, &forged).await, 401);
    let stale = click(
        "USAM",
        "countersign_approve",
        &id,
        now() - 600,
        SIGNING_SECRET,
    );
    assert_eq!(post_click(&s, &stale).await, 401);
    let (body, ts, _) = click("USAM", "countersign_approve", &id, now(), SIGNING_SECRET);
    assert_eq!(post_click(&s, &(body, ts, "v0=not-hex".into())).await, 401);

    // Sam's correctly signed click approves it …
    let sam = click("USAM", "countersign_approve", &id, now(), SIGNING_SECRET);
    assert_eq!(post_click(&s, &sam).await, 200);
    // … and the very same request again is a replay.
    assert_eq!(post_click(&s, &sam).await, 401);

    let admin = s.admin();
    wait_until("approval approved", Duration::from_secs(10), || {
        let admin = admin.clone();
        let id = id.clone();
        async move { admin.get(&format!("/v1/approvals/{id}")).await.1["state"] == "approved" }
    })
    .await;
    let (_, a) = admin.get(&format!("/v1/approvals/{id}")).await;
    assert_eq!(a["votes"][0]["voter"], "sam");
    assert_eq!(a["votes"][0]["via"], "slack");
    assert_eq!(
        a["votes"].as_array().unwrap().len(),
        1,
        "only Sam's vote counted"
    );

    // The message is updated in place: same channel and ts, now approved.
    let approved = |u: &crate::common::notify_fakes::SlackCall| {
        u.body["text"]
            .as_str()
            .unwrap_or("")
            .starts_with("Approved")
    };
    let ups = slack
        .wait_for("chat.update", Duration::from_secs(10), |c| {
            c.iter().any(approved)
        })
        .await;
    let last = ups.iter().rev().find(|u| approved(u)).unwrap();
    assert_eq!(
        last.body["ts"], "1700000000.000001",
        "the posted message is edited"
    );
    assert_eq!(last.body["channel"], "COPS");
    assert!(
        !last.body["blocks"]
            .to_string()
            .contains("countersign_approve"),
        "no buttons once decided"
    );
    assert!(
        last.body["blocks"]
            .to_string()
            .contains("sam approved via slack")
    );

    let failures = admin.audit("auth.failed").await;
    let slack_failures: Vec<_> = failures
        .iter()
        .filter(|e| e["detail"]["channel"] == "slack")
        .collect();
    assert_eq!(
        slack_failures.len(),
        4,
        "forged, stale, malformed, replayed: {failures:?}"
    );
    for reason in ["does not match", "window", "malformed", "replayed"] {
        assert!(
            slack_failures
                .iter()
                .any(|e| e["reason"].as_str().unwrap().contains(reason)),
            "no audited refusal mentioning {reason}: {slack_failures:?}"
        );
    }
    let votes = admin.audit("approval.vote").await;
    assert_eq!(votes.len(), 1);
    assert_eq!(votes[0]["votes"][0]["via"], "slack");
    wait_until("notification.sent audited", Duration::from_secs(10), || {
        let admin = admin.clone();
        async move { admin.audit("notification.sent").await.len() >= 3 }
    })
    .await;
    let sent = admin.audit("notification.sent").await;
    assert!(
        sent.iter()
            .all(|e| e["detail"]["channel"] == "slack" && e["approval_id"] == id.as_str())
    );
}

/// Events a webhook received, as `(approval or decision id, type)` in
/// arrival order.
fn events(msgs: &[crate::common::notify_fakes::Received]) -> Vec<(String, String, Value)> {
    msgs.iter()
        .map(|m| {
            let v: Value = serde_json::from_str(&m.body).unwrap();
            let subject = v["data"]["approval_id"]
                .as_str()
                .or(v["data"]["decision_id"].as_str())
                .unwrap()
                .to_owned();
            (subject, v["type"].as_str().unwrap().to_owned(), v)
        })
        .collect()
}

#[tokio::test]
async fn a_receiver_that_is_down_gets_every_event_in_order_after_a_restart() {
    let py = python_with_standardwebhooks();
    let port = free_port();
    let mut s = Server::prepare(None);
    std::fs::write(
        s.data_dir().join("teams-url"),
        format!("http://127.0.0.1:{port}/teams"),
    )
    .unwrap();
    write_config(
        &s,
        &format!(
            r#"[notify]
public_url = "https://cs.example.com"
retry_initial_ms = 100
retry_max_ms = 400
failed_after = 2
[[notify.teams]]
name = "ops"
url_file = "teams-url"
[[notify.webhooks]]
name = "siem"
url = "http://127.0.0.1:{port}/hook"
secret_file = "wh-secret"
events = ["approval.requested", "approval.vote", "approval.decided", "decision.denied"]
[[notify.routes]]
environments = ["prod"]
actions = ["sql.*"]
teams = ["ops"]
webhooks = ["siem"]
[[notify.routes]]
environments = ["dev"]
webhooks = ["siem"]
"#
        ),
    );
    s.spawn();
    let sam = s.principal("sam", "user", &["reviewer"], None).await;
    let rita = s.principal("rita", "user", &["reviewer"], None).await;
    let bot = s
        .principal("bot", "agent", &["engineer"], Some("rita"))
        .await;
    let (bot, sam, rita) = (s.client(&bot), s.client(&sam), s.client(&rita));

    // Three approvals: one approved, one denied, one left pending; and a
    // policy denial (a reviewer may not write in dev).
    let mut ids = Vec::new();
    for t in ["orders", "invoices", "users"] {
        let d = bot
            .decide("sql.write", "Table", t, "prod", write_to(t))
            .await;
        ids.push(d["approval"]["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(sam.vote(&ids[0], "approve", None).await.0, 200);
    assert_eq!(sam.vote(&ids[1], "deny", Some("not today")).await.0, 200);
    let denied = rita
        .decide("sql.write", "Table", "orders", "dev", write_to("orders"))
        .await;
    assert_eq!(denied["verdict"], "deny");
    let denial = denied["id"].as_str().unwrap().to_owned();

    // Nothing listens yet: notifications pile up as failed, visible with
    // their last error to admins (API and CLI), and not to others.
    let admin = s.admin();
    wait_until("failed notifications", Duration::from_secs(20), || {
        let admin = admin.clone();
        async move {
            let (_, v) = admin.get("/v1/notifications?state=failed").await;
            v["notifications"].as_array().is_some_and(|a| a.len() >= 3)
        }
    })
    .await;
    let (st, v) = admin.get("/v1/notifications?state=failed").await;
    assert_eq!(st, 200);
    let failed = v["notifications"].as_array().unwrap();
    assert!(
        failed
            .iter()
            .all(|n| n["last_error"].as_str().is_some_and(|e| !e.is_empty())),
        "{v}"
    );
    assert!(
        !v.to_string().contains("127.0.0.1"),
        "no receiver URL in errors: {v}"
    );
    assert_eq!(sam.get("/v1/notifications").await.0, 403);
    assert_eq!(s.client("cs_bogus").get("/v1/notifications").await.0, 401);
    assert_eq!(admin.get("/v1/notifications?state=lost").await.0, 400);
    let out = s.cli(&s.admin_token, &["notifications", "list", "--failed"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("failed webhook:siem") && text.contains("last_error="),
        "{text}"
    );

    // A restart, with the receiver still down; then it comes back.
    s.stop();
    s.spawn();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rx = Receiver::start_on(port).await;

    // Every webhook event, each once, in order per approval.
    let expected: Vec<(String, Vec<&str>)> = vec![
        (
            ids[0].clone(),
            vec!["approval.requested", "approval.vote", "approval.decided"],
        ),
        (
            ids[1].clone(),
            vec!["approval.requested", "approval.vote", "approval.decided"],
        ),
        (ids[2].clone(), vec!["approval.requested"]),
        (denial.clone(), vec!["decision.denied"]),
    ];
    let total: usize = expected.iter().map(|(_, e)| e.len()).sum();
    wait_until("all webhook events", Duration::from_secs(30), || {
        let rx = rx.clone();
        async move { rx.on("/hook").len() >= total && rx.on("/teams").len() >= 5 }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let hooks = rx.on("/hook");
    assert_eq!(hooks.len(), total, "no duplicates");
    let got = events(&hooks);
    for (subject, want) in &expected {
        let seen: Vec<&str> = got
            .iter()
            .filter(|(s, _, _)| s == subject)
            .map(|(_, t, _)| t.as_str())
            .collect();
        assert_eq!(&seen, want, "events of {subject}");
    }
    let decided: Vec<&Value> = got
        .iter()
        .filter(|(_, t, _)| t == "approval.decided")
        .map(|(_, _, v)| v)
        .collect();
    let states: Vec<&str> = decided
        .iter()
        .map(|v| v["data"]["state"].as_str().unwrap())
        .collect();
    assert!(
        states.contains(&"approved") && states.contains(&"denied"),
        "{states:?}"
    );
    let req = &got
        .iter()
        .find(|(_, t, _)| t == "approval.requested")
        .unwrap()
        .2["data"];
    assert_eq!(req["requester"]["name"], "bot");
    assert_eq!(req["owner"], "rita");
    assert_eq!(req["policy"], "writes-in-prod-need-a-reviewer");
    assert!(
        req["url"]
            .as_str()
            .unwrap()
            .starts_with("https://cs.example.com/ui/approvals/apr_")
    );
    let ids_seen: std::collections::HashSet<&str> = hooks
        .iter()
        .map(|m| m.headers["webhook-id"].as_str())
        .collect();
    assert_eq!(
        ids_seen.len(),
        hooks.len(),
        "webhook-id is unique per message"
    );
    if let Some(py) = py {
        verify_with_standardwebhooks(&py, WH_SECRET, &hooks);
    }

    // Teams: a card per request and per end (3 requests + 2 ends), no votes.
    let teams = rx.on("/teams");
    assert_eq!(teams.len(), 5, "{teams:?}");
    let card: Value = serde_json::from_str(&teams[0].body).unwrap();
    assert_eq!(
        card["attachments"][0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert!(card.to_string().contains("Action.OpenUrl"));

    // The outbox drained; every delivery audited with its channel.
    wait_until("outbox drained", Duration::from_secs(10), || {
        let admin = admin.clone();
        async move {
            let (_, v) = admin.get("/v1/notifications").await;
            v["counts"]["pending"] == 0 && v["counts"]["failed"] == 0
        }
    })
    .await;
    let sent = admin.audit("notification.sent").await;
    assert_eq!(sent.len(), total + 5);
    assert_eq!(
        sent.iter()
            .filter(|e| e["detail"]["channel"] == "webhook")
            .count(),
        total
    );
    assert_eq!(
        sent.iter()
            .filter(|e| e["detail"]["channel"] == "teams")
            .count(),
        5
    );
}

#[tokio::test]
async fn slack_rate_limits_are_waited_out_and_ends_update_the_message() {
    // The fake allows one post or update per second per channel.
    let slack = FakeSlack::start(BOT_TOKEN, Some(Duration::from_secs(1))).await;
    let mut s = Server::prepare(None);
    write_config(
        &s,
        &format!(
            r#"[notify]
public_url = "https://cs.example.com"
[notify.slack]
api_url = "{}"
bot_token_file = "slack-token"
signing_secret_file = "slack-signing"
[[notify.routes]]
slack = ["COPS"]
"#,
            slack.url
        ),
    );
    s.spawn();
    let eve = add_user(&s, "eve", &["engineer"], "eve@example.com").await;
    let eve = s.client(&eve);
    let mut ids = Vec::new();
    for t in ["a", "b", "c"] {
        let d = eve
            .decide("sql.write", "Table", t, "prod", write_to(t))
            .await;
        ids.push(d["approval"]["id"].as_str().unwrap().to_owned());
    }
    let (st, v) = eve
        .post(&format!("/v1/approvals/{}/cancel", ids[0]), json!({}))
        .await;
    assert_eq!(st, 200, "{v}");

    slack
        .wait_for("chat.update", Duration::from_secs(20), |c| {
            c.iter().any(|u| {
                u.body["text"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("Cancelled")
            })
        })
        .await;
    let posts = slack
        .wait_for("chat.postMessage", Duration::from_secs(20), |c| {
            c.len() >= 3
        })
        .await;
    let mut posted: Vec<String> = posts
        .iter()
        .map(|p| {
            let b = p.body["blocks"].to_string();
            ids.iter()
                .find(|id| b.contains(id.as_str()))
                .unwrap()
                .clone()
        })
        .collect();
    posted.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(posted, want, "each approval posted exactly once");
    assert!(
        slack.rate_limited() >= 1,
        "the fake had to refuse something"
    );
    // Every accepted call respected the limit …
    let mut all: Vec<_> = slack.calls("chat.postMessage");
    all.extend(slack.calls("chat.update"));
    all.sort_by_key(|c| c.at);
    for w in all.windows(2) {
        assert!(w[1].at.duration_since(w[0].at) >= Duration::from_millis(990));
    }
    // … and a 429 is a pause, not a failure.
    let (_, v) = s.admin().get("/v1/notifications?state=sent").await;
    let sent = v["notifications"].as_array().unwrap();
    assert_eq!(sent.len(), 4, "3 posts and 1 update: {v}");
    assert!(sent.iter().all(|n| n["attempts"] == 1), "{v}");
    assert_eq!(v["counts"]["failed"], 0);
}

#[tokio::test]
async fn a_change_review_is_posted_to_slack_and_a_click_approves_the_change() {
    let slack = FakeSlack::start(BOT_TOKEN, None).await;
    let mut s = Server::prepare(None);
    write_config(
        &s,
        &format!(
            r#"[notify]
public_url = "https://cs.example.com"
[notify.slack]
api_url = "{}"
bot_token_file = "slack-token"
signing_secret_file = "slack-signing"
users = {{ UROB = "rob" }}
[[notify.routes]]
environments = ["prod"]
slack = ["CML"]

[[changes.gates]]
kind = "model"
environment = "prod"
after = "none"
reviews = {{ quorum = 1, groups = ["reviewer"] }}
"#,
            slack.url
        ),
    );
    s.spawn();
    let alice = add_user(&s, "alice", &["engineer"], "alice@example.com").await;
    add_user(&s, "rob", &["reviewer"], "rob@example.com").await;
    let (st, change) = s
        .client(&alice)
        .post(
            "/v1/changes",
            json!({"kind": "model", "subject": "Model::\"fraud\"", "version": "v7",
                   "artifact_sha256": "b".repeat(64), "environment": "prod",
                   "description": "retrained on November data"}),
        )
        .await;
    assert_eq!(st, 201, "{change}");
    let review = change["review_approval"].as_str().unwrap().to_owned();

    let posts = slack
        .wait_for("chat.postMessage", Duration::from_secs(10), |c| {
            !c.is_empty()
        })
        .await;
    assert_eq!(posts[0].body["channel"], "CML");
    let blocks = posts[0].body["blocks"].to_string();
    for needle in [
        "change.review",
        "fraud",
        "alice",
        "retrained on November data",
        // The gate report travels with the review.
        "pending 1 of reviewer, not the author",
        &format!("https://cs.example.com/ui/approvals/{review}"),
    ] {
        assert!(blocks.contains(needle), "message lacks {needle}: {blocks}");
    }

    let rob = click(
        "UROB",
        "countersign_approve",
        &review,
        now(),
        SIGNING_SECRET,
    );
    assert_eq!(post_click(&s, &rob).await, 200);
    let admin = s.admin();
    let id = change["id"].as_str().unwrap().to_owned();
    wait_until("change approved", Duration::from_secs(10), || {
        let admin = admin.clone();
        let id = id.clone();
        async move { admin.get(&format!("/v1/changes/{id}")).await.1["state"] == "approved" }
    })
    .await;
    let (_, c) = admin.get(&format!("/v1/changes/{id}")).await;
    assert_eq!(c["approved_by"], json!(["rob"]));
}
