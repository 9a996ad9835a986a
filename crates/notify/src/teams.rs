//! Microsoft Teams: an Adaptive Card per approval through an incoming or
//! Workflows webhook, with buttons that open the approval in Countersign,
//! and a follow-up card when it ends (such webhooks cannot edit a card).

use crate::error::SendError;
use crate::notice::{Notice, clip};
use serde_json::{Value, json};

fn fact(title: &str, v: &Value) -> Value {
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Null => "—".into(),
        other => other.to_string(),
    };
    json!({"title": title, "value": clip(&text, 500)})
}

/// The message body for a notice.
pub fn card(n: &Notice) -> Value {
    let d = &n.data;
    let requester = d["requester"]["name"].as_str().unwrap_or("?");
    let title = match n.event.as_str() {
        "approval.requested" => format!(
            "Approval needed: {} on {}",
            d["action"].as_str().unwrap_or("?"),
            d["resource"].as_str().unwrap_or("?")
        ),
        _ => format!(
            "Approval {}: {} on {}",
            d["state"].as_str().unwrap_or("ended"),
            d["action"].as_str().unwrap_or("?"),
            d["resource"].as_str().unwrap_or("?")
        ),
    };
    let votes = d["votes"]
        .as_array()
        .map(|vs| {
            vs.iter()
                .map(|v| {
                    format!(
                        "{} {} via {}",
                        v["voter"].as_str().unwrap_or("?"),
                        v["decision"].as_str().unwrap_or("?"),
                        v["via"].as_str().unwrap_or("?")
                    )
                })
                .collect::<Vec<_>>()
                .join("; ")
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "none".into());
    let url = d["url"].as_str().unwrap_or_default();
    let mut body = vec![
        json!({"type": "TextBlock", "size": "Medium", "weight": "Bolder", "wrap": true, "text": clip(&title, 200)}),
        json!({"type": "FactSet", "facts": [
            fact("Who", &Value::from(match d["owner"].as_str() {
                Some(o) => format!("{requester} (owner: {o})"),
                None => requester.to_owned(),
            })),
            fact("Environment", &d["environment"]),
            fact("Action", &d["action"]),
            fact("Resource", &d["resource"]),
            fact("Policy", &d["policy"]),
            fact("Votes", &Value::from(format!("{} of {} ({})",
                d["approvals"], d["quorum"], votes))),
            fact("Expires", &d["expires_at"]),
        ]}),
        json!({"type": "TextBlock", "wrap": true,
            "text": format!("Why: {}", clip(d["reason"].as_str().unwrap_or("(no reason given)"), 1000))}),
    ];
    if let Some(ctx) = d["context"].as_str().filter(|c| *c != "{}") {
        body.push(
            json!({"type": "TextBlock", "wrap": true, "fontType": "Monospace",
            "text": clip(ctx, 2000)}),
        );
    }
    let actions = if n.event == "approval.requested" {
        json!([
            {"type": "Action.OpenUrl", "title": "Approve in Countersign", "url": url},
            {"type": "Action.OpenUrl", "title": "Deny in Countersign", "url": url},
        ])
    } else {
        json!([{"type": "Action.OpenUrl", "title": "Open in Countersign", "url": url}])
    };
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": body,
                "actions": actions,
            }
        }]
    })
}

pub async fn send(http: &reqwest::Client, url: &str, n: &Notice) -> Result<(), SendError> {
    let resp = http
        .post(url)
        .json(&card(n))
        .send()
        .await
        .map_err(|e| SendError::Failed(format!("teams: {}", crate::http::describe(&e))))?;
    crate::http::check_status(resp, "teams").await.map(|_| ())
}
