//! Change authorization end to end: the `countersign` binary as server and
//! as CI/reviewer client. A model promoted dev → staging → prod through its
//! gates; policy changes per environment; bad input.

use crate::common::Server;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Output;

const MODEL: &str = "Model::\"fraud-detector\"";

const GATES: &str = r#"
[[changes.gates]]
kind = "model"
environment = "staging"
metrics = ["accuracy >= 0.90"]
reviews = { quorum = 0 }

[[changes.gates]]
kind = "model"
environment = "prod"
metrics = ["accuracy >= 0.92", "p99_latency_ms <= 200", "accuracy >= live.accuracy - 0.005"]
reviews = { quorum = 2, groups = ["ml-reviewer"] }
"#;

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

/// `change submit --json`: the change, and the exit code.
fn submit(
    s: &Server,
    token: &str,
    env: &str,
    artifact: &Path,
    metrics: &Path,
    version: &str,
) -> (i32, Value) {
    let out = s.cli(
        token,
        &[
            "change",
            "submit",
            "--json",
            "--kind",
            "model",
            "--subject",
            MODEL,
            "--version",
            version,
            "--artifact",
            artifact.to_str().unwrap(),
            "--env",
            env,
            "--metrics",
            metrics.to_str().unwrap(),
            "--link",
            "https://ci.example.com/runs/42",
        ],
    );
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("submit printed no JSON: {}", text(&out)));
    (out.status.code().unwrap(), v)
}

/// `countersign run --action model.deploy … -- touch MARKER`.
fn deploy(
    s: &Server,
    token: &str,
    env: &str,
    change: &str,
    artifact: &Path,
    marker: &Path,
) -> Output {
    s.cli(
        token,
        &[
            "run",
            "--action",
            "model.deploy",
            "--resource",
            MODEL,
            "--env",
            env,
            "--change",
            change,
            "--artifact",
            artifact.to_str().unwrap(),
            "--",
            "touch",
            marker.to_str().unwrap(),
        ],
    )
}

fn gate<'a>(c: &'a Value, rule: &str) -> &'a Value {
    c["gates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["rule"] == rule)
        .unwrap_or_else(|| panic!("no gate `{rule}` in {c}"))
}

