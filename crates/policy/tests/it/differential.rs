//! The index must never change an answer: on random policy sets and random
//! requests, the indexed evaluation gives exactly Cedar's response on the
//! whole set (decision, determining policies and errors), and `decide`
//! gives what the approval model computes from whole-set responses.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test and bench helpers fail loudly"
)]

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;

use cedar_policy::{
    Authorizer, Context, Decision, Entities, Entity, EntityUid, Request, Response,
    RestrictedExpression,
};
use countersign_policy::{
    ApprovalFacts, Directory, EntityRef, PolicyDecision, PolicySet, PolicySource, Query,
};

const SCHEMA: &str = r#"
type Approval = { granted: Bool, count: Long, approvers: Set<User> };
type Ctx = { environment: String, approval: Approval };
entity Group in [Group];
entity User in [Group] { email?: String };
entity Agent in [Group] { owner: User };
entity Folder in [Folder];
entity Doc in [Folder];
entity Table;
action "all";
action "reads" in ["all"];
action "writes" in ["all"];
action "doc.read" in ["reads"] appliesTo { principal: [User, Agent], resource: [Doc, Folder], context: Ctx };
action "doc.write" in ["writes"] appliesTo { principal: [User, Agent], resource: [Doc, Folder], context: Ctx };
action "table.read" in ["reads"] appliesTo { principal: [User, Agent], resource: [Table], context: Ctx };
action "table.write" in ["writes"] appliesTo { principal: [User], resource: [Table], context: Ctx };
action "admin" appliesTo { principal: [User], resource: [Table, Folder], context: Ctx };
"#;

/// Concrete actions with the principal and resource types they apply to.
const ACTIONS: &[(&str, &[&str], &[&str])] = &[
    ("doc.read", &["User", "Agent"], &["Doc", "Folder"]),
    ("doc.write", &["User", "Agent"], &["Doc", "Folder"]),
    ("table.read", &["User", "Agent"], &["Table"]),
    ("table.write", &["User"], &["Table"]),
    ("admin", &["User"], &["Table", "Folder"]),
];

/// SplitMix64: small, seeded, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

const PRINCIPALS: &[&str] = &[
    "principal",
    "principal == User::\"u0\"",
    "principal == Agent::\"a0\"",
    "principal in Group::\"g0\"",
    "principal in Group::\"g1\"",
    "principal in Group::\"g2\"",
    "principal is Agent",
    "principal is User",
    "principal is User in Group::\"g1\"",
    "principal in User::\"u1\"",
];

const ACTION_SCOPES: &[&str] = &[
    "action",
    "action == Action::\"doc.read\"",
    "action == Action::\"table.write\"",
    "action == Action::\"admin\"",
    "action in [Action::\"doc.read\", Action::\"table.read\"]",
    "action in [Action::\"doc.write\", Action::\"admin\"]",
    "action in Action::\"reads\"",
    "action in Action::\"writes\"",
    "action in Action::\"all\"",
    "action in [Action::\"writes\", Action::\"table.read\"]",
];

const RESOURCES: &[&str] = &[
    "resource",
    "resource == Doc::\"d0\"",
    "resource == Doc::\"d1\"",
    "resource == Table::\"t0\"",
    "resource == Folder::\"f1\"",
    "resource in Folder::\"f0\"",
    "resource in Folder::\"f1\"",
    "resource in Doc::\"d1\"",
    "resource is Doc",
    "resource is Table",
    "resource is Folder",
    "resource is Doc in Folder::\"f0\"",
];

const ATOMS: &[&str] = &[
    "context.environment == \"prod\"",
    "context.environment == \"dev\"",
    "context.environment == \"staging\"",
    "context.environment != \"prod\"",
    "context.environment != \"dev\"",
    "\"qa\" == context.environment",
    "context.approval.granted",
    "!context.approval.granted",
    "context.approval.count >= 2",
    "context.approval.approvers.contains(User::\"u0\")",
    "principal in Group::\"g2\"",
    "resource in Folder::\"f1\"",
    // Errors at run time: integer overflow once count >= 1 or >= 2.
    "context.approval.count + 9223372036854775807 > 0",
    "context.approval.count * 4611686018427387904 > 1",
    "(principal is Agent && principal.owner == User::\"u0\")",
    "true",
    "false",
];

fn body(rng: &mut Rng) -> String {
    let first = rng.pick(ATOMS);
    match rng.below(4) {
        0 | 1 => (*first).to_owned(),
        2 => format!("{first} && {}", rng.pick(ATOMS)),
        _ => format!("{first} && {} && {}", rng.pick(ATOMS), rng.pick(ATOMS)),
    }
}

