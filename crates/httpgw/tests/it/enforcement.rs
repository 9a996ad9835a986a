//! Allow, deny, unmatched, unauthenticated: what reaches the upstream,
//! what the client gets, and what the audit log says.

use crate::common::{Env, SECRET};
use reqwest::Method;
use serde_json::Value;

#[tokio::test]
async fn an_allowed_request_is_forwarded_and_audited() {
    let env = Env::start().await;
    let r = env
        .req("bot", Method::GET, "/api/things/1?expand=all")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let rid = r
        .headers()
        .get("countersign-request-id")
        .expect("a request id")
        .to_str()
        .unwrap()
        .to_owned();
    let v: Value = r.json().await.unwrap();
    // The prefix is stripped; the query passes through.
    assert_eq!(v["path"], "/things/1?expand=all");
    let seen = env.upstream.last("/things/1").unwrap();
    assert_eq!(seen.method, "GET");

    let d = env.last_decision().await;
    assert_eq!(d["verdict"], "allow");
    assert_eq!(d["action"], "http.request");
    assert_eq!(d["resource"]["type"], "Route");
    assert_eq!(d["resource"]["id"], "api");
    assert_eq!(d["environment"], "prod");
    assert_eq!(d["request_id"], rid);
    assert_eq!(d["policies"][0], "http-reads-everywhere");
    let ctx = env.payload(&d).await;
    assert_eq!(ctx["http"]["method"], "GET");
    assert_eq!(ctx["http"]["route"], "api");
    assert_eq!(ctx["http"]["path"], "/api/things/1");
    assert_eq!(ctx["http"]["query"], "expand=all");
    assert_eq!(
        ctx["http"]["body_sha256"],
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );

    let o = env.outcome_of(d["decision_id"].as_str().unwrap()).await;
    assert_eq!(o["outcome"]["status"], "executed");
    assert_eq!(o["outcome"]["http_status"], 200);
    assert_eq!(o["outcome"]["bytes_in"], 0);
    assert!(o["outcome"]["bytes_out"].as_u64().unwrap() > 10);
    assert!(o["outcome"]["duration_ms"].is_u64());
}

#[tokio::test]
async fn a_denied_request_gets_a_problem_document_and_never_reaches_upstream() {
    let env = Env::start().await;
    // vic is in no group: production writes are not permitted.
    let r = env
        .req("vic", Method::POST, "/api/things")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["type"], "https://countersign.dev/problems/denied");
    assert_eq!(p["status"], 403);
    assert!(p["decision_id"].as_str().unwrap().starts_with("dec_"));
    assert!(p["request_id"].as_str().unwrap().starts_with("req_"));
    assert!(env.upstream.last("/things").is_none());

    // A forbid is named in the document.
    let r = env
        .req("alice", Method::DELETE, "/api/repos/o/vault")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["detail"], "o/vault is never deleted");
    assert_eq!(p["policies"][0], "nobody-deletes-the-vault");
    let d = env.last_decision().await;
    assert_eq!(d["verdict"], "deny");
    assert_eq!(d["action"], "repo.delete");
    assert_eq!(d["resource"]["id"], "o/vault");
    assert!(env.upstream.last("/repos").is_none());
}

#[tokio::test]
async fn curl_sees_allow_and_deny() {
    let env = Env::start().await;
    let tok = format!("Countersign-Token: {}", env.token("bot"));
    let (ok, out, err) = env
        .curl(&["-i", "-H", &tok, "{gw}/dev/items?page=2&api_key=mine"])
        .await;
    assert!(ok, "{err}");
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(
        out.contains("\"path\":\"/base/items?page=2&api_key="),
        "{out}"
    );
    let (ok, out, _) = env
        .curl(&["-i", "-X", "DELETE", "-H", &tok, "{gw}/api/repos/o/vault"])
        .await;
    assert!(ok);
    assert!(out.starts_with("HTTP/1.1 403"), "{out}");
    assert!(out.contains("application/problem+json"), "{out}");
    assert!(out.contains("nobody-deletes-the-vault"), "{out}");
    assert!(!out.contains(SECRET));
}

#[tokio::test]
async fn body_fields_feed_the_decision() {
    let env = Env::start().await;
    let r = env
        .req("bot", Method::POST, "/api/repos/o/r/deployments")
        .json(&serde_json::json!({"environment": "staging", "ref": "main"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let d = env.last_decision().await;
    assert_eq!(d["action"], "deploy.create");
    assert_eq!(d["resource"]["id"], "o/r");
    let ctx = env.payload(&d).await;
    assert_eq!(ctx["http"]["fields"][0], "environment=staging");
    // The body went upstream intact.
    let seen = env.upstream.last("/repos/o/r/deployments").unwrap();
    assert!(seen.bytes > 20);

    let r = env
        .req("bot", Method::POST, "/api/repos/o/r/deployments")
        .json(&serde_json::json!({"environment": "prod"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    let r = env
        .req("bot", Method::POST, "/api/repos/o/r/deployments")
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let p: Value = r.json().await.unwrap();
    assert!(p["detail"].as_str().unwrap().contains("not JSON"), "{p}");
}

#[tokio::test]
async fn unmatched_requests_are_denied_and_unknown_paths_have_no_route() {
    let env = Env::start().await;
    let r = env
        .req("alice", Method::GET, "/strict/ok")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = env
        .req("alice", Method::GET, "/strict/other")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["type"], "https://countersign.dev/problems/no-rule");
    assert!(env.upstream.last("/other").is_none());
    let rejected = env.audit("request.rejected").await;
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0]["principal"]["name"], "alice");
    assert_eq!(rejected[0]["detail"]["route"], "strict");
    assert_eq!(rejected[0]["detail"]["path"], "/strict/other");
    let r = env
        .req("alice", Method::GET, "/nowhere")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn tokens_are_required_and_failures_audited() {
    let env = Env::start().await;
    let r = env
        .http
        .get(format!("{}/api/things", env.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = env
        .http
        .get(format!("{}/api/things", env.url))
        .header("Countersign-Token", "cs_bogus_token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(!env.audit("auth.failed").await.is_empty());
    // Proxy-Authorization works too.
    let r = env
        .http
        .get(format!("{}/api/things", env.url))
        .header(
            "Proxy-Authorization",
            format!("Bearer {}", env.token("bot")),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(env.upstream.seen().len() == 1);
}

/// `durability = "relaxed_reads"` changes when a read is forwarded, not
/// what is decided or recorded: a GET is allowed and audited, a write in
/// prod is still held for a reviewer, and an unknown mode is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relaxed_reads_are_still_decided_and_audited() {
    let env = Env::start().await;
    let r = env
        .req("bot", Method::GET, "/fast/things/2")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let d = env.last_decision().await;
    assert_eq!(d["verdict"], "allow");
    assert_eq!(d["resource"]["id"], "fast");
    assert_eq!(d["environment"], "prod");

    let held = tokio::spawn(env.req("bot", Method::POST, "/fast/things").send());
    let approval = env.pending_approval("bot").await;
    assert!(approval.starts_with("apr_"), "{approval}");
    assert!(!held.is_finished(), "a prod write waits for its reviewer");
    held.abort();

    let bad: countersign_httpgw::GatewaySection = toml::from_str(
        r#"listen = "127.0.0.1:0"
           [routes.x]
           upstream = "http://127.0.0.1:9"
           environment = "dev"
           durability = "sometimes""#,
    )
    .unwrap();
    let err = bad.validate(std::path::Path::new("/")).unwrap_err();
    assert!(err.to_string().contains("durability `sometimes`"), "{err}");
}
