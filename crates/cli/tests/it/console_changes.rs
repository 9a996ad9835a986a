//! The console's changes and inventory pages, against the served binary:
//! changes submitted and deployed through the API, then read as a signed-in
//! person — the inventory, the filtered list, a failed gate report, the
//! evidence escaped, a policy change's permission differences, and refused
//! filters.

use crate::changes::NO_AGENT_EXPORTS_IN_PROD;
use crate::common::Server;
use crate::console::Web;
use serde_json::{Value, json};

const EVIL: &str = "<script>alert('x')</script>";

fn digest() -> String {
    "ab12".repeat(16)
}

/// Submits a model change for `Model::"fraud"` as `token`; returns it.
pub async fn submit(s: &Server, token: &str, env: &str, extra: Value) -> Value {
    let mut body = json!({
        "kind": "model", "subject": "Model::\"fraud\"", "version": "v1",
        "artifact_sha256": digest(), "environment": env,
        "metrics": {"accuracy": 0.93},
    });
    if let (Some(b), Value::Object(x)) = (body.as_object_mut(), extra) {
        b.extend(x);
    }
    let (st, c) = s.client(token).post("/v1/changes", body).await;
    assert_eq!(st, 201, "{c}");
    c
}

/// A dev change (no review: approved at once), deployed by the `ci` service
/// the way a pipeline does it: a deploy decision, then the outcome; and a
/// prod change of the same artifact that skipped staging. Returns both ids.
pub async fn deployed_and_failed(s: &Server, author: &str, ci: &str) -> (String, String) {
    let dev = submit(
        s,
        author,
        "dev",
        json!({
            "description": format!("retrained {EVIL}"),
            "links": ["https://ci.example.com/runs/42", format!("https://ci.example.com/\"{EVIL}")],
        }),
    )
    .await;
    assert_eq!(dev["state"], "approved", "{dev}");
    let id = dev["id"].as_str().unwrap().to_owned();
    let ci = s.client(ci);
    let d = ci
        .decide(
            "model.deploy",
            "Model",
            "fraud",
            "dev",
            json!({"change": {"id": id, "artifact_sha256": digest()}}),
        )
        .await;
    assert_eq!(d["verdict"], "allow", "{d}");
    let (st, c) = ci
        .post(&format!("/v1/changes/{id}/deployed"), json!({}))
        .await;
    assert_eq!(st, 200, "{c}");
    assert_eq!(c["state"], "deployed", "{c}");

    let prod = submit(s, author, "prod", json!({})).await;
    assert_eq!(prod["state"], "checks_failed", "{prod}");
    (id, prod["id"].as_str().unwrap().to_owned())
}

/// The part of `body` from `marker` on (a page section), or panics.
fn from<'a>(body: &'a str, marker: &str) -> &'a str {
    let i = body
        .find(marker)
        .unwrap_or_else(|| panic!("no `{marker}` in {body}"));
    &body[i..]
}

