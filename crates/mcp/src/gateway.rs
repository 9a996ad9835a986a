//! The gateway's shared state.

use crate::catalog::Catalog;
use crate::config::McpConfig;
use crate::error::McpError;
use crate::pins::Pins;
use crate::session::Sessions;
use crate::upstream::Upstream;
use countersign_core::Governor;
use countersign_core::governor::OutcomeReporter as Reporter;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug)]
pub struct Gateway {
    pub governor: Arc<Governor>,
    pub config: McpConfig,
    pub catalog: Catalog,
    pub sessions: Sessions,
    pub outcomes: Reporter,
}

impl Gateway {
    /// Opens the pin file and starts the upstreams (needs a Tokio runtime).
    pub fn start(governor: Arc<Governor>, config: McpConfig) -> Result<Arc<Gateway>, McpError> {
        let pins = Pins::open(&config.pins_file)?;
        let upstreams = config
            .upstreams
            .iter()
            .map(|u| Upstream::start(u, config.call_timeout, config.max_message_bytes))
            .collect();
        let gw = Arc::new(Gateway {
            catalog: Catalog::new(
                upstreams,
                config.separator.clone(),
                config.pin,
                pins,
                Arc::clone(governor.store()),
            ),
            sessions: Sessions::new(config.max_sessions, config.session_idle),
            outcomes: Reporter::start(Arc::clone(&governor), "mcp"),
            governor,
            config,
        });
        let weak = Arc::downgrade(&gw);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(30));
            loop {
                tick.tick().await;
                match weak.upgrade() {
                    Some(gw) => gw.sessions.sweep(),
                    None => return,
                }
            }
        });
        Ok(gw)
    }
}
