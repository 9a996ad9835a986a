//! Expiry, token revocation, policy reload and outcomes, end to end.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a failed step should fail the test loudly"
)]

use crate::common::Server;
use serde_json::json;
use std::time::Duration;

/// Test policies with a short approval TTL.
const SHORT_TTL: &str = r#"
@id("reads") permit (principal, action == Action::"sql.read", resource);

@id("prod-writes-briefly-approvable")
@approval_quorum("1")
@approval_groups("reviewer")
@approval_ttl("2s")
permit (principal, action == Action::"sql.write", resource)
when { context.environment == "prod" && context.approval.granted };

@id("commands-dev") permit (principal, action == Action::"command.run", resource)
when { context.environment == "dev" };

@id("commands-prod-briefly-approvable")
@approval_quorum("1")
@approval_groups("reviewer")
@approval_ttl("2s")
permit (principal, action == Action::"command.run", resource)
when { context.environment == "prod" && context.approval.granted };

@id("agents-never-change-iam-in-prod")
@message("agents may not change IAM in production")
forbid (principal is Agent, action == Action::"iam.change", resource)
when { context.environment == "prod" };
"#;

#[tokio::test]
async fn pending_approvals_expire_and_take_no_votes() {
    let s = Server::start_with(Some(SHORT_TTL));
    let bot = s.principal("bot", "agent", &[], Some("admin")).await;
    let rita = s.principal("rita", "user", &["reviewer"], None).await;
    let d = s
        .client(&bot)
        .decide("sql.write", "Table", "orders", "prod", json!({}))
        .await;
    let id = d["approval"]["id"].as_str().unwrap().to_owned();
    // A long-poll wakes when the approval expires, well before its own wait.
    let started = std::time::Instant::now();
    let (st, a) = s
        .client(&rita)
        .get(&format!("/v1/approvals/{id}?wait=20s"))
        .await;
    assert_eq!(st, 200);
    assert_eq!(a["state"], "expired", "{a}");
    assert!(started.elapsed() < Duration::from_secs(10));
    let (st, e) = s.client(&rita).vote(&id, "approve", None).await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (403, Some("approval_expired"))
    );
    // The sweeper records the expiry once.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let expired = s.admin().audit("approval.expired").await;
    assert_eq!(
        expired
            .iter()
            .filter(|e| e["approval_id"] == id.as_str())
            .count(),
        1
    );
    // An expired approval releases nothing.
    let d = s
        .client(&bot)
        .decide("sql.write", "Table", "orders", "prod", json!({}))
        .await;
    assert_eq!(d["verdict"], "pending");
    assert_ne!(d["approval"]["id"], id.as_str());
}

#[tokio::test]
async fn approved_but_unused_approvals_expire_too() {
    let s = Server::start_with(Some(SHORT_TTL));
    let bot = s.principal("bot", "agent", &[], Some("admin")).await;
    let rita = s.principal("rita", "user", &["reviewer"], None).await;
    let d = s
        .client(&bot)
        .decide("sql.write", "Table", "orders", "prod", json!({}))
        .await;
    let id = d["approval"]["id"].as_str().unwrap().to_owned();
    let (_, a) = s.client(&rita).vote(&id, "approve", None).await;
    assert_eq!(a["state"], "approved");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let d = s
        .client(&bot)
        .decide("sql.write", "Table", "orders", "prod", json!({}))
        .await;
    assert_eq!(
        d["verdict"], "pending",
        "a stale approval must not release: {d}"
    );
}

#[tokio::test]
async fn revoked_expired_and_disabled_tokens_stop_at_once() {
    let s = Server::start();
    let admin = s.admin();
    let alice = s.principal("alice", "user", &["engineer"], None).await;
    let (st, _) = s.client(&alice).get("/v1/whoami").await;
    assert_eq!(st, 200);

    let (_, list) = admin.get("/v1/tokens").await;
    let id = list["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["principal"] == "alice")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Token listings never carry the value or its hash.
    assert!(!list.to_string().contains(&alice));
    assert!(list.to_string().find("secret").is_none());

    let (st, _) = admin
        .post(&format!("/v1/tokens/{id}/revoke"), json!({}))
        .await;
    assert_eq!(st, 200);
    let (st, e) = s.client(&alice).get("/v1/whoami").await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (401, Some("unauthenticated"))
    );

    // Short-lived token.
    let (st, t) = admin
        .post(
            "/v1/tokens",
            json!({"principal": "alice", "expires_in": "1s"}),
        )
        .await;
    assert_eq!(st, 201, "{t}");
    let short = t["token"].as_str().unwrap().to_owned();
    assert_eq!(s.client(&short).get("/v1/whoami").await.0, 200);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(s.client(&short).get("/v1/whoami").await.0, 401);

    // Disabling a principal disables its tokens.
    let bob = s.principal("bob", "user", &[], None).await;
    assert_eq!(s.client(&bob).get("/v1/whoami").await.0, 200);
    let (st, _) = admin.post("/v1/principals/bob/disable", json!({})).await;
    assert_eq!(st, 200);
    assert_eq!(s.client(&bob).get("/v1/whoami").await.0, 401);

    // Garbage and missing tokens are 401 too.
    assert_eq!(s.client("cs_nothing").get("/v1/whoami").await.0, 401);

    let failed = admin.audit("auth.failed").await;
    let reasons: Vec<&str> = failed
        .iter()
        .map(|e| e["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        [
            "token revoked",
            "token expired",
            "principal disabled",
            "no or malformed token"
        ]
    );
    // The audit entry names the token id, never its secret.
    assert!(!failed.iter().any(|e| e.to_string().contains(&short[16..])));
}

