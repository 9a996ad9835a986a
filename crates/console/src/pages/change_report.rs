//! What a policy change would change, from the report its checks produced
//! (`{diff, permissions, tests}`): who gains or loses which access, which
//! policies are added, removed or changed, and how its test cases came out.
//! Reports of other kinds are shown as they are, as JSON.

use crate::html::e;
use countersign_core::change::Change;
use countersign_core::policy::{Access, PermissionChange};
use serde::Deserialize;
use serde_json::Value;
use std::fmt::Write as _;

/// `report.diff`: policy ids against the set live in the environment.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct PolicyDiff {
    live: String,
    proposed: String,
    added: Vec<String>,
    removed: Vec<String>,
    changed: Vec<String>,
    schema_changed: bool,
}

/// `report.tests`: the proposal's own cases run against it.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Tests {
    total: u64,
    passed: u64,
    failures: Vec<String>,
    error: Option<String>,
}

fn access_text(a: &Access) -> String {
    match a {
        Access::Allow => "allow".to_owned(),
        Access::Deny => "deny".to_owned(),
        Access::Approval { quorum, groups } => format!(
            "approval({quorum} of {})",
            if groups.is_empty() {
                "anyone".to_owned()
            } else {
                groups.join(",")
            }
        ),
    }
}

/// How permissive an answer is, to say whether a change widens access.
fn rank(a: &Access) -> u8 {
    match a {
        Access::Deny => 0,
        Access::Approval { .. } => 1,
        Access::Allow => 2,
    }
}

fn permissions(out: &mut String, v: Option<&Value>) {
    out.push_str("<h3 id=\"permissions\">Permission differences</h3>");
    let Some(v) = v else {
        out.push_str("<p class=\"empty\">Not computed (the set does not compile).</p>");
        return;
    };
    if let Some(err) = v.get("error").and_then(Value::as_str) {
        let _ = write!(out, "<p class=\"error\">Not computed: {}</p>", e(err));
        return;
    }
    let rows: Vec<PermissionChange> = match serde_json::from_value(v.clone()) {
        Ok(rows) => rows,
        Err(err) => {
            tracing::warn!(error = %err, "console: a change's permission report does not parse");
            out.push_str("<p class=\"error\">The permission report could not be read.</p>");
            return;
        }
    };
    if rows.is_empty() {
        out.push_str(
            "<p class=\"empty\" id=\"no-permission-changes\">No differences in effective permissions.</p>",
        );
        return;
    }
    out.push_str(
        "<div class=\"scroll\"><table class=\"permissions\" aria-labelledby=\"permissions\"><thead><tr>\
         <th scope=\"col\">Who</th><th scope=\"col\">Action</th><th scope=\"col\">Resource type</th>\
         <th scope=\"col\">Live</th><th scope=\"col\">Proposed</th><th scope=\"col\">Access</th>\
         </tr></thead><tbody>",
    );
    for r in &rows {
        let who = match &r.group {
            Some(g) => format!("{} in {}", r.principal_kind.as_str(), g),
            None => format!("{} in no group", r.principal_kind.as_str()),
        };
        let (class, word) = match rank(&r.right).cmp(&rank(&r.left)) {
            std::cmp::Ordering::Greater => ("wider", "wider"),
            std::cmp::Ordering::Less => ("narrower", "narrower"),
            std::cmp::Ordering::Equal => ("different", "different approvers"),
        };
        let _ = write!(
            out,
            "<tr class=\"perm-{class}\"><td>{}</td><td><code>{}</code></td><td>{}</td>\
             <td>{}</td><td>{}</td><td><span class=\"badge perm-{class}\">{word}</span></td></tr>",
            e(&who),
            e(&r.action),
            e(&r.resource_type),
            e(&access_text(&r.left)),
            e(&access_text(&r.right)),
        );
    }
    out.push_str("</tbody></table></div>");
}

fn id_list(out: &mut String, label: &str, class: &str, ids: &[String]) {
    let _ = write!(out, "<dt>{label}</dt><dd>");
    if ids.is_empty() {
        out.push_str("<span class=\"empty\">none</span>");
    } else {
        let _ = write!(out, "<ul class=\"inline {class}\">");
        for id in ids {
            let _ = write!(out, "<li><code>{}</code></li>", e(id));
        }
        out.push_str("</ul>");
    }
    out.push_str("</dd>");
}

