//! Governing one `tools/call`: the decision (`mcp.call` on
//! `Tool::"server.tool"`, arguments in `context.mcp`), then forward,
//! refuse with a tool result the agent can read, or hold for approval
//! with progress notifications — and the outcome report.

use crate::catalog::{PinState, ToolEntry, canonical};
use crate::error::McpError;
use crate::gateway::Gateway;
use crate::upstream::{Sink, Upstream};
use countersign_core::approval::ApprovalState;
use countersign_core::governor::DecisionInput;
use countersign_core::governor::OutcomeReport as Report;
use countersign_core::verdict::{Decision, Outcome, Verdict};
use countersign_core::{Principal, ResourceRef, Timestamp};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

pub const ACTION: &str = "mcp.call";
/// How often a held call tells the agent it is still waiting.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// What a JSON-RPC request ends with: a `result` or an `error` member.
pub type Reply = Map<String, Value>;

pub fn result(v: Value) -> Reply {
    let mut m = Map::new();
    m.insert("result".into(), v);
    m
}

pub fn error(code: i64, message: impl Into<String>) -> Reply {
    let mut m = Map::new();
    m.insert(
        "error".into(),
        json!({"code": code, "message": message.into()}),
    );
    m
}

/// A tool result that reports a failure in words the agent can act on.
fn tool_error(text: String, meta: Value) -> Reply {
    result(json!({
        "content": [{"type": "text", "text": text}],
        "isError": true,
        "_meta": meta,
    }))
}

/// `context.mcp` for a call: the arguments as canonical JSON text, their
/// top-level names, and `name=value` pairs (strings unquoted) so policies
/// can look inside without Cedar knowing the tool's schema.
pub fn context(
    server: &str,
    tool: &str,
    arguments: Option<&Map<String, Value>>,
) -> Map<String, Value> {
    let mut facts = Map::new();
    facts.insert("server".into(), Value::String(server.to_owned()));
    facts.insert("tool".into(), Value::String(tool.to_owned()));
    if let Some(args) = arguments {
        let mut text = String::new();
        canonical(&Value::Object(args.clone()), &mut text);
        facts.insert("arguments".into(), Value::String(text));
        let mut names: Vec<&String> = args.keys().collect();
        names.sort();
        facts.insert("argument_names".into(), json!(names));
        let mut values: Vec<String> = args
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => format!("{k}={s}"),
                other => {
                    let mut s = String::new();
                    canonical(other, &mut s);
                    format!("{k}={s}")
                }
            })
            .collect();
        values.sort();
        facts.insert("argument_values".into(), json!(values));
    }
    let mut ctx = Map::new();
    ctx.insert("mcp".into(), Value::Object(facts));
    ctx
}

/// Whether `who` may call `t` or ask for approval to (no audit: this only
/// decides what a listing shows; every call is decided and audited).
pub fn listable(gw: &Gateway, who: &Principal, t: &ToolEntry) -> bool {
    may_request(gw, who, &t.upstream, &t.exposed, &t.original)
}

/// Whether policy could let `who` do `tool` on `upstream` (resource
/// `Tool::"id"`), now or after an approval, judged without arguments.
pub fn may_request(
    gw: &Gateway,
    who: &Principal,
    upstream: &Upstream,
    id: &str,
    tool: &str,
) -> bool {
    gw.governor.may_request(
        who,
        &DecisionInput {
            action: ACTION.to_owned(),
            resource: ResourceRef {
                kind: "Tool".into(),
                id: id.to_owned(),
            },
            environment: upstream.environment.clone(),
            context: context(&upstream.name, tool, None),
            reason: None,
            approval_id: None,
        },
    )
}

/// What a governed request is about and where it goes.
#[derive(Debug)]
struct Target {
    upstream: Arc<Upstream>,
    /// The `Tool` resource id: `server.tool`, or `server.prompts/get` and
    /// `server.resources/read` for reads (MCP tool names cannot hold `/`).
    id: String,
    /// `context.mcp.tool`.
    tool: String,
    /// The method sent upstream.
    method: &'static str,
}