#[tokio::test]
async fn a_broken_policy_reload_keeps_the_old_set() {
    let mut s = Server::start();
    let admin = s.admin();
    let bot = s
        .principal("bot", "agent", &["engineer"], Some("admin"))
        .await;
    let (_, before) = admin.get("/v1/policies").await;
    let hash = before["hash"].as_str().unwrap().to_owned();

    let good = std::fs::read_to_string(s.policy_file()).unwrap();
    std::fs::write(
        s.policy_file(),
        format!("{good}\n@id(\"typo\")\npermit (principal, action == Action::\"sql.read\", resource)\nwhen {{ context.enviroment == \"prod\" }};\n"),
    )
    .unwrap();
    let (st, e) = admin.post("/v1/policies/reload", json!({})).await;
    assert_eq!(st, 422, "{e}");
    let msg = e["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("policies.cedar:"),
        "names the file and line: {msg}"
    );
    assert!(msg.contains("enviroment"), "{msg}");
    let (_, after) = admin.get("/v1/policies").await;
    assert_eq!(after["hash"], hash.as_str());
    // Decisions keep working on the old set.
    let d = s
        .client(&bot)
        .decide("sql.read", "Table", "orders", "prod", json!({}))
        .await;
    assert_eq!(d["verdict"], "allow");
    assert_eq!(d["policy_hash"], hash.as_str());

    // SIGHUP is refused the same way.
    let pid = s.pid().unwrap();
    std::process::Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(admin.get("/v1/policies").await.1["hash"], hash.as_str());
    let rejected = admin.audit("policy.rejected").await;
    assert_eq!(rejected.len(), 2, "API and SIGHUP rejections are audited");

    // A valid change is picked up by SIGHUP.
    std::fs::write(
        s.policy_file(),
        format!("{good}\n@id(\"extra\")\npermit (principal, action == Action::\"sql.read\", resource == Table::\"extra\");\n"),
    )
    .unwrap();
    std::process::Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, now) = admin.get("/v1/policies").await;
    assert_ne!(now["hash"], hash.as_str());
    assert!(
        now["policies"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "extra")
    );

    // A restart with a broken file refuses to start rather than run without policy.
    std::fs::write(s.policy_file(), "permit (principal, action, resource").unwrap();
    s.stop();
    let out = std::process::Command::new(crate::common::BIN)
        .args(["serve", "--data-dir"])
        .arg(s.data_dir())
        .args([
            "--listen",
            &format!("127.0.0.1:{}", crate::common::free_port()),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("policies.cedar"));
}

#[tokio::test]
async fn outcomes_are_reported_once_by_the_allowed_principal() {
    let s = Server::start();
    let bot = s
        .principal("bot", "agent", &["engineer"], Some("admin"))
        .await;
    let other = s
        .principal("other", "agent", &["engineer"], Some("admin"))
        .await;
    let d = s
        .client(&bot)
        .decide("sql.write", "Table", "orders", "dev", json!({}))
        .await;
    assert_eq!(d["verdict"], "allow", "{d}");
    let id = d["id"].as_str().unwrap();
    let path = format!("/v1/decisions/{id}/outcome");
    let outcome = json!({"status": "executed", "rows_affected": 3});
    let (st, _) = s.client(&other).post(&path, outcome.clone()).await;
    assert_eq!(st, 403);
    let (st, v) = s.client(&bot).post(&path, outcome.clone()).await;
    assert_eq!(st, 200, "{v}");
    let (st, _) = s.client(&bot).post(&path, outcome).await;
    assert_eq!(st, 409);
    let (st, e) = s.client(&bot).post(&path, json!({"status": "done"})).await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (400, Some("invalid_request"))
    );
    let denied = s
        .client(&bot)
        .decide("iam.change", "Role", "admin", "prod", json!({}))
        .await;
    assert_eq!(denied["verdict"], "deny");
    let (st, _) = s
        .client(&bot)
        .post(
            &format!("/v1/decisions/{}/outcome", denied["id"].as_str().unwrap()),
            json!({"status": "executed"}),
        )
        .await;
    assert_eq!(st, 400);
    let o = s.admin().audit("decision.outcome").await;
    assert_eq!(o.len(), 1);
    assert_eq!(o[0]["outcome"]["rows_affected"], 3);
}