fn diff(out: &mut String, v: Option<&Value>) {
    out.push_str("<h3>Policies</h3>");
    let Some(d) = v.and_then(|v| serde_json::from_value::<PolicyDiff>(v.clone()).ok()) else {
        out.push_str("<p class=\"empty\">Not compared (the set does not compile).</p>");
        return;
    };
    let _ = write!(
        out,
        "<dl class=\"facts policy-diff\"><dt>Live set</dt><dd><code class=\"hash\">{}</code></dd>\
         <dt>Proposed set</dt><dd><code class=\"hash\">{}</code></dd>",
        e(&d.live),
        e(&d.proposed)
    );
    id_list(out, "Added", "added", &d.added);
    id_list(out, "Removed", "removed", &d.removed);
    id_list(out, "Changed", "changed", &d.changed);
    let _ = write!(
        out,
        "<dt>Schema</dt><dd>{}</dd></dl>",
        if d.schema_changed {
            "changed"
        } else {
            "unchanged"
        }
    );
}

fn tests(out: &mut String, v: Option<&Value>) {
    out.push_str("<h3>Test cases</h3>");
    let t = v
        .and_then(|v| serde_json::from_value::<Tests>(v.clone()).ok())
        .unwrap_or_default();
    if let Some(err) = &t.error {
        let _ = write!(out, "<p class=\"error\">{}</p>", e(err));
        return;
    }
    let _ = write!(
        out,
        "<p id=\"policy-tests\">{} of {} cases match.</p>",
        t.passed, t.total
    );
    if !t.failures.is_empty() {
        out.push_str("<ul class=\"failures\">");
        for f in &t.failures {
            let _ = write!(out, "<li class=\"error\">{}</li>", e(f));
        }
        out.push_str("</ul>");
    }
}

/// The report section of a change page.
pub fn report_section(c: &Change, report: &Value) -> String {
    let mut out = String::from("<section class=\"card\"><h2 id=\"report\">");
    if c.kind != countersign_core::change::POLICY_KIND {
        out.push_str("Report</h2>");
        let text = serde_json::to_string_pretty(report).unwrap_or_default();
        let _ = write!(
            out,
            "<pre class=\"json\"><code>{}</code></pre></section>",
            e(&text)
        );
        return out;
    }
    out.push_str("What this policy change changes</h2>");
    if let Some(p) = &c.policy {
        let names: Vec<&str> = p.files.iter().map(|f| f.name.as_str()).collect();
        let _ = write!(out, "<p class=\"help\">Files: {}</p>", e(&names.join(", ")));
    }
    permissions(&mut out, report.get("permissions"));
    diff(&mut out, report.get("diff"));
    tests(&mut out, report.get("tests"));
    out.push_str("</section>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn permission_rows_say_whether_access_widens() {
        let mut out = String::new();
        permissions(
            &mut out,
            Some(&json!([
                {"principal_kind": "Agent", "group": null, "action": "data.export",
                 "resource_type": "Dataset", "left": {"type": "approval", "quorum": 2, "groups": ["reviewer"]},
                 "right": {"type": "deny"}},
                {"principal_kind": "User", "group": "<b>", "action": "sql.read",
                 "resource_type": "Table", "left": {"type": "deny"}, "right": {"type": "allow"}},
            ])),
        );
        assert!(out.contains(
            "<tr class=\"perm-narrower\"><td>Agent in no group</td><td><code>data.export</code></td>\
             <td>Dataset</td><td>approval(2 of reviewer)</td><td>deny</td>"
        ), "{out}");
        assert!(
            out.contains("<tr class=\"perm-wider\"><td>User in &lt;b&gt;</td>"),
            "{out}"
        );
    }

    #[test]
    fn a_permission_error_or_garbage_is_said_not_rendered() {
        let mut out = String::new();
        permissions(&mut out, Some(&json!({"error": "<probe failed>"})));
        assert!(out.contains("Not computed: &lt;probe failed&gt;"), "{out}");
        let mut out = String::new();
        permissions(&mut out, Some(&json!([{"nonsense": true}])));
        assert!(out.contains("could not be read"), "{out}");
    }
}
