//! `PolicySet::decide` versus Cedar's `Authorizer::is_authorized` on the
//! whole set, at 10, 100 and 1,000 generated policies; and the effective
//! permissions table (one `decide` per kind × group × action × resource
//! type) of the same sets and of the starter set.
//!
//! The generated sets look like a real deployment: 60 actions over 30
//! resource types, each policy scoped to one action (or two) and one type,
//! with conditions on the environment and groups, plus a few global forbids.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test and bench helpers fail loudly"
)]

use std::fmt::Write as _;
use std::hint::black_box;

use cedar_policy::{Authorizer, Context, EntityUid, Request};
use countersign_policy::{
    Directory, DirectoryEntry, EntityRef, PolicySet, PolicySource, PrincipalKind, Query,
};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

const ACTIONS: usize = 60;
const TYPES: usize = 30;

/// A small deterministic generator (SplitMix64).
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
}

fn resource_types(action: usize) -> [usize; 3] {
    [action % TYPES, (action + 7) % TYPES, (action + 13) % TYPES]
}

fn schema() -> String {
    let mut s = String::from(
        "type Approval = { granted: Bool, count: Long, approvers: Set<User> };\n\
         type Ctx = { environment: String, approval: Approval };\n\
         entity Group;\n\
         entity User in [Group] { email?: String };\n\
         entity Agent in [Group] { owner: User };\n\
         entity Service in [Group];\n",
    );
    for t in 0..TYPES {
        let _ = writeln!(s, "entity R{t};");
    }
    for a in 0..ACTIONS {
        let types = resource_types(a).map(|t| format!("R{t}")).join(", ");
        let _ = writeln!(
            s,
            "action \"svc{a}.op\" appliesTo {{ principal: [User, Agent, Service], resource: [{types}], context: Ctx }};"
        );
    }
    s
}

fn policies(n: usize) -> String {
    let mut rng = Rng(42);
    let mut s = String::from(
        "@id(\"allow-target\")\n\
         permit (principal in Group::\"engineer\", action == Action::\"svc0.op\", resource is R0)\n\
         when { context.environment == \"dev\" };\n\
         @id(\"approve-target\") @approval_quorum(\"1\") @approval_groups(\"reviewer\")\n\
         permit (principal in Group::\"engineer\", action == Action::\"svc1.op\", resource is R1)\n\
         when { context.environment == \"prod\" && context.approval.granted };\n\
         @id(\"kill-switch\")\n\
         forbid (principal in Group::\"suspended\", action, resource);\n",
    );
    let envs = ["dev", "staging", "prod"];
    for i in 3..n {
        let a = rng.below(ACTIONS);
        let t = resource_types(a)[rng.below(3)];
        let g = rng.below(20);
        let env = envs[rng.below(3)];
        let _ = match rng.below(4) {
            0 => writeln!(
                s,
                "@id(\"p{i}\") permit (principal in Group::\"g{g}\", action == Action::\"svc{a}.op\", resource == R{t}::\"r{i}\") when {{ context.environment == \"{env}\" }};"
            ),
            1 => writeln!(
                s,
                "@id(\"p{i}\") forbid (principal is Agent, action == Action::\"svc{a}.op\", resource is R{t}) when {{ context.environment == \"{env}\" && principal in Group::\"g{g}\" }};"
            ),
            2 => writeln!(
                s,
                "@id(\"p{i}\") @approval_quorum(\"2\") permit (principal in Group::\"g{g}\", action == Action::\"svc{a}.op\", resource is R{t}) when {{ context.environment == \"{env}\" && context.approval.granted && context.approval.count >= 2 }};"
            ),
            _ => writeln!(
                s,
                "@id(\"p{i}\") permit (principal, action in [Action::\"svc{a}.op\"], resource is R{t}) when {{ context.environment != \"{env}\" && principal in Group::\"g{g}\" }};"
            ),
        };
    }
    s
}

fn directory(set: &PolicySet) -> Directory {
    let mut entries = vec![DirectoryEntry {
        kind: PrincipalKind::User,
        id: "alice".into(),
        groups: vec!["engineer".into(), "g3".into(), "g7".into()],
        owner: None,
        email: Some("alice@example.com".into()),
    }];
    for i in 0..50 {
        entries.push(DirectoryEntry {
            kind: PrincipalKind::User,
            id: format!("u{i}"),
            groups: vec![format!("g{}", i % 20)],
            owner: None,
            email: None,
        });
        entries.push(DirectoryEntry {
            kind: PrincipalKind::Agent,
            id: format!("bot{i}"),
            groups: vec![format!("g{}", (i + 5) % 20)],
            owner: Some(format!("u{i}")),
            email: None,
        });
    }
    match Directory::build(set, &entries) {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    }
}

