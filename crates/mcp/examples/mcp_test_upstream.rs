//! An MCP server built with the official Rust SDK (rmcp), used by the
//! gateway's tests and benchmark as a real upstream. Stdio by default;
//! `--http 127.0.0.1:0` serves Streamable HTTP at `/mcp` instead (and
//! prints `listening on ADDR`), requiring `Authorization: Bearer
//! upstream-secret` — the credential the gateway injects.
//!
//! Tools: `echo` (returns its text, the request's `_meta` and extra
//! result fields), `add`, `delete_file` (pretends), `slow` (sleeps, with
//! progress), `hang` (never answers), `crash` (exits the process), `note`
//! (its description is read from `$UPSTREAM_NOTE_FILE` on every listing).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, GetPromptRequestParams,
    GetPromptResponse, GetPromptResult, ListPromptsResult, ListResourcesResult, ListToolsResult,
    PaginatedRequestParams, ProgressNotificationParam, Prompt, PromptMessage,
    ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, Resource,
    ResourceContents, Role, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt as _};
use serde_json::{Value, json};
use std::sync::Arc;

#[derive(Clone)]
struct Upstream;

fn schema(v: Value) -> Arc<serde_json::Map<String, Value>> {
    Arc::new(v.as_object().cloned().unwrap())
}

fn tools() -> Vec<Tool> {
    let text = schema(json!({"type": "object", "properties": {"text": {"type": "string"}}}));
    let note = std::env::var("UPSTREAM_NOTE_FILE")
        .ok()
        .and_then(|f| std::fs::read_to_string(f).ok())
        .unwrap_or_else(|| "Writes a note.".into());
    vec![
        Tool::new("echo", "Echoes text back.", text.clone()),
        Tool::new(
            "add",
            "Adds two integers.",
            schema(
                json!({"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}, "required": ["a", "b"]}),
            ),
        ),
        Tool::new(
            "delete_file",
            "Deletes a file (pretend).",
            schema(
                json!({"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}),
            ),
        ),
        Tool::new(
            "slow",
            "Sleeps `ms` milliseconds, reporting progress.",
            schema(json!({"type": "object", "properties": {"ms": {"type": "integer"}}})),
        ),
        Tool::new("hang", "Never answers.", schema(json!({"type": "object"}))),
        Tool::new(
            "crash",
            "Exits the server process.",
            schema(json!({"type": "object"})),
        ),
        Tool::new("note", note.trim().to_owned(), text),
    ]
}

impl ServerHandler for Upstream {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_prompts()
                .enable_resources()
                .build(),
        )
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        Ok(ListPromptsResult::with_all_items(vec![Prompt::new(
            "greet",
            Some("Greets someone."),
            None,
        )]))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        if request.name != "greet" {
            return Err(ErrorData::invalid_params("no such prompt", None));
        }
        let who = request
            .arguments
            .as_ref()
            .and_then(|a| a.get("who"))
            .and_then(Value::as_str)
            .unwrap_or("world")
            .to_owned();
        Ok(GetPromptResult::new(vec![PromptMessage::new_text(
            Role::User,
            format!("Hello, {who}!"),
        )])
        .into())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(ListResourcesResult::with_all_items(vec![
            Resource::new("memo://public", "public memo"),
            Resource::new("memo://secret", "secret memo"),
        ]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let text = match request.uri.as_str() {
            "memo://public" => "the public memo",
            "memo://secret" => "the secret memo",
            _ => return Err(ErrorData::resource_not_found("no such resource", None)),
        };
        Ok(ReadResourceResult::new(vec![ResourceContents::text(text, request.uri)]).into())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tools()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let args = request.arguments.clone().unwrap_or_default();
        let text = |s: String| Ok(CallToolResult::success(vec![ContentBlock::text(s)]).into());
        match request.name.as_ref() {
            "echo" => {
                let meta = serde_json::to_value(&context.meta).unwrap_or(Value::Null);
                let mut r = CallToolResult::success(vec![ContentBlock::text(
                    args.get("text")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned(),
                )]);
                r.structured_content = Some(json!({"request_meta": meta}));
                let mut m = rmcp::model::MetaObject::default();
                m.0.insert("upstream/extra".into(), json!({"kept": true}));
                r.meta = Some(m);
                Ok(r.into())
            }
            "add" => {
                let a = args.get("a").and_then(Value::as_i64).unwrap_or(0);
                let b = args.get("b").and_then(Value::as_i64).unwrap_or(0);
                text((a + b).to_string())
            }
            "delete_file" => text(format!(
                "deleted {}",
                args.get("path").and_then(Value::as_str).unwrap_or("?")
            )),
            "note" => text("noted".into()),
            "slow" => {
                let ms = args.get("ms").and_then(Value::as_u64).unwrap_or(100);
                if let Some(t) = context.meta.get_progress_token() {
                    let _ = context
                        .peer
                        .notify_progress(
                            ProgressNotificationParam::new(t, 0.5).with_message("halfway"),
                        )
                        .await;
                }
                tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                text(format!("slept {ms}ms"))
            }
            "hang" => {
                std::future::pending::<()>().await;
                text(String::new())
            }
            "crash" => std::process::exit(3),
            _ => Err(ErrorData::invalid_params("no such tool", None)),
        }
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--http") {
        serve_http(&args[i + 1]).await;
        return;
    }
    let running = Upstream.serve(rmcp::transport::stdio()).await.unwrap();
    let _ = running.waiting().await;
}

async fn serve_http(addr: &str) {
    use rmcp::transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
    };
    let service: StreamableHttpService<Upstream, LocalSessionManager> = StreamableHttpService::new(
        || Ok(Upstream),
        Default::default(),
        StreamableHttpServerConfig::default(),
    );
    let app = axum::Router::new()
        .nest_service("/mcp", service)
        .layer(axum::middleware::from_fn(require_secret));
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    println!("listening on {}", listener.local_addr().unwrap());
    use std::io::Write as _;
    std::io::stdout().flush().unwrap();
    // Answers are written in pieces (SSE events): without TCP_NODELAY each
    // later piece waits for the client's delayed ACK (~40 ms).
    use axum::serve::ListenerExt as _;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).await.unwrap();
}

async fn require_secret(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let ok = req
        .headers()
        .get("authorization")
        .is_some_and(|v| v == "Bearer upstream-secret");
    if !ok {
        return axum::http::StatusCode::UNAUTHORIZED.into_response();
    }
    next.run(req).await
}
