//! A small client for the Slack Web API methods we use: chat.postMessage,
//! chat.update, chat.postEphemeral and users.info. Responses are
//! `{"ok": bool, "error": "...", ...}`; HTTP 429 carries Retry-After.

use crate::error::SendError;
use crate::http;
use crate::secret::Secret;
use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub struct SlackApi {
    http: reqwest::Client,
    base: String,
    token: Secret,
}

/// Where a message was posted: chat.update needs the channel Slack
/// answered with (a DM's `D…` id when posting to a user id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    pub channel: String,
    pub ts: String,
}

impl Posted {
    /// Stored as `channel:ts` (neither contains `:`).
    pub fn encode(&self) -> String {
        format!("{}:{}", self.channel, self.ts)
    }

    pub fn decode(s: &str) -> Option<Self> {
        let (channel, ts) = s.split_once(':')?;
        Some(Posted {
            channel: channel.to_owned(),
            ts: ts.to_owned(),
        })
    }
}

impl SlackApi {
    pub fn new(http: reqwest::Client, base: String, token: Secret) -> Self {
        SlackApi { http, base, token }
    }

    async fn parse(resp: reqwest::Response, method: &str) -> Result<Value, SendError> {
        let body = http::check_status(resp, method).await?;
        let v: Value = serde_json::from_slice(&body)
            .map_err(|_| SendError::Failed(format!("{method}: response is not JSON")))?;
        if v.get("ok").and_then(Value::as_bool) != Some(true) {
            let e = v
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("unknown error");
            return Err(SendError::Failed(format!(
                "{method}: {}",
                crate::notice::clip(e, 200)
            )));
        }
        Ok(v)
    }

    async fn call(&self, method: &str, body: Value) -> Result<Value, SendError> {
        let resp = self
            .http
            .post(format!("{}/{method}", self.base))
            .bearer_auth(self.token.expose())
            .json(&body)
            .send()
            .await
            .map_err(|e| SendError::Failed(format!("{method}: {}", http::describe(&e))))?;
        Self::parse(resp, method).await
    }

    pub async fn post_message(
        &self,
        channel: &str,
        text: &str,
        blocks: &Value,
    ) -> Result<Posted, SendError> {
        let v = self
            .call(
                "chat.postMessage",
                json!({"channel": channel, "text": text, "blocks": blocks, "unfurl_links": false}),
            )
            .await?;
        let ts = v.get("ts").and_then(Value::as_str);
        let ch = v.get("channel").and_then(Value::as_str).unwrap_or(channel);
        match ts {
            Some(ts) => Ok(Posted {
                channel: ch.to_owned(),
                ts: ts.to_owned(),
            }),
            None => Err(SendError::Failed(
                "chat.postMessage: no ts in response".into(),
            )),
        }
    }

    pub async fn update(&self, at: &Posted, text: &str, blocks: &Value) -> Result<(), SendError> {
        self.call(
            "chat.update",
            json!({"channel": at.channel, "ts": at.ts, "text": text, "blocks": blocks}),
        )
        .await
        .map(|_| ())
    }

    /// A message only `user` sees (refusals).
    pub async fn post_ephemeral(
        &self,
        channel: &str,
        user: &str,
        text: &str,
    ) -> Result<(), SendError> {
        self.call(
            "chat.postEphemeral",
            json!({"channel": channel, "user": user, "text": text}),
        )
        .await
        .map(|_| ())
    }

    /// The user's e-mail, only if Slack says it is confirmed.
    pub async fn confirmed_email(&self, user: &str) -> Result<Option<String>, SendError> {
        let resp = self
            .http
            .get(format!("{}/users.info", self.base))
            .bearer_auth(self.token.expose())
            .query(&[("user", user)])
            .send()
            .await
            .map_err(|e| SendError::Failed(format!("users.info: {}", http::describe(&e))))?;
        let v = Self::parse(resp, "users.info").await?;
        let u = &v["user"];
        if u.get("is_email_confirmed").and_then(Value::as_bool) != Some(true) {
            return Ok(None);
        }
        Ok(u["profile"]["email"].as_str().map(str::to_owned))
    }
}
