//! `countersign principals …` and `countersign tokens …` (administrators).

use crate::cli::{PrincipalsCmd, Remote, TokensCmd};
use crate::client::{Client, print_json, s};
use anyhow::Result;
use serde_json::json;
use std::process::ExitCode;

pub async fn principals(cmd: PrincipalsCmd, remote: &Remote) -> Result<ExitCode> {
    let c = Client::new(remote)?;
    match cmd {
        PrincipalsCmd::Add {
            name,
            kind,
            groups,
            owner,
            email,
        } => {
            let p = c
                .post(
                    "/v1/principals",
                    &json!({"name": name, "kind": kind, "groups": groups, "owner": owner, "email": email}),
                )
                .await?;
            if remote.json {
                print_json(&p)?;
            } else {
                println!("added {} {}", s(&p, "kind"), s(&p, "name"));
            }
        }
        PrincipalsCmd::List => {
            let v = c.get("/v1/principals").await?;
            if remote.json {
                print_json(&v)?;
            } else {
                println!(
                    "{:<24} {:<8} {:<16} {:<30} STATUS",
                    "NAME", "KIND", "OWNER", "GROUPS"
                );
                for p in v["principals"].as_array().into_iter().flatten() {
                    let groups: Vec<&str> = p["groups"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|g| g.as_str())
                        .collect();
                    println!(
                        "{:<24} {:<8} {:<16} {:<30} {}",
                        s(p, "name"),
                        s(p, "kind"),
                        s(p, "owner"),
                        groups.join(","),
                        if p["disabled"].as_bool() == Some(true) {
                            "disabled"
                        } else {
                            "active"
                        }
                    );
                }
            }
        }
        PrincipalsCmd::Disable { name } => {
            let p = c
                .post(
                    &format!("/v1/principals/{}/disable", urlencode(&name)),
                    &json!({}),
                )
                .await?;
            if remote.json {
                print_json(&p)?;
            } else {
                println!("disabled {}", s(&p, "name"));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn tokens(cmd: TokensCmd, remote: &Remote) -> Result<ExitCode> {
    let c = Client::new(remote)?;
    match cmd {
        TokensCmd::Create {
            principal,
            label,
            expires_in,
        } => {
            let t = c
                .post(
                    "/v1/tokens",
                    &json!({"principal": principal, "label": label, "expires_in": expires_in}),
                )
                .await?;
            if remote.json {
                print_json(&t)?;
            } else {
                eprintln!(
                    "token {} for {} (shown once; store it now){}",
                    s(&t, "id"),
                    s(&t, "principal"),
                    t["expires_at"]
                        .as_str()
                        .map(|e| format!(", expires {e}"))
                        .unwrap_or_default()
                );
                println!("{}", s(&t, "token"));
            }
        }
        TokensCmd::List => {
            let v = c.get("/v1/tokens").await?;
            if remote.json {
                print_json(&v)?;
            } else {
                println!(
                    "{:<14} {:<20} {:<26} {:<26} STATUS",
                    "ID", "PRINCIPAL", "CREATED", "EXPIRES"
                );
                for t in v["tokens"].as_array().into_iter().flatten() {
                    let status = if !t["revoked_at"].is_null() {
                        "revoked"
                    } else if t["active"].as_bool() == Some(true) {
                        "active"
                    } else {
                        "expired"
                    };
                    println!(
                        "{:<14} {:<20} {:<26} {:<26} {}",
                        s(t, "id"),
                        s(t, "principal"),
                        s(t, "created_at"),
                        t["expires_at"].as_str().unwrap_or("never"),
                        status
                    );
                }
            }
        }
        TokensCmd::Revoke { id } => {
            let t = c
                .post(&format!("/v1/tokens/{}/revoke", urlencode(&id)), &json!({}))
                .await?;
            if remote.json {
                print_json(&t)?;
            } else {
                println!("revoked token {} of {}", s(&t, "id"), s(&t, "principal"));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Percent-encodes a path segment.
pub fn urlencode(seg: &str) -> String {
    let mut out = String::with_capacity(seg.len());
    for b in seg.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~@".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
