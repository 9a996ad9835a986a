//! Helpers shared by the integration tests.
#![allow(
    dead_code,
    clippy::panic,
    reason = "each test file uses a different subset; helpers fail loudly"
)]

use countersign_policy::{
    Diagnostic, Directory, DirectoryEntry, PolicyError, PolicySet, PolicySource, PrincipalKind,
    STARTER_SCHEMA,
};

/// Compiles `policies` (as `test.cedar`) against the starter schema.
pub fn compile(policies: &str) -> PolicySet {
    match PolicySet::compile(
        "schema.cedarschema",
        STARTER_SCHEMA,
        &[PolicySource::new("test.cedar", policies)],
    ) {
        Ok(set) => set,
        Err(e) => panic!("{e}"),
    }
}

/// The diagnostics of policies that must not compile.
pub fn diagnostics(sources: &[(&str, &str)]) -> Vec<Diagnostic> {
    let sources: Vec<PolicySource> = sources
        .iter()
        .map(|(name, text)| PolicySource::new(*name, *text))
        .collect();
    match PolicySet::compile("schema.cedarschema", STARTER_SCHEMA, &sources) {
        Ok(_) => panic!("expected the policies to be refused"),
        Err(PolicyError::Invalid { diagnostics }) => diagnostics,
        Err(other) => panic!("unexpected error {other}"),
    }
}

pub fn user(id: &str, groups: &[&str]) -> DirectoryEntry {
    DirectoryEntry {
        kind: PrincipalKind::User,
        id: id.to_owned(),
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        owner: None,
        email: None,
    }
}

pub fn agent(id: &str, owner: &str, groups: &[&str]) -> DirectoryEntry {
    DirectoryEntry {
        kind: PrincipalKind::Agent,
        id: id.to_owned(),
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        owner: Some(owner.to_owned()),
        email: None,
    }
}

/// alice (engineer), rita and rob (reviewers), ada (admin), bot (agent
/// owned by alice, engineer).
pub fn directory(set: &PolicySet) -> Directory {
    let entries = [
        user("alice", &["engineer"]),
        user("rita", &["reviewer"]),
        user("rob", &["reviewer"]),
        user("ada", &["admin"]),
        agent("bot", "alice", &["engineer"]),
    ];
    match Directory::build(set, &entries) {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    }
}
