//! Slack: Block Kit approval messages, updated in place, and the
//! interactivity endpoint for Approve / Deny clicks.

pub mod api;
pub mod blocks;
pub mod interact;
pub mod verify;

use countersign_core::Governor;
use std::collections::BTreeMap;
use std::sync::Arc;

/// What the interactivity endpoint needs.
#[derive(Debug)]
pub struct SlackCtx {
    pub governor: Arc<Governor>,
    pub api: api::SlackApi,
    pub verifier: verify::Verifier,
    pub users: BTreeMap<String, String>,
}
