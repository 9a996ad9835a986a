//! Connecting to an upstream PostgreSQL as the target's configured user:
//! TLS as configured, then SCRAM-SHA-256 (or MD5 or cleartext, whatever
//! the server asks) with the injected password. The client never sees it.

use crate::config::{Target, UpstreamTls};
use crate::error::ProxyError;
use crate::io::BoxIo;
use crate::tls;
use crate::wire::FrameReader;
use crate::wire::backend::{Authentication, BackendKeyData, BackendMessage, Fields, TxStatus};
use crate::wire::frontend::{
    CancelRequest, Password, SaslInitial, SaslResponse, Startup, ssl_request,
};
use postgres_protocol::authentication::sasl::{ChannelBinding, SCRAM_SHA_256, ScramSha256};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A ready upstream session.
#[derive(Debug)]
pub struct Connected {
    pub io: FrameReader<BoxIo>,
    /// `ParameterStatus` values, in the order received.
    pub params: Vec<(String, String)>,
    pub key: BackendKeyData,
    pub status: TxStatus,
    /// Notices received during startup, to relay.
    pub notices: Vec<Fields>,
}

impl std::fmt::Debug for FrameReader<BoxIo> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FrameReader")
    }
}

/// Opens a TCP (and TLS, as configured) stream to `target`.
pub async fn open(target: &Target) -> Result<BoxIo, ProxyError> {
    let addr = format!("{}:{}", target.host, target.port);
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&addr))
        .await
        .map_err(|_| ProxyError::upstream(&target.name, format!("connecting to {addr} timed out")))?
        .map_err(|e| {
            ProxyError::upstream(&target.name, format!("cannot connect to {addr}: {e}"))
        })?;
    let _ = tcp.set_nodelay(true);
    match tls::connector(&target.tls)? {
        None => Ok(Box::new(tcp)),
        Some(connector) => {
            let mut tcp = tcp;
            tcp.write_all(&ssl_request()).await?;
            let mut answer = [0u8; 1];
            tcp.read_exact(&mut answer).await?;
            if answer[0] != b'S' {
                return Err(ProxyError::upstream(
                    &target.name,
                    "the server does not accept TLS but the target requires it",
                ));
            }
            let name = tls::server_name(&target.host)?;
            let stream = connector.connect(name, tcp).await.map_err(|e| {
                ProxyError::upstream(&target.name, format!("tls handshake failed: {e}"))
            })?;
            if matches!(target.tls, UpstreamTls::Require) {
                tracing::debug!(target = %target.name, "upstream tls without certificate verification");
            }
            Ok(Box::new(stream))
        }
    }
}

