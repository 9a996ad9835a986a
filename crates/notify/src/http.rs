//! Shared HTTP helpers for outgoing deliveries.

use crate::error::SendError;
use std::time::Duration;

/// Longest response body read from a receiver.
pub const MAX_RESPONSE: usize = 256 * 1024;
/// Longest wait a Retry-After may impose.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// A transport error without URLs (a Teams URL is a credential).
pub fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection refused or unreachable".into()
    } else if e.is_body() || e.is_decode() {
        "could not read the response".into()
    } else {
        // Never the error's Display: it includes the URL.
        "request failed".into()
    }
}

/// Retry-After in seconds (the form Slack uses), bounded.
pub fn retry_after(resp: &reqwest::Response) -> Duration {
    resp.headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(1))
        .min(MAX_RETRY_AFTER)
}

/// Reads at most [`MAX_RESPONSE`] bytes of the body.
pub async fn read_bounded(mut resp: reqwest::Response) -> Result<Vec<u8>, SendError> {
    let mut out = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| SendError::Failed(describe(&e)))?
    {
        if out.len() + chunk.len() > MAX_RESPONSE {
            return Err(SendError::Failed("response too large".into()));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// 2xx → the body; 429 → rate limited; anything else → failed.
pub async fn check_status(resp: reqwest::Response, what: &str) -> Result<Vec<u8>, SendError> {
    let st = resp.status();
    if st.as_u16() == 429 {
        return Err(SendError::RateLimited(retry_after(&resp)));
    }
    if !st.is_success() {
        let body = read_bounded(resp).await.unwrap_or_default();
        let text = String::from_utf8_lossy(&body);
        return Err(SendError::Failed(format!(
            "{what}: HTTP {}: {}",
            st.as_u16(),
            crate::notice::clip(text.trim(), 200)
        )));
    }
    read_bounded(resp).await
}
