//! Client → upstream: decode each message, classify statements, govern
//! executions, forward what is allowed. Refusals travel through the
//! upstream as a statement that fails (a *probe*), so the error reaches the
//! client in order and the server's transaction and error state stay
//! exactly what the client sees.

use super::Session;
use super::govern::{Govern, may_change_settings, refusal};
use super::state::{Lookup, Pending, Portal, SqlEffects, Stmt};
use crate::classify::{ClassifyError, Facts, ParseOptions};
use crate::error::ProxyError;
use crate::io::BoxIo;
use crate::wire::backend::Fields;
use crate::wire::frontend::{self as fe, Bind, Execute, FrontendMessage, Parse, Query};
use crate::wire::{Frame, FrameReader};
use std::sync::Arc;
use tokio::io::{AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::oneshot;

struct Up {
    io: WriteHalf<BoxIo>,
    out: Vec<u8>,
}

impl Up {
    async fn send(&mut self) -> Result<(), ProxyError> {
        if !self.out.is_empty() {
            self.io.write_all(&self.out).await?;
            self.io.flush().await?;
            self.out.clear();
        }
        Ok(())
    }
}

pub(super) async fn run(
    s: &Session,
    mut client: FrameReader<ReadHalf<BoxIo>>,
    io: WriteHalf<BoxIo>,
) -> Result<(), ProxyError> {
    let mut up = Up {
        io,
        out: Vec::with_capacity(16 * 1024),
    };
    loop {
        if !client.has_frame() {
            up.send().await?;
        }
        let Some(frame) = client.next().await? else {
            fe::terminate(&mut up.out);
            let _ = up.send().await;
            return Ok(());
        };
        let msg = match FrontendMessage::decode(&frame) {
            Ok(m) => m,
            Err(e) => {
                let mut out = Vec::new();
                Fields::new("FATAL", "08P01", format!("countersign: {e}")).encode_error(&mut out);
                let _ = s.write_client(&out).await;
                return Err(e.into());
            }
        };
        match msg {
            FrontendMessage::Query(q) => on_query(s, &mut up, q, &frame).await?,
            FrontendMessage::Parse(p) => on_parse(s, &mut up, p, &frame).await?,
            FrontendMessage::Bind(b) => on_bind(s, &mut up, b, &frame).await?,
            FrontendMessage::Execute(e) => on_execute(s, &mut up, e, &frame).await?,
            FrontendMessage::Describe(d) => {
                s.st().queue.push_back(Pending::Describe {
                    target: d.target,
                    name: d.name,
                });
                up.out.extend_from_slice(&frame.raw);
            }
            FrontendMessage::Close(c) => {
                s.st().queue.push_back(Pending::Close {
                    target: c.target,
                    name: c.name,
                });
                up.out.extend_from_slice(&frame.raw);
            }
            FrontendMessage::Sync => {
                let mut st = s.st();
                st.queue.push_back(Pending::Sync);
                st.segment += 1;
                up.out.extend_from_slice(&frame.raw);
            }
            FrontendMessage::Flush
            | FrontendMessage::CopyData(_)
            | FrontendMessage::CopyDone
            | FrontendMessage::CopyFail(_) => up.out.extend_from_slice(&frame.raw),
            FrontendMessage::Terminate => {
                up.out.extend_from_slice(&frame.raw);
                up.send().await?;
                return Ok(());
            }
            FrontendMessage::FunctionCall => probe(
                s,
                &mut up,
                refusal(
                    "0A000",
                    "countersign: the fast-path function call interface is not available; call the function in a statement",
                ),
                true,
            ),
            FrontendMessage::Password => {
                let mut out = Vec::new();
                Fields::new("FATAL", "08P01", "countersign: unexpected password message")
                    .encode_error(&mut out);
                let _ = s.write_client(&out).await;
                return Err(ProxyError::Protocol(
                    "password message after startup".into(),
                ));
            }
        }
    }
}

/// Sends a refusal through the upstream (see the module docs).
fn probe(s: &Session, up: &mut Up, fields: Fields, simple: bool) {
    let mut nonce = [0u8; 8];
    let _ = getrandom::fill(&mut nonce);
    let nonce = hex::encode(nonce);
    let sql = format!("COUNTERSIGN_REFUSED_{nonce}");
    if simple {
        Query { sql }.encode(&mut up.out);
    } else {
        Parse {
            name: format!("countersign_refused_{nonce}"),
            sql,
            param_types: Vec::new(),
        }
        .encode(&mut up.out);
    }
    s.st().queue.push_back(Pending::Probe { fields, simple });
}

/// Waits until the upstream has answered everything sent so far (or is
/// skipping to `Sync`, when answers no longer matter).
async fn barrier(s: &Session, up: &mut Up) -> Result<(), ProxyError> {
    let rx = {
        let mut st = s.st();
        if st.queue.is_empty() || st.skipping() {
            return Ok(());
        }
        let (tx, rx) = oneshot::channel();
        st.queue.push_back(Pending::Barrier(tx));
        rx
    };
    fe::flush(&mut up.out);
    up.send().await?;
    let _ = rx.await;
    Ok(())
}

async fn parse_options(s: &Session, up: &mut Up) -> Result<ParseOptions, ProxyError> {
    // Text lexes by the settings in force when the server reads it: wait
    // until nothing in flight can change them.
    loop {
        let wait = {
            let st = s.st();
            st.settings_in_flight() && !st.skipping()
        };
        if !wait {
            break;
        }
        barrier(s, up).await?;
    }
    Ok(ParseOptions {
        standard_conforming_strings: s.st().standard_conforming_strings,
    })
}

fn unparseable(e: &ClassifyError) -> Fields {
    refusal(
        "42601",
        format!("countersign could not classify this statement; it was not sent: {e}"),
    )
}

async fn on_query(s: &Session, up: &mut Up, q: Query, frame: &Frame) -> Result<(), ProxyError> {
    let opts = parse_options(s, up).await?;
    let facts = match s.shared.facts.get(&q.sql, opts) {
        Ok(f) => f,
        Err(e) => {
            probe(s, up, unparseable(&e), true);
            return Ok(());
        }
    };
    if facts.statements == 0 {
        s.st().queue.push_back(Pending::Query {
            run: None,
            effects: SqlEffects::default(),
            settings: false,
        });
        up.out.extend_from_slice(&frame.raw);
        return Ok(());
    }
    if !facts.executes.is_empty() || !facts.fetches.is_empty() {
        barrier(s, up).await?;
    }
    let c = s.classify(&facts).await;
    up.send().await?;
    match s.govern(&c, &[&facts], &q.sql, None).await {
        Govern::Forward(run) => {
            let sql: Arc<str> = Arc::from(q.sql.as_str());
            let stmt = |f: &Arc<Facts>| Stmt {
                facts: Arc::clone(f),
                sql: Arc::clone(&sql),
            };
            let effects = SqlEffects {
                prepares: facts
                    .prepares
                    .iter()
                    .map(|(n, f)| (n.clone(), stmt(f)))
                    .collect(),
                deallocates: facts.deallocates.iter().cloned().collect(),
                cursors: facts
                    .cursors
                    .iter()
                    .map(|(n, f)| (n.clone(), stmt(f)))
                    .collect(),
            };
            let mut st = s.st();
            if let Some(path) = &facts.search_path {
                st.search_path = path.clone();
            }
            st.queue.push_back(Pending::Query {
                run: Some(run),
                effects,
                settings: may_change_settings(&c, &facts),
            });
            up.out.extend_from_slice(&frame.raw);
        }
        Govern::Refuse(fields) => probe(s, up, fields, true),
    }
    Ok(())
}

async fn on_parse(s: &Session, up: &mut Up, p: Parse, frame: &Frame) -> Result<(), ProxyError> {
    let opts = parse_options(s, up).await?;
    let facts = match s.shared.facts.get(&p.sql, opts) {
        Ok(f) => f,
        Err(e) => {
            probe(s, up, unparseable(&e), false);
            return Ok(());
        }
    };
    let mut st = s.st();
    let generation = st.add_statement(
        &p.name,
        Stmt {
            facts,
            sql: Arc::from(p.sql.as_str()),
        },
    );
    st.queue.push_back(Pending::Parse {
        name: p.name,
        generation,
    });
    up.out.extend_from_slice(&frame.raw);
    Ok(())
}

/// Bound parameters as the decision context shows them: `$1='text'`,
/// `$2=NULL`, `$3=x'00ff'` (binary).
fn render_params(b: &Bind) -> Vec<String> {
    b.params
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let n = i + 1;
            match p {
                None => format!("${n}=NULL"),
                Some(v) if !b.param_is_binary(i) => match std::str::from_utf8(v) {
                    Ok(t) => format!("${n}='{}'", t.replace('\'', "''")),
                    Err(_) => format!("${n}=x'{}'", hex::encode(v)),
                },
                Some(v) => format!("${n}=x'{}'", hex::encode(v)),
            }
        })
        .collect()
}