/// Connects and authenticates. `params` are relayed startup parameters
/// (`application_name`, `client_encoding` …); user and database are the
/// target's.
pub async fn connect(
    target: &Target,
    params: &[(String, String)],
    max_message: usize,
) -> Result<Connected, ProxyError> {
    let io = open(target).await?;
    let mut io = FrameReader::new(io, max_message);
    let mut startup = Startup {
        major: 3,
        minor: 0,
        params: vec![
            ("user".to_owned(), target.user.clone()),
            ("database".to_owned(), target.database.clone()),
        ],
    };
    startup.params.extend(params.iter().cloned());
    io.get_mut().write_all(&startup.encode()).await?;
    io.get_mut().flush().await?;
    let fail = |m: &str| ProxyError::upstream(&target.name, m.to_owned());
    let password = || {
        target
            .password
            .as_ref()
            .map(|p| p.expose().to_owned())
            .ok_or_else(|| fail("the server asks for a password but the target has none"))
    };
    let mut scram: Option<ScramSha256> = None;
    let mut out = Vec::new();
    let mut params_out = Vec::new();
    let mut key = None;
    let mut notices = Vec::new();
    loop {
        let frame = io
            .next()
            .await?
            .ok_or_else(|| fail("the server closed the connection during startup"))?;
        match BackendMessage::decode(&frame)? {
            BackendMessage::Authentication(a) => match a {
                Authentication::Ok => {}
                Authentication::CleartextPassword => {
                    if matches!(target.tls, UpstreamTls::Disable) && !is_loopback(&target.host) {
                        return Err(fail(
                            "the server asks for a cleartext password over an unencrypted connection; use tls = \"verify-full\"",
                        ));
                    }
                    Password::encode(&password()?, &mut out);
                }
                Authentication::Md5Password { salt } => {
                    let hash = postgres_protocol::authentication::md5_hash(
                        target.user.as_bytes(),
                        password()?.as_bytes(),
                        salt,
                    );
                    Password::encode(&hash, &mut out);
                }
                Authentication::Sasl { mechanisms } => {
                    if !mechanisms.iter().any(|m| m == SCRAM_SHA_256) {
                        return Err(fail("the server offers no SASL mechanism we support"));
                    }
                    let s = ScramSha256::new(password()?.as_bytes(), ChannelBinding::unsupported());
                    SaslInitial::encode(SCRAM_SHA_256, s.message(), &mut out);
                    scram = Some(s);
                }
                Authentication::SaslContinue { data } => {
                    let s = scram
                        .as_mut()
                        .ok_or_else(|| fail("unexpected SASL continue"))?;
                    s.update(&data)
                        .map_err(|e| fail(&format!("SCRAM exchange failed: {e}")))?;
                    SaslResponse::encode(s.message(), &mut out);
                }
                Authentication::SaslFinal { data } => {
                    let s = scram
                        .as_mut()
                        .ok_or_else(|| fail("unexpected SASL final"))?;
                    s.finish(&data).map_err(|e| {
                        fail(&format!("the server's SCRAM signature is wrong: {e}"))
                    })?;
                }
                Authentication::Unsupported(code) => {
                    return Err(fail(&format!(
                        "the server asks for an authentication method we do not support ({code})"
                    )));
                }
            },
            BackendMessage::ParameterStatus(p) => params_out.push((p.name, p.value)),
            BackendMessage::BackendKeyData(k) => key = Some(k),
            BackendMessage::NoticeResponse(n) => notices.push(n),
            BackendMessage::NegotiateProtocolVersion { .. } => {}
            BackendMessage::ErrorResponse(fields) => {
                return Err(ProxyError::UpstreamRefused {
                    target: target.name.clone(),
                    fields,
                });
            }
            BackendMessage::ReadyForQuery(status) => {
                return Ok(Connected {
                    io,
                    params: params_out,
                    key: key.unwrap_or(BackendKeyData { pid: 0, secret: 0 }),
                    status,
                    notices,
                });
            }
            other => {
                return Err(fail(&format!(
                    "unexpected message during startup: {other:?}"
                )));
            }
        }
        if !out.is_empty() {
            io.get_mut().write_all(&out).await?;
            io.get_mut().flush().await?;
            out.clear();
        }
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Sends a cancel request for `key` to `target`'s server.
pub async fn cancel(target: &Target, key: BackendKeyData) -> Result<(), ProxyError> {
    let mut io = open(target).await?;
    let req = CancelRequest {
        pid: key.pid,
        secret: key.secret,
    };
    io.write_all(&req.encode()).await?;
    io.flush().await?;
    // The server closes the connection when done; wait briefly for it.
    let mut buf = [0u8; 1];
    let _ = tokio::time::timeout(Duration::from_secs(5), io.read(&mut buf)).await;
    Ok(())
}

/// Runs a simple query on a private connection and returns its rows as
/// text (NULL as `None`). For catalog lookups.
pub async fn simple_query(
    conn: &mut Connected,
    target: &str,
    sql: &str,
) -> Result<Vec<Vec<Option<String>>>, ProxyError> {
    let mut out = Vec::new();
    crate::wire::frontend::Query {
        sql: sql.to_owned(),
    }
    .encode(&mut out);
    conn.io.get_mut().write_all(&out).await?;
    conn.io.get_mut().flush().await?;
    let mut rows = Vec::new();
    let mut error = None;
    loop {
        let frame = conn
            .io
            .next()
            .await?
            .ok_or_else(|| ProxyError::upstream(target, "catalog connection closed"))?;
        match BackendMessage::decode(&frame)? {
            BackendMessage::DataRow(r) => rows.push(
                r.values
                    .into_iter()
                    .map(|v| v.map(|b| String::from_utf8_lossy(&b).into_owned()))
                    .collect(),
            ),
            BackendMessage::ErrorResponse(f) => {
                error = Some(f.message().unwrap_or("error").to_owned());
            }
            BackendMessage::ReadyForQuery(_) => break,
            _ => {}
        }
    }
    match error {
        Some(e) => Err(ProxyError::upstream(
            target,
            format!("catalog query failed: {e}"),
        )),
        None => Ok(rows),
    }
}