#[tokio::test]
async fn console_changes_show_inventory_gate_report_and_escape_evidence() {
    let s = Server::start();
    let sam = s.principal("sam", "user", &["reviewer"], None).await;
    let alice = s.principal("alice", "user", &["engineer"], None).await;
    let ci = s.principal("ci", "service", &[], None).await;
    let (dev, prod) = deployed_and_failed(&s, &alice, &ci).await;

    let mut web = Web::new(&s.url);
    // Not signed in: the sign-in form, coming back afterwards.
    let p = web.get("/ui/changes").await;
    assert_eq!(p.status, 303);
    assert_eq!(p.location(), "/ui/login?next=%2Fui%2Fchanges");
    assert_eq!(web.sign_in(&sam).await.status, 303);

    let p = web.get("/ui/changes").await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(
        p.body
            .contains("<a href=\"/ui/changes\" aria-current=\"page\">Changes</a>"),
        "the nav marks the page"
    );
    // The inventory: the deployed dev change, who let it in, its metrics.
    let inventory = from(&p.body, "id=\"inventory\"");
    let inventory = &inventory[..inventory.find("id=\"recent\"").unwrap()];
    assert!(
        inventory.contains(&format!("<tr data-change=\"{dev}\">")),
        "{inventory}"
    );
    assert!(inventory.contains("<span class=\"badge env\">dev</span>"));
    assert!(inventory.contains("model <code>Model::&quot;fraud&quot;</code>"));
    assert!(inventory.contains(&format!("<a href=\"/ui/changes/{dev}\">v1</a>")));
    assert!(inventory.contains(">ab12ab12ab12</code>"), "short digest");
    assert!(inventory.contains("<td>alice</td>"));
    assert!(inventory.contains("no review required"));
    assert!(inventory.contains("<li><code>accuracy</code> 0.93</li>"));
    assert!(!inventory.contains(&prod), "a failed change is not live");
    // Recent changes, newest first.
    let recent = from(&p.body, "id=\"recent\"");
    let (i_prod, i_dev) = (recent.find(&prod).unwrap(), recent.find(&dev).unwrap());
    assert!(i_prod < i_dev, "newest first");
    assert!(recent.contains("<span class=\"badge state-checks_failed\">checks_failed</span>"));
    assert!(recent.contains("<span class=\"badge state-deployed\">deployed</span>"));

    // Filtered: only the failed prod change, and nothing live in prod.
    let p = web
        .get("/ui/changes?state=checks_failed&environment=prod")
        .await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.body.contains(&prod));
    assert!(!p.body.contains(&dev), "{}", p.body);
    assert!(p.body.contains("<option value=\"checks_failed\" selected>"));
    assert!(p.body.contains("<option value=\"prod\" selected>"));
    assert!(p.body.contains("Nothing deployed through a change yet."));
    let p = web.get("/ui/changes?state=deployed").await;
    assert!(p.body.contains(&dev) && !p.body.contains(&prod));

    // Unknown filter values: 400, a clear message, the value escaped.
    let p = web.get("/ui/changes?state=shipped").await;
    assert_eq!(p.status, 400);
    assert!(
        p.body.contains(
            "unknown state `shipped`: use checks_failed, awaiting_review, approved, rejected, \
             expired, cancelled, superseded, deployed, rolled_back or all"
        ),
        "{}",
        p.body
    );
    let p = web
        .get("/ui/changes?state=%3Cscript%3Ealert(1)%3C%2Fscript%3E")
        .await;
    assert_eq!(p.status, 400);
    assert!(
        p.body
            .contains("unknown state `&lt;script&gt;alert(1)&lt;/script&gt;`")
    );
    assert!(!p.body.contains("<script>alert"));
    let p = web.get("/ui/changes?environment=qa").await;
    assert_eq!(p.status, 400);
    assert!(
        p.body
            .contains("unknown environment `qa`: use dev, staging, prod or all")
    );
    let p = web.get("/ui/changes?colour=red").await;
    assert_eq!(p.status, 400);
    assert!(p.body.contains("unknown field `colour`"), "{}", p.body);

    // The failed change: its gate report, the promotion gate marked failed
    // with what was measured.
    let p = web.get(&format!("/ui/changes/{prod}")).await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(
        p.body
            .contains("<span class=\"badge state-checks_failed\">")
    );
    let promotion = from(
        &p.body,
        "<tr class=\"gate gate-fail\" data-gate=\"promotion\">",
    );
    let promotion = &promotion[..promotion.find("</tr>").unwrap()];
    assert!(
        promotion.contains("<td>this artifact is not live in staging</td>"),
        "{promotion}"
    );
    assert!(promotion.contains("<span class=\"badge gate-fail\">fail</span>"));
    assert!(p.body.contains("id=\"gates-failed\""));
    assert!(
        p.body
            .contains("No review was opened: a gate failed at submission.")
    );
    assert!(!p.body.contains("style="), "no inline styles");

    // The deployed change: evidence escaped, links only as links, deploy facts.
    let p = web.get(&format!("/ui/changes/{dev}")).await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(!p.body.contains("<script>alert"), "{}", p.body);
    assert!(
        p.body.contains(
            "<dd id=\"description\">retrained &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;</dd>"
        ),
        "{}",
        p.body
    );
    assert!(p.body.contains(
        "<a href=\"https://ci.example.com/runs/42\" rel=\"noopener noreferrer nofollow\">"
    ));
    assert!(
        p.body
            .contains("href=\"https://ci.example.com/&quot;&lt;script&gt;")
    );
    assert!(
        p.body
            .contains("<tr><td><code>accuracy</code></td><td>0.93</td></tr>")
    );
    assert!(p.body.contains(&format!("sha256:{}", digest())));
    assert!(from(&p.body, "id=\"deployed-at\"").starts_with("id=\"deployed-at\"><time>"));
    assert!(p.body.contains("No review was required."));

    // A well-formed id that does not exist, and one that is not an id.
    let missing = format!("chg_{}", "0".repeat(32));
    let p = web.get(&format!("/ui/changes/{missing}")).await;
    assert_eq!(p.status, 404);
    assert!(
        p.body.contains(&format!("change `{missing}` not found")),
        "{}",
        p.body
    );
    let p = web.get(&format!("/ui/changes/{}", "%3Cb%3E")).await;
    assert_eq!(p.status, 400);
    assert!(
        p.body.contains("`&lt;b&gt;` is not a change id"),
        "{}",
        p.body
    );
}