fn policies(rng: &mut Rng, n: usize) -> String {
    let mut text = String::new();
    for i in 0..n {
        let effect = if rng.chance(65) { "permit" } else { "forbid" };
        let mut annotations = format!("@id(\"p{i}\")");
        let mut conditions = String::new();
        for _ in 0..rng.below(3) {
            let kind = if rng.chance(75) { "when" } else { "unless" };
            let _ = write!(conditions, " {kind} {{ {} }}", body(rng));
        }
        if effect == "permit" && rng.chance(30) {
            let _ = write!(annotations, " @approval_quorum(\"{}\")", 1 + rng.below(3));
            conditions.push_str(" when { context.approval.granted }");
        }
        let _ = writeln!(
            text,
            "{annotations}\n{effect} ({}, {}, {}){conditions};",
            rng.pick(PRINCIPALS),
            rng.pick(ACTION_SCOPES),
            rng.pick(RESOURCES),
        );
    }
    text
}

fn uid(s: &str) -> EntityUid {
    s.parse().unwrap()
}

/// Principals with nested groups and resources with a folder hierarchy; a
/// few ids used in requests are deliberately missing.
fn entities(set: &PolicySet) -> Entities {
    let group = |id: &str, parents: &[&str]| {
        Entity::new_no_attrs(
            uid(&format!("Group::\"{id}\"")),
            parents
                .iter()
                .map(|p| uid(&format!("Group::\"{p}\"")))
                .collect(),
        )
    };
    let with_parents = |id: &str, parents: &[&str]| -> HashSet<EntityUid> {
        let _ = id;
        parents.iter().map(|p| uid(p)).collect()
    };
    let agent = |id: &str, owner: &str, groups: &[&str]| {
        Entity::new(
            uid(&format!("Agent::\"{id}\"")),
            HashMap::from([(
                "owner".to_owned(),
                RestrictedExpression::new_entity_uid(uid(&format!("User::\"{owner}\""))),
            )]),
            with_parents(id, groups),
        )
        .unwrap()
    };
    let list = vec![
        group("g0", &[]),
        group("g1", &["g0"]),
        group("g2", &["g1"]),
        Entity::new_no_attrs(uid("User::\"u0\""), with_parents("u0", &["Group::\"g0\""])),
        Entity::new_no_attrs(uid("User::\"u1\""), with_parents("u1", &["Group::\"g2\""])),
        Entity::new_no_attrs(uid("User::\"u2\""), HashSet::new()),
        agent("a0", "u0", &["Group::\"g1\""]),
        agent("a1", "u9", &["Group::\"g2\""]),
        Entity::new_no_attrs(uid("Folder::\"f0\""), HashSet::new()),
        Entity::new_no_attrs(
            uid("Folder::\"f1\""),
            with_parents("f1", &["Folder::\"f0\""]),
        ),
        Entity::new_no_attrs(uid("Doc::\"d0\""), with_parents("d0", &["Folder::\"f0\""])),
        Entity::new_no_attrs(uid("Doc::\"d1\""), with_parents("d1", &["Folder::\"f1\""])),
        Entity::new_no_attrs(uid("Doc::\"d2\""), HashSet::new()),
    ];
    Entities::from_entities(list, Some(set.schema())).unwrap()
}

const ENVS: &[&str] = &["dev", "staging", "prod", "qa", "sandbox"];

/// One random request.
#[derive(Debug)]
struct Ask {
    principal: (&'static str, &'static str),
    action: &'static str,
    resource: (&'static str, &'static str),
    env: &'static str,
    facts: ApprovalFacts,
}

fn ask(rng: &mut Rng) -> Ask {
    let (action, principal_types, resource_types) = *rng.pick(ACTIONS);
    let principal_type = *rng.pick(principal_types);
    let principal_id = match principal_type {
        "User" => *rng.pick(&["u0", "u1", "u2", "u9"]),
        _ => *rng.pick(&["a0", "a1", "a9"]),
    };
    let resource_type = *rng.pick(resource_types);
    let resource_id = match resource_type {
        "Doc" => *rng.pick(&["d0", "d1", "d2", "d9"]),
        "Folder" => *rng.pick(&["f0", "f1", "f9"]),
        _ => *rng.pick(&["t0", "t1"]),
    };
    let approvers: Vec<String> = ["u0", "u1", "u2"]
        .iter()
        .filter(|_| rng.chance(30))
        .map(|a| (*a).to_owned())
        .collect();
    let env = *rng.pick(ENVS);
    Ask {
        principal: (principal_type, principal_id),
        action,
        resource: (resource_type, resource_id),
        env,
        facts: ApprovalFacts {
            granted: rng.chance(30),
            count: *rng.pick(&[0, 0, 1, 2, 3]),
            approvers,
        },
    }
}