fn cedar_request(set: &PolicySet, action: &str, resource: &str, env: &str) -> Request {
    let parse = |s: &str| match s.parse::<EntityUid>() {
        Ok(u) => u,
        Err(e) => panic!("{e}"),
    };
    let context = serde_json::json!({
        "environment": env,
        "approval": { "granted": false, "count": 0, "approvers": [] },
    });
    let action = parse(&format!("Action::\"{action}\""));
    let context = match Context::from_json_value(context, Some((set.schema(), &action))) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    match Request::new(
        parse("User::\"alice\""),
        action,
        parse(resource),
        context,
        Some(set.schema()),
    ) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    }
}

fn bench(c: &mut Criterion) {
    let schema = schema();
    let empty = serde_json::Map::new();
    let mut group = c.benchmark_group("decide");
    for n in [10, 100, 1000] {
        let started = std::time::Instant::now();
        let set = match PolicySet::compile(
            "bench.cedarschema",
            &schema,
            &[PolicySource::new("bench.cedar", policies(n))],
        ) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        };
        let dir = directory(&set);
        eprintln!(
            "{n} policies compiled in {:?}, {} buckets; allow path evaluates {:?}; approval path {:?}",
            started.elapsed(),
            set.bucket_count(),
            set.candidate_policies("User", "svc0.op", "R0", Some("dev")),
            set.candidate_policies("User", "svc1.op", "R1", Some("prod")),
        );
        let allow = Query {
            principal: EntityRef {
                kind: "User",
                id: "alice",
            },
            action: "svc0.op",
            resource: EntityRef {
                kind: "R0",
                id: "x",
            },
            environment: "dev",
            context: &empty,
        };
        let approval = Query {
            action: "svc1.op",
            resource: EntityRef {
                kind: "R1",
                id: "x",
            },
            environment: "prod",
            ..allow
        };
        assert_eq!(
            set.decide(&allow, None, &dir).map(|d| d.label()),
            Ok("allow")
        );
        assert_eq!(
            set.decide(&approval, None, &dir).map(|d| d.label()),
            Ok("pending")
        );

        group.bench_with_input(BenchmarkId::new("decide_allow", n), &n, |b, _| {
            b.iter(|| set.decide(black_box(&allow), None, &dir))
        });
        group.bench_with_input(
            BenchmarkId::new("decide_approval_required", n),
            &n,
            |b, _| b.iter(|| set.decide(black_box(&approval), None, &dir)),
        );

        let authorizer = Authorizer::new();
        let allow_request = cedar_request(&set, "svc0.op", "R0::\"x\"", "dev");
        let approval_request = cedar_request(&set, "svc1.op", "R1::\"x\"", "prod");
        group.bench_with_input(BenchmarkId::new("cedar_full_set_allow", n), &n, |b, _| {
            b.iter(|| {
                authorizer.is_authorized(
                    black_box(&allow_request),
                    set.cedar_policies(),
                    dir.entities(),
                )
            })
        });
        group.bench_with_input(
            BenchmarkId::new("cedar_full_set_approval_one_pass", n),
            &n,
            |b, _| {
                b.iter(|| {
                    authorizer.is_authorized(
                        black_box(&approval_request),
                        set.cedar_policies(),
                        dir.entities(),
                    )
                })
            },
        );
        group.bench_with_input(
            BenchmarkId::new("indexed_is_authorized_allow", n),
            &n,
            |b, _| b.iter(|| set.is_authorized(black_box(&allow_request), dir.entities())),
        );

        let cells = set.effective_permissions("prod", &[]).map(|t| t.len());
        eprintln!("{n} policies: {cells:?} effective permission cells");
        group.bench_with_input(BenchmarkId::new("effective_permissions", n), &n, |b, _| {
            b.iter(|| set.effective_permissions(black_box("prod"), &[]))
        });
    }
    let starter = match PolicySet::starter() {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    group.bench_function("effective_permissions_starter", |b| {
        b.iter(|| starter.effective_permissions(black_box("prod"), &[]))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