#[tokio::test]
async fn console_policy_change_shows_permission_differences_and_links_its_review() {
    let s = Server::start_configured(None, |_| {
        "[[changes.gates]]\nkind = \"policy\"\nenvironment = \"prod\"\nafter = \"none\"\n"
            .to_owned()
    });
    let ada = s.principal("ada", "user", &["admin"], None).await;
    let dir = s.data_dir().join("policies");
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
    let cases = format!(
        "{}\n[[case]]\nname = \"agents never export from prod\"\nprincipal = \"Agent::deploy-bot\"\n\
         action = \"data.export\"\nresource = \"Dataset::events\"\nenvironment = \"prod\"\nexpect = \"deny\"\n",
        read("cases.toml")
    );
    let (st, change) = s
        .admin()
        .post(
            "/v1/changes",
            json!({
                "kind": "policy", "version": "no-agent-exports", "environment": "prod",
                "policy": {
                    "schema": read("schema.cedarschema"),
                    "files": [{"name": "policies.cedar",
                               "text": format!("{}{NO_AGENT_EXPORTS_IN_PROD}", read("policies.cedar"))}],
                    "cases": cases,
                },
            }),
        )
        .await;
    assert_eq!(st, 201, "{change}");
    assert_eq!(change["state"], "awaiting_review", "{change}");
    let id = change["id"].as_str().unwrap();
    let review = change["review_approval"].as_str().unwrap();

    let mut web = Web::new(&s.url);
    assert_eq!(web.sign_in(&ada).await.status, 303);
    let p = web.get(&format!("/ui/changes/{id}")).await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(
        p.body
            .contains("<span class=\"badge state-awaiting_review\">")
    );
    // The review is a link to the approval, where it is voted.
    assert!(
        p.body.contains(&format!(
            "<a href=\"/ui/approvals/{review}\" data-approval=\"{review}\">"
        )),
        "{}",
        p.body
    );
    assert!(from(&p.body, &format!("data-approval=\"{review}\"")).contains("0 of 1 approvals"));
    assert_eq!(
        web.get(&format!("/ui/approvals/{review}")).await.status,
        200
    );
    // Who loses which access, and which policy was added.
    let perms = from(&p.body, "id=\"permissions\"");
    assert!(
        perms.contains(
            "<tr class=\"perm-narrower\"><td>Agent in no group</td><td><code>data.export</code></td>\
             <td>Dataset</td><td>approval("
        ),
        "{perms}"
    );
    assert!(
        perms.contains("</td><td>deny</td><td><span class=\"badge perm-narrower\">narrower</span>")
    );
    let added = from(&p.body, "<ul class=\"inline added\">");
    assert!(added.starts_with(
        "<ul class=\"inline added\"><li><code>agents-never-export-from-prod</code></li></ul>"
    ));
    assert!(
        p.body
            .contains("<dt>Removed</dt><dd><span class=\"empty\">none</span>")
    );
    assert!(p.body.contains("<p id=\"policy-tests\">"));
    assert!(p.body.contains("policy.tests"));
    assert!(
        p.body
            .contains("<tr class=\"gate gate-pass\" data-gate=\"policy.compile\">")
    );

    // The list filters to it.
    let p = web
        .get("/ui/changes?state=awaiting_review&environment=prod")
        .await;
    assert_eq!(p.status, 200);
    assert!(p.body.contains(&format!("<tr data-change=\"{id}\">")));
}
