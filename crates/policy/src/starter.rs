//! The starter schema, policies and test cases that ship with Countersign
//! and that `countersign init` writes.

/// The starter Cedar schema (`schema.cedarschema`).
pub const STARTER_SCHEMA: &str = include_str!("../starter/schema.cedarschema");
/// The starter policies (`policies.cedar`).
pub const STARTER_POLICIES: &str = include_str!("../starter/policies.cedar");
/// Test cases for the starter policies (`cases.toml`).
pub const STARTER_CASES: &str = include_str!("../starter/cases.toml");

pub(crate) const STARTER_SCHEMA_NAME: &str = "schema.cedarschema";
pub(crate) const STARTER_POLICIES_NAME: &str = "policies.cedar";