/// One held or forwarded call's inputs.
#[derive(Debug)]
pub struct Call<'a> {
    pub gw: &'a Arc<Gateway>,
    pub who: &'a Arc<Principal>,
    pub params: Map<String, Value>,
    pub sink: &'a Sink,
    pub cancel: &'a CancellationToken,
    pub request_id: &'a str,
    /// A governed read (prompts/get, resources/read): refusals are
    /// JSON-RPC errors rather than tool results.
    pub read: bool,
}

impl Call<'_> {
    pub async fn run(self) -> Reply {
        let Some(name) = self
            .params
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_owned)
        else {
            return error(-32602, "tools/call needs `params.name`, a string");
        };
        let arguments = match self.params.get("arguments") {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) => Some(m.clone()),
            Some(_) => return error(-32602, "`params.arguments` must be an object"),
        };
        let Some(tool) = self.gw.catalog.find(&name).await else {
            return error(-32602, format!("unknown tool `{name}`"));
        };
        match self.gw.catalog.pin_state(&tool).await {
            PinState::Trusted => {}
            state => {
                return tool_error(
                    format!(
                        "Countersign: the definition of tool `{name}` is {} and not approved by an admin; the tool is hidden until it is (the call was not made)",
                        if state == PinState::Changed {
                            "changed since it was approved"
                        } else {
                            "new"
                        }
                    ),
                    json!({"countersign/pin": state.as_str()}),
                );
            }
        }
        let target = Target {
            upstream: Arc::clone(&tool.upstream),
            id: tool.exposed.clone(),
            tool: tool.original.clone(),
            method: "tools/call",
        };
        let mut fwd = self.params.clone();
        fwd.insert("name".into(), Value::String(tool.original.clone()));
        self.govern(&target, arguments.as_ref(), fwd).await
    }

    /// `prompts/get`: the prompt is named `server.prompt`.
    pub async fn prompt(self) -> Reply {
        let Some(name) = self
            .params
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_owned)
        else {
            return error(-32602, "prompts/get needs `params.name`, a string");
        };
        let Some((upstream, original)) = self.gw.catalog.split_name(&name) else {
            return error(-32602, format!("unknown prompt `{name}`"));
        };
        let mut args = Map::new();
        args.insert("name".into(), Value::String(original.clone()));
        if let Some(a) = self.params.get("arguments") {
            args.insert("arguments".into(), a.clone());
        }
        let target = Target {
            id: format!("{}.prompts/get", upstream.name),
            upstream,
            tool: "prompts/get".into(),
            method: "prompts/get",
        };
        let mut fwd = self.params.clone();
        fwd.insert("name".into(), Value::String(original));
        self.govern(&target, Some(&args), fwd).await
    }

    /// `resources/read`: routed by the URI's owner in the last listing.
    pub async fn resource(self) -> Reply {
        let Some(uri) = self
            .params
            .get("uri")
            .and_then(Value::as_str)
            .map(str::to_owned)
        else {
            return error(-32602, "resources/read needs `params.uri`, a string");
        };
        // Several upstreams may offer the same URI: the first (in
        // configuration order) whose reads this principal may request.
        let owners = self.gw.catalog.resource_owners(&uri).await;
        let upstream = owners
            .iter()
            .find(|u| {
                may_request(
                    self.gw,
                    self.who,
                    u,
                    &format!("{}.resources/read", u.name),
                    "resources/read",
                )
            })
            .or_else(|| owners.first())
            .cloned();
        let Some(upstream) = upstream else {
            return error(
                -32002,
                format!("unknown resource `{}`", truncate(&uri, 200)),
            );
        };
        let mut args = Map::new();
        args.insert("uri".into(), Value::String(uri));
        let target = Target {
            id: format!("{}.resources/read", upstream.name),
            upstream,
            tool: "resources/read".into(),
            method: "resources/read",
        };
        let fwd = self.params.clone();
        self.govern(&target, Some(&args), fwd).await
    }

    /// Decide, then refuse, hold or forward.
    async fn govern(
        &self,
        t: &Target,
        arguments: Option<&Map<String, Value>>,
        fwd: Map<String, Value>,
    ) -> Reply {
        let name = &t.id;
        let input = DecisionInput {
            action: ACTION.into(),
            resource: ResourceRef {
                kind: "Tool".into(),
                id: t.id.clone(),
            },
            environment: t.upstream.environment.clone(),
            context: context(&t.upstream.name, &t.tool, arguments),
            reason: None,
            approval_id: None,
        };
        let decision = match self.decide(&input).await {
            Ok(d) => d,
            Err(r) => return r,
        };
        let decision = match decision.verdict {
            Verdict::Allow => decision,
            Verdict::Deny => return self.denied(name, &decision),
            Verdict::Pending => match self.hold(name, decision, &input).await {
                Ok(d) => d,
                Err(r) => return r,
            },
        };
        self.forward(t, fwd, decision).await
    }

    /// A refusal the agent can read: a tool result for calls, a JSON-RPC
    /// error (with the same facts in `data`) for reads.
    fn refuse(&self, text: String, meta: Value) -> Reply {
        if self.read {
            let mut m = Map::new();
            m.insert(
                "error".into(),
                json!({"code": -32003, "message": text, "data": meta}),
            );
            m
        } else {
            tool_error(text, meta)
        }
    }

    fn denied(&self, name: &str, d: &Decision) -> Reply {
        let reason = d
            .reason
            .clone()
            .unwrap_or_else(|| "no policy permits it".into());
        let policies = if d.policies.is_empty() {
            "no policy permits it (default deny)".to_owned()
        } else {
            format!("policy: {}", d.policies.join(", "))
        };
        self.refuse(
            format!(
                "Countersign denied `{name}`: {reason} ({policies}; decision {})",
                d.id
            ),
            json!({"countersign/decision": d.id, "countersign/verdict": "deny"}),
        )
    }

    async fn decide(&self, input: &DecisionInput) -> Result<Decision, Reply> {
        self.gw
            .governor
            .decide(self.who, input.clone(), Some(self.request_id))
            .await
            .map_err(|e| {
                tracing::error!(request_id = %self.request_id, error = %e, "mcp: no decision");
                self.refuse(
                    format!(
                        "Countersign cannot decide on this call ({e}); it was not made (request id {})",
                        self.request_id
                    ),
                    json!({"countersign/request": self.request_id}),
                )
            })
    }

    /// Holds the call until its approval is decided or the wait runs out.
    async fn hold(
        &self,
        name: &str,
        d: Decision,
        input: &DecisionInput,
    ) -> Result<Decision, Reply> {
        let Some(approval) = d.approval.clone() else {
            return Err(self.denied(name, &d));
        };
        let id = approval.id;
        let wait = self.gw.config.approval_wait;
        let token = self
            .params
            .get("_meta")
            .and_then(|m| m.get("progressToken"))
            .filter(|t| t.is_string() || t.is_i64() || t.is_u64())
            .cloned();
        let started = Instant::now();
        let deadline = tokio::time::Instant::now() + wait;
        let reason = d
            .reason
            .clone()
            .unwrap_or_else(|| "approval required".into());
        let progress = |a: u32| {
            if let Some(t) = &token {
                let _ = self.sink.try_send(json!({
                    "jsonrpc": "2.0", "method": "notifications/progress",
                    "params": {
                        "progressToken": t,
                        "progress": started.elapsed().as_secs_f64(),
                        "total": wait.as_secs_f64(),
                        "message": format!("waiting for approval {id} ({reason}; {a} of {} so far)", approval.quorum),
                    }
                }));
            }
        };
        progress(approval.approvals);
        let mut version = match self.gw.governor.store().approval(&id).await {
            Ok(Some(a)) => a.version,
            _ => 0,
        };
        loop {
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Err(self.refuse(
                    format!(
                        "Countersign: `{name}` needs approval {id} ({reason}); it is still pending after {}s, so the call was not made. Once it is approved, call the tool again with the same arguments: it will run once.",
                        wait.as_secs()
                    ),
                    json!({"countersign/approval": id, "countersign/verdict": "pending", "countersign/decision": d.id}),
                ));
            }
            let step = (deadline - now).min(PROGRESS_EVERY);
            let changed = tokio::select! {
                r = self.gw.governor.wait_for_change(&id, version, step) => r,
                _ = self.cancel.cancelled() => return Err(error(-32800, format!("request cancelled; approval {id} stays pending"))),
            };
            let a = match changed {
                Ok(Some(a)) => a,
                Ok(None) => continue,
                Err(e) => {
                    return Err(self.refuse(
                        format!(
                            "Countersign cannot follow approval {id}: {e}; the call was not made"
                        ),
                        json!({"countersign/approval": id}),
                    ));
                }
            };
            match a.effective_state(Timestamp::now()) {
                ApprovalState::Pending => {
                    version = a.version;
                    progress(countersign_core::approval::tally(&a).approvals());
                }
                ApprovalState::Approved => {
                    let d2 = self.decide(input).await?;
                    return match d2.verdict {
                        Verdict::Allow => Ok(d2),
                        _ => Err(self.denied(name, &d2)),
                    };
                }
                other => {
                    return Err(self.refuse(
                        format!(
                            "Countersign: approval {id} for `{name}` was {}; the call was not made",
                            other.as_str()
                        ),
                        json!({"countersign/approval": id, "countersign/verdict": other.as_str()}),
                    ));
                }
            }
        }
    }

    /// Sends the allowed call upstream and reports what happened.
    async fn forward(&self, tool: &Target, params: Map<String, Value>, d: Decision) -> Reply {
        if let Some(o) = d.obligations.first() {
            return self.refuse(
                format!(
                    "Countersign: policy `{}` attaches a `{}` obligation, which the MCP front cannot enforce; the call was not made",
                    o.policy, o.kind
                ),
                json!({"countersign/decision": d.id}),
            );
        }
        let started = Instant::now();
        let r = tool
            .upstream
            .request(
                tool.method,
                Some(Value::Object(params)),
                Some(self.sink),
                self.cancel,
            )
            .await;
        let duration_ms = Some(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
        let (reply, outcome) = match r {
            Ok(resp) => {
                let bytes = serde_json::to_vec(&resp)
                    .map(|b| b.len() as u64)
                    .unwrap_or(0);
                let failed = resp.contains_key("error")
                    || resp
                        .get("result")
                        .and_then(|r| r.get("isError"))
                        .and_then(Value::as_bool)
                        .unwrap_or(false);
                let error = resp
                    .get("error")
                    .and_then(|e| e.get("message"))
                    .and_then(Value::as_str)
                    .map(|m| truncate(m, 1000))
                    .or_else(|| failed.then(|| "the tool reported an error (isError)".to_owned()));
                (
                    resp,
                    Outcome {
                        status: if failed { "failed" } else { "executed" }.into(),
                        exit_code: None,
                        rows_affected: None,
                        error,
                        duration_ms,
                        bytes_out: Some(bytes),
                        ..Outcome::default()
                    },
                )
            }
            Err(e) => {
                let msg = match &e {
                    McpError::Cancelled => "the client cancelled the call".to_owned(),
                    other => other.to_string(),
                };
                let reply = match e {
                    McpError::Cancelled => error(-32800, "request cancelled"),
                    _ => self.refuse(
                        format!("Countersign: the call to `{}` failed: {msg}", tool.id),
                        json!({"countersign/decision": d.id}),
                    ),
                };
                (
                    reply,
                    Outcome {
                        status: "failed".into(),
                        exit_code: None,
                        rows_affected: None,
                        error: Some(truncate(&msg, 1000)),
                        duration_ms,
                        ..Outcome::default()
                    },
                )
            }
        };
        self.gw.outcomes.send(Report {
            principal: Arc::clone(self.who),
            decision_id: d.id,
            request_id: None,
            outcome,
        });
        reply
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}