async fn on_bind(s: &Session, up: &mut Up, b: Bind, frame: &Frame) -> Result<(), ProxyError> {
    let stmt = loop {
        let found = s.st().statement(&b.statement);
        match found {
            Lookup::Known(stmt) => break Some(stmt),
            Lookup::Unknown => break None,
            Lookup::Wait => barrier(s, up).await?,
        }
    };
    let params = render_params(&b);
    let mut st = s.st();
    let generation = st.add_portal(
        &b.portal,
        Portal {
            statement: b.statement.clone(),
            stmt,
            params,
            allowed: None,
        },
    );
    st.queue.push_back(Pending::Bind {
        portal: b.portal,
        generation,
    });
    up.out.extend_from_slice(&frame.raw);
    Ok(())
}

async fn on_execute(s: &Session, up: &mut Up, e: Execute, frame: &Frame) -> Result<(), ProxyError> {
    let portal = loop {
        let found = s.st().portal(&e.portal);
        match found {
            Lookup::Known(p) => break Some(p),
            Lookup::Unknown => break None,
            Lookup::Wait => barrier(s, up).await?,
        }
    };
    let in_error = s.st().skipping();
    let (portal, stmt) = match portal {
        Some(Portal {
            stmt: Some(stmt), ..
        }) if in_error => {
            // The upstream skips this Execute: forward it unjudged.
            let _ = stmt;
            up.out.extend_from_slice(&frame.raw);
            return Ok(());
        }
        Some(p) => match p.stmt.clone() {
            Some(stmt) => (p, stmt),
            None => {
                probe(
                    s,
                    up,
                    refusal(
                        "26000",
                        format!(
                            "countersign does not know the statement behind portal \"{}\"; it was not run",
                            e.portal
                        ),
                    ),
                    false,
                );
                return Ok(());
            }
        },
        None if in_error => {
            up.out.extend_from_slice(&frame.raw);
            return Ok(());
        }
        None => {
            probe(
                s,
                up,
                refusal(
                    "34000",
                    format!(
                        "countersign does not know portal \"{}\"; it was not run",
                        e.portal
                    ),
                ),
                false,
            );
            return Ok(());
        }
    };
    if stmt.facts.statements == 0 {
        s.st().queue.push_back(Pending::Execute {
            portal: e.portal,
            statement: portal.statement,
            run: None,
            settings: false,
        });
        up.out.extend_from_slice(&frame.raw);
        return Ok(());
    }
    let c = s.classify(&stmt.facts).await;
    let settings = may_change_settings(&c, &stmt.facts);
    // A suspended portal continues under the allow that started it.
    if let Some(a) = portal.allowed.clone() {
        s.st().queue.push_back(Pending::Execute {
            portal: e.portal,
            statement: portal.statement,
            run: Some(super::state::Run {
                decision_id: a.decision_id,
                started: std::time::Instant::now(),
                rows: None,
                error: None,
                mask: a.mask,
                plan: None,
                ddl: false,
            }),
            settings,
        });
        up.out.extend_from_slice(&frame.raw);
        return Ok(());
    }
    up.send().await?;
    match s
        .govern(&c, &[&stmt.facts], &stmt.sql, Some(&portal.params))
        .await
    {
        Govern::Forward(run) => {
            s.st().queue.push_back(Pending::Execute {
                portal: e.portal,
                statement: portal.statement,
                run: Some(run),
                settings,
            });
            up.out.extend_from_slice(&frame.raw);
        }
        Govern::Refuse(fields) => probe(s, up, fields, false),
    }
    Ok(())
}
