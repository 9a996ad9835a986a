//! Webhooks signed per the Standard Webhooks specification: headers
//! `webhook-id`, `webhook-timestamp` and `webhook-signature: v1,<base64
//! HMAC-SHA256 of "id.timestamp.body">`, keyed with the base64 part of a
//! `whsec_` secret. Receivers deduplicate by `webhook-id`, which stays the
//! same across retries of one message.

use crate::error::SendError;
use crate::notice::Notice;
use crate::secret::Secret;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, KeyInit as _, Mac as _};
use serde_json::json;
use sha2::Sha256;

/// Decodes a `whsec_…` secret into the HMAC key (kept as a [`Secret`]).
pub fn decode_secret(s: &str) -> Result<Secret, String> {
    let b64 = s.strip_prefix("whsec_").unwrap_or(s);
    let key = B64
        .decode(b64)
        .map_err(|_| "must be `whsec_` followed by base64".to_owned())?;
    if key.len() < 16 {
        return Err("key is shorter than 16 bytes".into());
    }
    // Kept base64 so the secret type stays a string; decoded per signature.
    Ok(Secret::new(B64.encode(key)))
}

/// The `webhook-signature` value for one message.
pub fn sign(key: &Secret, id: &str, timestamp: i64, body: &[u8]) -> Result<String, String> {
    let key = B64
        .decode(key.expose())
        .map_err(|_| "webhook key is not base64".to_owned())?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|e| e.to_string())?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(format!("v1,{}", B64.encode(mac.finalize().into_bytes())))
}

/// The JSON body sent for a notice.
pub fn body(n: &Notice) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "type": n.event,
        "timestamp": n.time,
        "data": n.data,
    }))
    .unwrap_or_default()
}

/// Posts one signed message; `msg_id` is stable across retries.
pub async fn send(
    http: &reqwest::Client,
    url: &str,
    key: &Secret,
    msg_id: &str,
    n: &Notice,
) -> Result<(), SendError> {
    let body = body(n);
    let ts = countersign_core::Timestamp::now().millis() / 1000;
    let sig = sign(key, msg_id, ts, &body).map_err(SendError::Failed)?;
    let resp = http
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", msg_id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", sig)
        .body(body)
        .send()
        .await
        .map_err(|e| SendError::Failed(format!("webhook: {}", crate::http::describe(&e))))?;
    crate::http::check_status(resp, "webhook").await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example from the Standard Webhooks reference implementations'
    /// test suites (secret, id, timestamp, payload → signature).
    #[test]
    fn signature_matches_the_reference_example() {
        let key = decode_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = sign(
            &key,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn bad_secrets_are_refused() {
        assert!(decode_secret("whsec_not base64!").is_err());
        assert!(decode_secret("whsec_AAAA").is_err(), "too short");
    }
}