#[tokio::test]
async fn a_model_is_promoted_dev_staging_prod_through_its_gates() {
    let s = Server::start_configured(None, |_| GATES.to_owned());
    let alice = s
        .principal("alice", "user", &["engineer", "ml-reviewer"], None)
        .await;
    let rita = s.principal("rita", "user", &["ml-reviewer"], None).await;
    let rob = s.principal("rob", "user", &["ml-reviewer"], None).await;
    let ci = s.principal("ci", "service", &[], None).await;
    let work = tempfile::tempdir().unwrap();
    let model = write(work.path(), "model.onnx", "weights v2");
    let other = write(work.path(), "other.onnx", "weights from somewhere else");
    let good = write(
        work.path(),
        "good.json",
        r#"{"accuracy": 0.95, "p99_latency_ms": 180}"#,
    );
    let weak = write(
        work.path(),
        "weak.json",
        r#"{"accuracy": 0.91, "p99_latency_ms": 180}"#,
    );

    // dev: no gates by default in the first environment; approved at once.
    let (code, dev) = submit(&s, &alice, "dev", &model, &good, "v2");
    assert_eq!(
        (code, dev["state"].as_str()),
        (0, Some("approved")),
        "{dev}"
    );
    let marker = work.path().join("deployed-dev");
    let out = deploy(&s, &ci, "dev", dev["id"].as_str().unwrap(), &model, &marker);
    assert!(out.status.success(), "{}", text(&out));
    assert!(marker.exists());

    // Skipping staging is refused: the promotion gate fails at submission.
    let (code, skip) = submit(&s, &alice, "prod", &model, &good, "v2");
    assert_eq!(code, 1, "{skip}");
    assert_eq!(skip["state"], "checks_failed");
    let promo = gate(&skip, "deployed to staging first");
    assert_eq!(promo["status"], "fail");
    assert_eq!(promo["measured"], "this artifact is not live in staging");

    // staging: a metric gate, no review.
    let (code, staging) = submit(&s, &alice, "staging", &model, &good, "v2");
    assert_eq!(
        (code, staging["state"].as_str()),
        (0, Some("approved")),
        "{staging}"
    );
    let marker = work.path().join("deployed-staging");
    let out = deploy(
        &s,
        &ci,
        "staging",
        staging["id"].as_str().unwrap(),
        &model,
        &marker,
    );
    assert!(out.status.success(), "{}", text(&out));

    // A failing metric blocks prod with a readable report (human output).
    let out = s.cli(
        &alice,
        &[
            "change",
            "submit",
            "--kind",
            "model",
            "--subject",
            MODEL,
            "--version",
            "v2",
            "--artifact",
            model.to_str().unwrap(),
            "--env",
            "prod",
            "--metrics",
            weak.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report = text(&out);
    assert!(report.contains("checks_failed"), "{report}");
    assert!(
        report.contains("FAIL  metric         accuracy >= 0.92: expected >= 0.92, measured 0.91"),
        "{report}"
    );
    assert!(
        report.contains("pass  metric         p99_latency_ms <= 200"),
        "{report}"
    );
    assert!(report.contains("pass  promotion"), "{report}");

    // Good metrics: awaiting two reviews from ml-reviewer.
    let (code, prod) = submit(&s, &alice, "prod", &model, &good, "v2");
    assert_eq!(
        (code, prod["state"].as_str()),
        (0, Some("awaiting_review")),
        "{prod}"
    );
    assert_eq!(
        gate(&prod, "accuracy >= live.accuracy - 0.005")["status"],
        "skipped"
    );
    let id = prod["id"].as_str().unwrap().to_owned();
    let review = prod["review_approval"].as_str().unwrap().to_owned();

    // Deploying before approval is refused with the reason.
    let marker = work.path().join("deployed-prod");
    let out = deploy(&s, &ci, "prod", &id, &model, &marker);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("is awaiting_review; only an approved change may be deployed"),
        "{}",
        text(&out)
    );

    // The author's own review is refused, even though she is a reviewer.
    let out = s.cli(&alice, &["approvals", "approve", &review]);
    assert!(!out.status.success());
    assert!(text(&out).contains("self_approval"), "{}", text(&out));
    // Two reviewers approve.
    let (st, v) = s
        .client(&rita)
        .vote(&review, "approve", Some("eval looks right"))
        .await;
    assert_eq!(st, 200, "{v}");
    let out = s.cli(&rita, &["change", "status", &id]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "still awaiting review: {}",
        text(&out)
    );
    let out = s.cli(&rob, &["approvals", "approve", &review]);
    assert!(out.status.success(), "{}", text(&out));
    let out = s.cli(&ci, &["change", "status", &id, "--wait", "10s", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let approved: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(approved["state"], "approved");
    assert_eq!(approved["approved_by"], json!(["rita", "rob"]));

    // The wrong artifact is refused; the right one is allowed and runs.
    let out = deploy(&s, &ci, "prod", &id, &other, &marker);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("artifact digest mismatch"),
        "{}",
        text(&out)
    );
    assert!(!marker.exists());
    let out = deploy(&s, &ci, "prod", &id, &model, &marker);
    assert!(out.status.success(), "{}", text(&out));
    assert!(marker.exists());
    let (_, shown) = s.client(&ci).get(&format!("/v1/changes/{id}")).await;
    assert_eq!(shown["state"], "deployed");

    // Inventory: what is live where, since when, approved by whom.
    let out = s.cli(&ci, &["inventory", "--env", "prod"]);
    assert!(out.status.success(), "{}", text(&out));
    let inv = text(&out);
    assert!(
        inv.contains("prod     Model::\"fraud-detector\" v2"),
        "{inv}"
    );
    assert!(inv.contains("approved by rita, rob"), "{inv}");
    assert!(inv.contains("accuracy=0.95"), "{inv}");
    let (_, all) = s.client(&ci).get("/v1/inventory").await;
    let envs: Vec<&str> = all["inventory"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["environment"].as_str().unwrap())
        .collect();
    assert_eq!(envs, ["dev", "staging", "prod"]);

    // A newer version compared with the live one: 0.93 < 0.95 - 0.005.
    let slightly_worse = write(
        work.path(),
        "v3.json",
        r#"{"accuracy": 0.93, "p99_latency_ms": 150}"#,
    );
    let (code, v3) = submit(&s, &alice, "prod", &model, &slightly_worse, "v3");
    assert_eq!(code, 1);
    let rel = gate(&v3, "accuracy >= live.accuracy - 0.005");
    assert_eq!(rel["status"], "fail");
    assert_eq!(rel["measured"], "0.93");
    assert!(
        rel["expected"]
            .as_str()
            .unwrap()
            .contains(">= 0.945 (live v2"),
        "{rel}"
    );

    // Every gate result and transition is in the audit log.
    let admin = s.admin();
    let gates = admin.audit("change.gate").await;
    assert!(
        gates
            .iter()
            .any(|e| e["detail"]["rule"] == "accuracy >= 0.92"
                && e["detail"]["measured"] == "0.91"
                && e["verdict"] == "fail")
    );
    let transitions = admin.audit("change.transition").await;
    let states: Vec<&str> = transitions
        .iter()
        .filter(|e| e["change_id"] == id.as_str())
        .map(|e| e["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["awaiting_review", "approved", "deployed"]);
    let refused = admin.audit("decision").await;
    assert!(refused.iter().any(|e| {
        e["change_id"] == id.as_str()
            && e["verdict"] == "deny"
            && e["detail"]["deny_reason"]
                .as_str()
                .unwrap()
                .contains("digest mismatch")
    }));
}

/// A policy directory: the starter set plus `extra` policies, with cases.
fn policy_dir(s: &Server, root: &Path, extra: &str, cases_extra: &str) -> PathBuf {
    let dir = root.join("proposal");
    std::fs::create_dir_all(&dir).unwrap();
    let src = s.data_dir().join("policies");
    for f in ["schema.cedarschema", "policies.cedar", "cases.toml"] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    let mut p = std::fs::read_to_string(dir.join("policies.cedar")).unwrap();
    p.push_str(extra);
    std::fs::write(dir.join("policies.cedar"), p).unwrap();
    let mut c = std::fs::read_to_string(dir.join("cases.toml")).unwrap();
    c.push_str(cases_extra);
    std::fs::write(dir.join("cases.toml"), c).unwrap();
    dir
}

/// The verdict on the agent exporting a dataset in `env`.
async fn export(s: &Server, bot: &str, env: &str) -> String {
    s.client(bot)
        .decide("data.export", "Dataset", "events", env, json!({}))
        .await["verdict"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub const NO_AGENT_EXPORTS_IN_PROD: &str = r#"
@id("agents-never-export-from-prod")
@message("agents no longer export production data, even approved")
forbid (principal is Agent, action == Action::"data.export", resource)
when { context.environment == "prod" };
"#;

#[tokio::test]
async fn a_policy_change_takes_effect_in_its_environment_only_after_approval() {
    let s = Server::start_configured(None, |_| {
        "[[changes.gates]]\nkind = \"policy\"\nenvironment = \"prod\"\nafter = \"none\"\n"
            .to_owned()
    });
    let ada = s.principal("ada", "user", &["admin"], None).await;
    let bot = s.principal("bot", "agent", &[], Some("ada")).await;
    let work = tempfile::tempdir().unwrap();
    assert_eq!(export(&s, &bot, "prod").await, "pending");

    // A broken proposal fails its checks and changes nothing.
    let broken = policy_dir(
        &s,
        work.path(),
        "permit (principal, action, resource) when {",
        "",
    );
    let out = s.cli(
        &s.admin_token,
        &[
            "policy",
            "propose",
            broken.to_str().unwrap(),
            "--env",
            "prod",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("FAIL  policy.compile"),
        "{}",
        text(&out)
    );
    std::fs::remove_dir_all(&broken).unwrap();
    // So does one whose own cases disagree with it.
    let wrong = policy_dir(
        &s,
        work.path(),
        NO_AGENT_EXPORTS_IN_PROD,
        "\n[[case]]\nname = \"agents export from prod with two reviewers\"\nprincipal = \"Agent::deploy-bot\"\naction = \"data.export\"\nresource = \"Dataset::events\"\nenvironment = \"prod\"\nexpect = \"pending\"\n",
    );
    let out = s.cli(
        &s.admin_token,
        &[
            "policy",
            "propose",
            wrong.to_str().unwrap(),
            "--env",
            "prod",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("FAIL  policy.tests"), "{}", text(&out));
    std::fs::remove_dir_all(&wrong).unwrap();

    // A good proposal waits for a second admin; nothing changes until then.
    let good = policy_dir(
        &s,
        work.path(),
        NO_AGENT_EXPORTS_IN_PROD,
        "\n[[case]]\nname = \"agents never export from prod\"\nprincipal = \"Agent::deploy-bot\"\naction = \"data.export\"\nresource = \"Dataset::events\"\nenvironment = \"prod\"\nexpect = \"deny\"\n",
    );
    let out = s.cli(
        &s.admin_token,
        &[
            "policy",
            "propose",
            good.to_str().unwrap(),
            "--env",
            "prod",
            "--json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let change: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(change["state"], "awaiting_review");
    assert_eq!(
        gate(&change, "the set compiles and validates against its schema")["status"],
        "pass"
    );
    let report = &change["report"];
    assert_eq!(
        report["diff"]["added"],
        json!(["agents-never-export-from-prod"])
    );
    assert!(
        report["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["principal_kind"] == "Agent"
                && d["action"] == "data.export"
                && d["left"]["type"] == "approval"
                && d["right"]["type"] == "deny"),
        "{report}"
    );
    assert_eq!(
        export(&s, &bot, "prod").await,
        "pending",
        "not in force before approval"
    );

    // Lists stay light: the proposed set is read only with the change itself.
    let (_, list) = s.admin().get("/v1/changes?kind=policy&state=all").await;
    let listed = &list["changes"][0];
    assert_eq!(listed["id"], change["id"]);
    assert!(listed.get("policy").is_none(), "{listed}");
    let (_, full) = s
        .admin()
        .get(&format!("/v1/changes/{}", change["id"].as_str().unwrap()))
        .await;
    assert!(
        full["policy"]["files"][0]["text"]
            .as_str()
            .unwrap()
            .contains("agents-never-export-from-prod")
    );

    let review = change["review_approval"].as_str().unwrap();
    let (st, v) = s.admin().vote(review, "approve", None).await;
    assert_eq!(st, 403, "the proposer may not review: {v}");
    let (st, v) = s.client(&ada).vote(review, "approve", None).await;
    assert_eq!(st, 200, "{v}");

    // In force in prod, and only there.
    assert_eq!(export(&s, &bot, "prod").await, "deny");
    assert_eq!(export(&s, &bot, "staging").await, "allow");
    let (_, shown) = s
        .admin()
        .get(&format!("/v1/changes/{}", change["id"].as_str().unwrap()))
        .await;
    assert_eq!(shown["state"], "deployed");
    let (_, pol) = s.admin().get("/v1/policies").await;
    assert_eq!(pol["environments"]["prod"]["change"], change["id"]);

    // The environments now differ, and `policy diff` says where.
    let out = s.cli(
        &ada,
        &["policy", "diff", "--env", "staging", "--env", "prod"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let d = text(&out);
    assert!(
        d.lines().any(|l| l.contains("Agent in no group")
            && l.contains("data.export")
            && l.contains("allow → deny")),
        "{d}"
    );

    // It survives a restart: the live policy change is loaded from the store.
    let mut s = s;
    s.stop();
    s.spawn();
    assert_eq!(export(&s, &bot, "prod").await, "deny");

    // Rolled back, prod is back on the set from disk.
    let id = change["id"].as_str().unwrap();
    let out = s.cli(
        &ada,
        &[
            "change",
            "rollback",
            id,
            "--reason",
            "too strict for the batch jobs",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(export(&s, &bot, "prod").await, "pending");
}

#[tokio::test]
async fn bad_change_input_gets_a_clear_error() {
    let s = Server::start();
    let admin = s.admin();
    let digest = "a".repeat(64);
    let base = json!({
        "kind": "model", "subject": MODEL, "version": "v1",
        "artifact_sha256": digest, "environment": "dev",
    });
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    for (body, code, says) in [
        (
            with("kind", json!("modle")),
            "invalid_request",
            "unknown change kind `modle`",
        ),
        (
            with("metrics", json!({"accuracy": "high"})),
            "invalid_request",
            "metric `accuracy` must be a number, not a string",
        ),
        (
            with("metrics", json!([0.9])),
            "invalid_request",
            "`metrics` must be a JSON object",
        ),
        (
            with("subject", json!("Table::\"orders\"")),
            "invalid_request",
            "subject is a `Model`, not `Table`",
        ),
        (
            with("artifact_sha256", json!("sha256:1234")),
            "invalid_request",
            "is not a SHA-256 digest",
        ),
        (
            with("environment", json!("qa")),
            "invalid_request",
            "unknown environment `qa`",
        ),
        (
            with("links", json!(["javascript:alert(1)"])),
            "invalid_request",
            "must be an http(s) URL",
        ),
        (
            json!({"kind": "model", "subject": MODEL, "environment": "dev", "artifact_sha256": digest}),
            "invalid_json",
            "missing field `version`",
        ),
        (
            with("colour", json!("blue")),
            "invalid_json",
            "unknown field `colour`",
        ),
        (
            with("policy", json!({"schema": "", "files": []})),
            "invalid_request",
            "only policy changes carry a policy set",
        ),
    ] {
        let (st, v) = admin.post("/v1/changes", body.clone()).await;
        assert_eq!(st, 400, "{body}: {v}");
        assert_eq!(v["error"]["code"], code, "{body}: {v}");
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(msg.contains(says), "{body}: `{msg}` should say `{says}`");
    }
    let (st, _) = admin.get("/v1/changes/chg_nope").await;
    assert_eq!(st, 400);
    let (st, _) = admin
        .get(&format!("/v1/changes/chg_{}", "0".repeat(32)))
        .await;
    assert_eq!(st, 404);
    // Nothing was recorded by the refused submissions.
    let (_, list) = admin.get("/v1/changes?state=all").await;
    assert_eq!(list["changes"], json!([]));

    // Proposing is itself decided by policy: a user in no group may not,
    // and the refusal is a decision in the log.
    let vic = s.client(&s.principal("vic", "user", &[], None).await);
    let (st, v) = vic.post("/v1/changes", base.clone()).await;
    assert_eq!(st, 403, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("you may not propose model changes to Model::\"fraud-detector\" in dev"),
        "{v}"
    );
    let refused = admin.audit("decision").await;
    assert!(refused.iter().any(|e| e["action"] == "change.submit"
        && e["principal"]["name"] == "vic"
        && e["verdict"] == "deny"));

    // A deploy that names no change is denied, saying what is missing.
    let ci = s.principal("ci", "service", &[], None).await;
    let d = s
        .client(&ci)
        .decide("model.deploy", "Model", "fraud-detector", "prod", json!({}))
        .await;
    assert_eq!(d["verdict"], "deny");
    assert!(
        d["reason"]
            .as_str()
            .unwrap()
            .contains("needs an approved model change"),
        "{d}"
    );
}

const LIFECYCLE_GATES: &str = r#"
[[changes.gates]]
kind = "prompt"
environment = "staging"
after = "none"
reviews = { quorum = 0 }
wait = "2s"

[[changes.gates]]
kind = "prompt"
environment = "prod"
after = "none"
reviews = { quorum = 1, groups = ["admin"] }
freeze = [{ from = "2020-01-01T00:00:00Z", until = "2100-01-01T00:00:00Z", reason = "end-of-year freeze" }]
emergency = { quorum = 1, groups = ["sre"] }

[[changes.gates]]
kind = "pipeline"
environment = "staging"
after = "none"
reviews = { quorum = 1, groups = ["admin"], ttl = "1s" }
"#;

/// Submits a prompt change through the API; returns it.
async fn prompt(
    api: &crate::common::Api,
    env: &str,
    version: &str,
    emergency: Option<&str>,
) -> Value {
    let (st, c) = api
        .post(
            "/v1/changes",
            json!({
                "kind": "prompt", "subject": {"type": "Prompt", "id": "greeting"},
                "version": version, "artifact_sha256": digest_of(version),
                "environment": env, "emergency": emergency,
            }),
        )
        .await;
    assert_eq!(st, 201, "{c}");
    c
}

fn digest_of(version: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(version.as_bytes()))
}

/// A deploy decision for a prompt change, presenting `version`'s digest.
async fn deploy_prompt(
    api: &crate::common::Api,
    env: &str,
    change: &Value,
    version: &str,
) -> Value {
    api.decide(
        "prompt.deploy",
        "Prompt",
        "greeting",
        env,
        json!({"change": {"id": change["id"], "artifact_sha256": digest_of(version)}}),
    )
    .await
}

#[tokio::test]
async fn changes_are_superseded_timed_frozen_rolled_back_and_expire() {
    let s = Server::start_configured(None, |_| LIFECYCLE_GATES.to_owned());
    let alice = s.client(&s.principal("alice", "user", &["engineer"], None).await);
    let sam = s.client(&s.principal("sam", "user", &["sre"], None).await);
    let ci = s.client(&s.principal("ci", "service", &[], None).await);
    let admin = s.admin();

    // A newer approved change supersedes the older undeployed one.
    let v1 = prompt(&alice, "staging", "v1", None).await;
    let v2 = prompt(&alice, "staging", "v2", None).await;
    assert_eq!(v2["state"], "approved");
    let (_, v1) = ci
        .get(&format!("/v1/changes/{}", v1["id"].as_str().unwrap()))
        .await;
    assert_eq!(v1["state"], "superseded");
    assert_eq!(v1["superseded_by"], v2["id"]);
    let d = deploy_prompt(&ci, "staging", &v1, "v1").await;
    assert_eq!(d["verdict"], "deny");
    assert!(
        d["reason"].as_str().unwrap().contains("was superseded by"),
        "{d}"
    );

    // The wait timer holds a deploy for 2s after approval.
    let d = deploy_prompt(&ci, "staging", &v2, "v2").await;
    assert_eq!(d["verdict"], "deny");
    assert!(d["reason"].as_str().unwrap().contains("wait timer"), "{d}");
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let d = deploy_prompt(&ci, "staging", &v2, "v2").await;
    assert_eq!(d["verdict"], "allow", "{d}");
    // CI that asked for the decision itself reports the deploy.
    let v2_id = v2["id"].as_str().unwrap();
    let (st, v) = ci
        .post(&format!("/v1/changes/{v2_id}/deployed"), json!({}))
        .await;
    assert_eq!((st, v["state"].as_str()), (200, Some("deployed")), "{v}");

    // Roll back v3: v2 is live again, and v3 cannot be deployed again.
    let v3 = prompt(&alice, "staging", "v3", None).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(
        deploy_prompt(&ci, "staging", &v3, "v3").await["verdict"],
        "allow"
    );
    let v3_id = v3["id"].as_str().unwrap();
    let (st, _) = ci
        .post(&format!("/v1/changes/{v3_id}/deployed"), json!({}))
        .await;
    assert_eq!(st, 200);
    let live = |inv: &Value| inv["inventory"][0]["version"].as_str().unwrap().to_owned();
    assert_eq!(
        live(&ci.get("/v1/inventory?environment=staging").await.1),
        "v3"
    );
    let (st, v) = sam
        .post(
            &format!("/v1/changes/{v3_id}/rollback"),
            json!({"reason": "tone"}),
        )
        .await;
    assert_eq!(st, 403, "a bystander may not roll back: {v}");
    let (st, v) = alice
        .post(
            &format!("/v1/changes/{v3_id}/rollback"),
            json!({"reason": "tone"}),
        )
        .await;
    assert_eq!((st, v["state"].as_str()), (200, Some("rolled_back")), "{v}");
    assert_eq!(
        live(&ci.get("/v1/inventory?environment=staging").await.1),
        "v2"
    );
    let d = deploy_prompt(&ci, "staging", &v3, "v3").await;
    assert!(
        d["reason"].as_str().unwrap().contains("is rolled_back"),
        "{d}"
    );
    // Redeploying the live change is allowed (a restart, a new node).
    assert_eq!(
        deploy_prompt(&ci, "staging", &v2, "v2").await["verdict"],
        "allow"
    );

    // prod is frozen: an approved change waits; an emergency one with an
    // approved override goes.
    let p1 = prompt(&alice, "prod", "v2", None).await;
    let (st, _) = admin
        .vote(p1["review_approval"].as_str().unwrap(), "approve", None)
        .await;
    assert_eq!(st, 200);
    let d = deploy_prompt(&ci, "prod", &p1, "v2").await;
    assert_eq!(d["verdict"], "deny");
    let why = d["reason"].as_str().unwrap();
    assert!(
        why.contains("prod is frozen until 2100-01-01T00:00:00")
            && why.contains("end-of-year freeze"),
        "{why}"
    );
    let e = prompt(&alice, "prod", "v2-hotfix", Some("customer-facing typo")).await;
    assert_eq!(e["state"], "awaiting_review");
    let (st, v) = admin
        .vote(e["override_approval"].as_str().unwrap(), "approve", None)
        .await;
    assert_eq!(st, 403, "only sre may override: {v}");
    let (st, _) = admin
        .vote(e["review_approval"].as_str().unwrap(), "approve", None)
        .await;
    assert_eq!(st, 200);
    let (_, still) = ci
        .get(&format!("/v1/changes/{}", e["id"].as_str().unwrap()))
        .await;
    assert_eq!(
        still["state"], "awaiting_review",
        "the override is still open"
    );
    let (st, _) = sam
        .vote(e["override_approval"].as_str().unwrap(), "approve", None)
        .await;
    assert_eq!(st, 200);
    let (_, e) = ci
        .get(&format!("/v1/changes/{}", e["id"].as_str().unwrap()))
        .await;
    assert_eq!(e["state"], "approved");
    assert_eq!(e["approved_by"], json!(["admin", "sam"]));
    let (_, p1) = ci
        .get(&format!("/v1/changes/{}", p1["id"].as_str().unwrap()))
        .await;
    assert_eq!(p1["state"], "superseded");
    assert_eq!(
        deploy_prompt(&ci, "prod", &e, "v2-hotfix").await["verdict"],
        "allow"
    );

    // A review that runs out expires its change.
    let (st, pipe) = alice
        .post(
            "/v1/changes",
            json!({"kind": "pipeline", "subject": "Pipeline::\"etl\"", "version": "1",
                   "artifact_sha256": digest_of("etl"), "environment": "staging"}),
        )
        .await;
    assert_eq!(st, 201, "{pipe}");
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let (st, v) = admin
        .vote(pipe["review_approval"].as_str().unwrap(), "approve", None)
        .await;
    assert_eq!(st, 403, "{v}");
    let (_, pipe) = ci
        .get(&format!("/v1/changes/{}", pipe["id"].as_str().unwrap()))
        .await;
    assert_eq!(pipe["state"], "expired");
}

#[tokio::test]
async fn a_held_policy_change_is_applied_later_as_a_governed_action() {
    let s = Server::start_configured(None, |_| {
        "[[changes.gates]]\nkind = \"policy\"\nenvironment = \"staging\"\nafter = \"none\"\nreviews = { quorum = 0 }\nwait = \"1s\"\n".to_owned()
    });
    let bot = s.principal("bot", "agent", &[], Some("admin")).await;
    let work = tempfile::tempdir().unwrap();
    let dir = policy_dir(
        &s,
        work.path(),
        "\n@id(\"no-agent-exports-in-staging\")\nforbid (principal is Agent, action == Action::\"data.export\", resource)\nwhen { context.environment == \"staging\" };\n",
        "",
    );
    let out = s.cli(
        &s.admin_token,
        &[
            "policy",
            "propose",
            dir.to_str().unwrap(),
            "--env",
            "staging",
            "--json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let change: Value = serde_json::from_slice(&out.stdout).unwrap();
    // Approved (no review), but the wait timer holds it: not in force yet.
    assert_eq!(change["state"], "approved", "{change}");
    // Submission said it would wait; the apply at approval found it must.
    let waits: Vec<&Value> = change["gates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["rule"] == "wait 1s")
        .collect();
    assert_eq!(waits.len(), 2, "{change}");
    assert_eq!(
        (&waits[0]["status"], &waits[1]["status"]),
        (&json!("pending"), &json!("fail"))
    );
    assert_eq!(export(&s, &bot, "staging").await, "allow");

    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let digest = change["artifact_sha256"].as_str().unwrap();
    let out = s.cli(
        &s.admin_token,
        &[
            "run",
            "--action",
            "policy.apply",
            "--resource",
            "PolicySet::\"countersign\"",
            "--env",
            "staging",
            "--change",
            change["id"].as_str().unwrap(),
            "--artifact-sha256",
            digest,
            "--",
            "true",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(export(&s, &bot, "staging").await, "deny");
    let (_, c) = s
        .admin()
        .get(&format!("/v1/changes/{}", change["id"].as_str().unwrap()))
        .await;
    assert_eq!(c["state"], "deployed");
}

#[tokio::test]
async fn a_review_and_an_override_approved_at_once_approve_the_change_once() {
    let s = Server::start_configured(None, |_| LIFECYCLE_GATES.to_owned());
    let alice = s.client(&s.principal("alice", "user", &["engineer"], None).await);
    let sam = s.client(&s.principal("sam", "user", &["sre"], None).await);
    let admin = s.admin();
    let mut ids = Vec::new();
    for i in 0..10 {
        let c = prompt(&alice, "prod", &format!("hotfix-{i}"), Some("outage")).await;
        let review = c["review_approval"].as_str().unwrap().to_owned();
        let over = c["override_approval"].as_str().unwrap().to_owned();
        // Both last votes race; one write sees the other approval done.
        let ((st1, v1), (st2, v2)) = tokio::join!(
            admin.vote(&review, "approve", None),
            sam.vote(&over, "approve", None)
        );
        assert_eq!((st1, st2), (200, 200), "{v1} {v2}");
        ids.push(c["id"].as_str().unwrap().to_owned());
    }
    let transitions = admin.audit("change.transition").await;
    for (i, id) in ids.iter().enumerate() {
        let (_, c) = alice.get(&format!("/v1/changes/{id}")).await;
        // Each newer hotfix supersedes the one before it once approved.
        let want = if i + 1 == ids.len() {
            "approved"
        } else {
            "superseded"
        };
        assert_eq!(c["state"], want, "{c}");
        let approved = transitions
            .iter()
            .filter(|e| e["change_id"] == id.as_str() && e["verdict"] == "approved")
            .count();
        assert_eq!(approved, 1, "change {id} approved once");
        let mut by: Vec<&str> = c["approved_by"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        by.sort_unstable();
        assert_eq!(by, ["admin", "sam"]);
    }
}

#[tokio::test]
async fn an_author_withdraws_a_change_and_its_reviews_close_with_it() {
    let s = Server::start_configured(None, |_| LIFECYCLE_GATES.to_owned());
    let alice_token = s.principal("alice", "user", &["engineer"], None).await;
    let alice = s.client(&alice_token);
    let bob = s.client(&s.principal("bob", "user", &["engineer"], None).await);
    let admin = s.admin();

    let c = prompt(&alice, "prod", "v9", Some("outage")).await;
    let id = c["id"].as_str().unwrap();
    let (st, v) = bob
        .post(&format!("/v1/changes/{id}/cancel"), json!({}))
        .await;
    assert_eq!(st, 403, "only the author or an admin: {v}");
    let out = s.cli(
        &alice_token,
        &["change", "cancel", id, "--reason", "wrong prompt", "--json"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let cancelled: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(cancelled["state"], "cancelled");
    assert_eq!(cancelled["end_reason"], "wrong prompt");
    // Both of its approvals closed: no reviewer can complete them now.
    for key in ["review_approval", "override_approval"] {
        let aid = c[key].as_str().unwrap();
        let (_, a) = admin.get(&format!("/v1/approvals/{aid}")).await;
        assert_eq!(a["state"], "cancelled", "{a}");
        let (st, _) = admin.vote(aid, "approve", None).await;
        assert_ne!(st, 200);
    }
    let (st, v) = alice
        .post(&format!("/v1/changes/{id}/cancel"), json!({}))
        .await;
    assert_eq!(st, 409, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("is cancelled")
    );
    // An approved, undeployed change can be withdrawn too, and then never deployed.
    let ok = prompt(&alice, "staging", "v10", None).await;
    let (st, _) = alice
        .post(
            &format!("/v1/changes/{}/cancel", ok["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!(st, 200);
    let ci = s.client(&s.principal("ci", "service", &[], None).await);
    let d = deploy_prompt(&ci, "staging", &ok, "v10").await;
    assert!(
        d["reason"].as_str().unwrap().contains("is cancelled"),
        "{d}"
    );
}