fn request(set: &PolicySet, a: &Ask, granted: bool, count: i64, approvers: &[String]) -> Request {
    let action = uid(&format!("Action::\"{}\"", a.action));
    let approvers: Vec<_> = approvers
        .iter()
        .map(|id| serde_json::json!({ "__entity": { "type": "User", "id": id } }))
        .collect();
    let context = serde_json::json!({
        "environment": a.env,
        "approval": { "granted": granted, "count": count, "approvers": approvers },
    });
    let context = Context::from_json_value(context, Some((set.schema(), &action))).unwrap();
    Request::new(
        uid(&format!("{}::\"{}\"", a.principal.0, a.principal.1)),
        action,
        uid(&format!("{}::\"{}\"", a.resource.0, a.resource.1)),
        context,
        Some(set.schema()),
    )
    .unwrap()
}

/// Everything observable about a response, in a comparable form.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    allow: bool,
    reasons: BTreeSet<String>,
    errors: BTreeSet<String>,
}

fn seen(r: &Response) -> Seen {
    Seen {
        allow: r.decision() == Decision::Allow,
        reasons: r.diagnostics().reason().map(ToString::to_string).collect(),
        errors: r.diagnostics().errors().map(ToString::to_string).collect(),
    }
}

/// The approval model computed from whole-set responses: (label,
/// determining policies, approval rule id).
fn reference(
    first: &Seen,
    second: Option<&Seen>,
    set: &PolicySet,
) -> (String, Vec<String>, Option<String>) {
    let ids = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>();
    if first.allow {
        if first.errors.is_empty() {
            return ("allow".into(), ids(&first.reasons), None);
        }
        let mut errored: Vec<String> = first
            .errors
            .iter()
            .filter_map(|e| e.split('`').nth(1).map(str::to_owned))
            .collect();
        errored.dedup();
        return ("deny".into(), errored, None);
    }
    if let Some(second) = second
        && second.allow
        && second.errors.is_empty()
    {
        let rule = second
            .reasons
            .iter()
            .filter_map(|id| set.approval_rule(id))
            .min_by(|a, b| (a.quorum, &a.policy_id).cmp(&(b.quorum, &b.policy_id)));
        if let Some(rule) = rule {
            return (
                "pending".into(),
                ids(&second.reasons),
                Some(rule.policy_id.clone()),
            );
        }
    }
    ("deny".into(), ids(&first.reasons), None)
}

#[test]
fn the_index_never_changes_an_answer() {
    let authorizer = Authorizer::new();
    let mut rng = Rng(0x5EED_CAFE);
    let (mut requests, mut allows, mut errors, mut pendings) = (0, 0, 0, 0);
    for round in 0..200 {
        let n = 1 + rng.below(30);
        let text = policies(&mut rng, n);
        let set = PolicySet::compile(
            "schema.cedarschema",
            SCHEMA,
            &[PolicySource::new("random.cedar", text.clone())],
        )
        .unwrap_or_else(|e| panic!("round {round}: {e}\n{text}"));
        let entities = entities(&set);
        let directory = Directory::from_entities(entities.clone());
        for _ in 0..50 {
            let a = ask(&mut rng);
            let req = request(
                &set,
                &a,
                a.facts.granted,
                i64::from(a.facts.count),
                &a.facts.approvers,
            );
            let full = seen(&authorizer.is_authorized(&req, set.cedar_policies(), &entities));
            let indexed = seen(&set.is_authorized(&req, &entities));
            assert_eq!(indexed, full, "round {round}, {a:?}\n{text}");

            let hypothetical = request(&set, &a, true, 1_000_000, &[]);
            let second_full =
                seen(&authorizer.is_authorized(&hypothetical, set.cedar_policies(), &entities));
            assert_eq!(
                seen(&set.is_authorized(&hypothetical, &entities)),
                second_full,
                "round {round}, hypothetical {a:?}\n{text}"
            );

            let empty = serde_json::Map::new();
            let query = Query {
                principal: EntityRef {
                    kind: a.principal.0,
                    id: a.principal.1,
                },
                action: a.action,
                resource: EntityRef {
                    kind: a.resource.0,
                    id: a.resource.1,
                },
                environment: a.env,
                context: &empty,
            };
            let got = set.decide(&query, Some(&a.facts), &directory).unwrap();
            let second = (!a.facts.granted).then_some(&second_full);
            let want = reference(&full, second, &set);
            let rule = match &got {
                PolicyDecision::ApprovalRequired { rule, .. } => Some(rule.policy_id.clone()),
                _ => None,
            };
            assert_eq!(
                (got.label().to_owned(), got.policies().to_vec(), rule),
                want,
                "round {round}, decide {a:?}\n{text}"
            );

            requests += 1;
            allows += usize::from(full.allow);
            errors += usize::from(!full.errors.is_empty());
            pendings += usize::from(got.label() == "pending");
        }
    }
    eprintln!("{requests} requests: {allows} allows, {errors} with errors, {pendings} pending");
    // The generator must exercise every branch, not just agree on denies.
    assert!(requests >= 10_000);
    assert!(allows > requests / 10, "{allows} allows of {requests}");
    assert!(errors > requests / 50, "{errors} with errors of {requests}");
    assert!(pendings > requests / 50, "{pendings} pending of {requests}");
}
