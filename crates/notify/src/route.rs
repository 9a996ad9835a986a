//! Routing: which destinations a notice goes to. A destination is a string
//! key: `slack:<channel or user id>`, `teams:<name>`, `webhook:<name>`.

use crate::config::{NotifyConfig, RouteSection};
use crate::notice::RouteFacts;
use std::collections::BTreeSet;

/// `pattern` with an optional trailing `*` (prefix match); quotes around a
/// resource id (`Table::"orders"`) are ignored.
fn matches(pattern: &str, value: &str) -> bool {
    let pattern = pattern.replace('"', "");
    match pattern.strip_suffix('*') {
        Some(prefix) => value.starts_with(prefix),
        None => pattern == value,
    }
}

fn any(patterns: &[String], value: &str) -> bool {
    patterns.is_empty() || patterns.iter().any(|p| matches(p, value))
}

fn rule_matches(r: &RouteSection, f: &RouteFacts) -> bool {
    any(&r.environments, &f.environment)
        && any(&r.actions, &f.action)
        && any(&r.resources, &f.resource)
        && (r.groups.is_empty() || r.groups.iter().any(|g| f.groups.contains(g)))
}

/// Which channel kinds care about which events.
fn wants(cfg: &NotifyConfig, dest: &str, event: &str) -> bool {
    match dest.split_once(':') {
        Some(("slack", _)) => event != "decision.denied",
        Some(("teams", _)) => matches!(event, "approval.requested" | "approval.decided"),
        Some(("webhook", name)) => cfg
            .webhooks
            .get(name)
            .is_some_and(|w| w.events.iter().any(|e| e == event)),
        _ => false,
    }
}

/// The destinations of a notice. `approvers` lists the principals eligible
/// to vote (for Slack direct messages).
pub fn destinations(
    cfg: &NotifyConfig,
    event: &str,
    facts: &RouteFacts,
    approvers: &[String],
) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for r in cfg.routes.iter().filter(|r| rule_matches(r, facts)) {
        out.extend(r.slack.iter().map(|c| format!("slack:{c}")));
        out.extend(r.teams.iter().map(|t| format!("teams:{t}")));
        out.extend(r.webhooks.iter().map(|w| format!("webhook:{w}")));
        if r.slack_dm_approvers
            && let Some(slack) = &cfg.slack
        {
            for (slack_user, principal) in &slack.users {
                if approvers.contains(principal) && *principal != facts.requester {
                    out.insert(format!("slack:{slack_user}"));
                }
            }
        }
    }
    out.retain(|d| wants(cfg, d, event));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NotifySection;

    fn cfg(toml_routes: &str) -> NotifyConfig {
        let text = format!(
            "public_url = \"https://cs.example\"\n\
             [[webhooks]]\nname = \"siem\"\nurl = \"http://127.0.0.1:1/h\"\nsecret_file = \"wh\"\n\
             events = [\"decision.denied\"]\n\
             [slack]\nbot_token_file = \"tok\"\nsigning_secret_file = \"sig\"\n\
             users = {{ UR = \"rita\", US = \"sam\", UB = \"bot\" }}\n{toml_routes}"
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("wh"),
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        )
        .unwrap();
        std::fs::write(dir.path().join("tok"), "xoxb-1").unwrap();
        std::fs::write(dir.path().join("sig"), "s").unwrap();
        let s: NotifySection = toml::from_str(&text).unwrap();
        s.validate(dir.path()).unwrap()
    }

    fn facts(env: &str, action: &str, res: &str, groups: &[&str]) -> RouteFacts {
        RouteFacts {
            environment: env.into(),
            action: action.into(),
            resource: res.into(),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
            requester: "bot".into(),
        }
    }

    #[test]
    fn filters_combine_and_events_are_per_destination() {
        let c = cfg(
            "[[routes]]\nenvironments = [\"prod\"]\nactions = [\"sql.*\"]\n\
                     resources = ['Table::\"orders\"']\nwebhooks = [\"siem\"]\n\
                     [[routes]]\ngroups = [\"dba\"]\nwebhooks = [\"siem\"]\n",
        );
        let f = facts("prod", "sql.ddl", "Table::orders", &[]);
        assert_eq!(
            destinations(&c, "decision.denied", &f, &[]),
            BTreeSet::from(["webhook:siem".to_owned()])
        );
        // The webhook is not subscribed to requests.
        assert!(destinations(&c, "approval.requested", &f, &[]).is_empty());
        assert!(
            destinations(
                &c,
                "decision.denied",
                &facts("dev", "sql.ddl", "Table::orders", &[]),
                &[]
            )
            .is_empty()
        );
        assert!(
            destinations(
                &c,
                "decision.denied",
                &facts("prod", "repo.push", "Table::orders", &[]),
                &[]
            )
            .is_empty()
        );
        assert!(
            destinations(
                &c,
                "decision.denied",
                &facts("prod", "sql.ddl", "Table::users", &[]),
                &[]
            )
            .is_empty()
        );
        // The second rule matches by approver group.
        assert_eq!(
            destinations(
                &c,
                "decision.denied",
                &facts("dev", "x.y", "A::b", &["dba"]),
                &[]
            )
            .len(),
            1
        );
    }

    #[test]
    fn slack_direct_messages_go_to_mapped_eligible_approvers_but_not_the_requester() {
        let c = cfg("[[routes]]\nslack = [\"COPS\"]\nslack_dm_approvers = true\n");
        let mut f = facts("prod", "sql.write", "Table::orders", &["reviewer"]);
        f.requester = "sam".into();
        let d = destinations(&c, "approval.requested", &f, &["rita".into(), "sam".into()]);
        assert_eq!(
            d,
            BTreeSet::from(["slack:COPS".to_owned(), "slack:UR".to_owned()])
        );
        // Slack never gets policy denials.
        assert!(destinations(&c, "decision.denied", &f, &[]).is_empty());
    }

    #[test]
    fn routes_to_undefined_destinations_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let s: NotifySection =
            toml::from_str("public_url = \"https://x\"\n[[routes]]\nwebhooks = [\"nope\"]\n")
                .unwrap();
        let e = s.validate(dir.path()).unwrap_err();
        assert!(e.0.contains("nope"), "{e}");
        let s: NotifySection =
            toml::from_str("public_url = \"https://x\"\n[[routes]]\nslack = [\"C1\"]\n").unwrap();
        assert!(
            s.validate(dir.path())
                .unwrap_err()
                .0
                .contains("no [notify.slack]")
        );
        assert!(toml::from_str::<NotifySection>("public_url = \"x\"\nbogus = 1\n").is_err());
        let s: NotifySection = toml::from_str("public_url = \"ftp://x\"\n").unwrap();
        assert!(s.validate(dir.path()).is_err());
    }
}
