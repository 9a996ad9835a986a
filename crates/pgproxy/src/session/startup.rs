//! Startup: TLS negotiation, the startup packet, authentication of the
//! principal, the upstream session, and the hand-over to the relay.

use super::{Session, fatal};
use crate::auth::scram::{self, Verifier};
use crate::auth::token_id;
use crate::config::Target;
use crate::error::ProxyError;
use crate::io::BoxIo;
use crate::server::{CancelEntry, HoldCancel, Shared};
use crate::session::state::State;
use crate::wire::FrameReader;
use crate::wire::backend::{
    Authentication, encode_negotiate, encode_parameter_status, encode_ready,
};
use crate::wire::frontend::{Password, SaslInitial, SaslResponse, Startup, StartupPacket};
use countersign_core::governor::AuthFailure;
use countersign_core::{Principal, Timestamp};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Startup packets are small; the server's own limit.
const MAX_STARTUP: usize = 10_000;

/// Client encodings in which a multibyte character can contain a byte
/// that is a quote or backslash in ASCII: text would not lex as the
/// proxy lexes it.
const UNSAFE_ENCODINGS: &[&str] = &[
    "SJIS",
    "SHIFT_JIS",
    "BIG5",
    "GBK",
    "UHC",
    "GB18030",
    "JOHAB",
    "WIN932",
    "WIN936",
    "WIN949",
    "WIN950",
    "MSKANJI",
    "SHIFTJIS2004",
];

pub(crate) fn unsafe_encoding(name: &str) -> bool {
    let n = name.to_ascii_uppercase().replace(['-', '_'], "");
    UNSAFE_ENCODINGS
        .iter()
        .any(|e| e.replace(['-', '_'], "") == n)
}

/// Startup parameters that are never relayed.
const REFUSED_PARAMS: &[&str] = &[
    "options",
    "replication",
    "role",
    "session_authorization",
    "session_replication_role",
    "row_security",
    "allow_system_table_mods",
    "local_preload_libraries",
    "session_preload_libraries",
];

pub(crate) async fn run(shared: Arc<Shared>, sock: TcpStream, id: u64) -> Result<(), ProxyError> {
    let max = shared.config.max_message_bytes;
    let mut reader: FrameReader<BoxIo> = FrameReader::new(Box::new(sock), max);
    let mut tls = false;
    let startup = loop {
        let Some(packet) = reader.next_startup(MAX_STARTUP).await? else {
            return Ok(());
        };
        let packet = match StartupPacket::decode(&packet) {
            Ok(p) => p,
            Err(e) => {
                fatal(reader.get_mut(), "08P01", e.to_string(), None).await?;
                return Err(e.into());
            }
        };
        match packet {
            StartupPacket::SslRequest | StartupPacket::GssEncRequest if reader.buffered() > 0 => {
                // Bytes sent before the handshake would be trusted as if
                // they had come over TLS.
                return Err(ProxyError::Protocol(
                    "data received after an encryption request".into(),
                ));
            }
            StartupPacket::SslRequest if !tls => {
                let (mut io, _) = reader.into_parts();
                io.write_all(b"S").await?;
                io.flush().await?;
                let stream = shared
                    .tls
                    .accept(io)
                    .await
                    .map_err(|e| ProxyError::Tls(format!("handshake with client: {e}")))?;
                reader = FrameReader::new(Box::new(stream), max);
                tls = true;
            }
            StartupPacket::SslRequest => {
                return Err(ProxyError::Protocol("SSLRequest inside TLS".into()));
            }
            StartupPacket::GssEncRequest => {
                reader.get_mut().write_all(b"N").await?;
                reader.get_mut().flush().await?;
            }
            StartupPacket::Cancel(c) => {
                shared.cancel(c.pid, c.secret).await;
                return Ok(());
            }
            StartupPacket::Startup(s) => break s,
        }
    };
    let Some((principal, target, relayed, sasl_final)) =
        handshake(&shared, &mut reader, &startup, tls, id).await?
    else {
        return Ok(());
    };
    let upstream = match crate::upstream::connect(&target, &relayed, max).await {
        Ok(u) => u,
        Err(e) => {
            tracing::warn!(session = id, target = %target.name, error = %e, "postgres: upstream connection failed");
            let (code, msg) = match &e {
                ProxyError::UpstreamRefused { fields, .. }
                    if !fields.code().is_some_and(|c| c.starts_with("28")) =>
                {
                    (
                        fields.code().unwrap_or("08006").to_owned(),
                        format!(
                            "target `{}`: {}",
                            target.name,
                            fields.message().unwrap_or("connection refused")
                        ),
                    )
                }
                _ => (
                    "08006".to_owned(),
                    format!("countersign cannot connect to target `{}`", target.name),
                ),
            };
            fatal(reader.get_mut(), &code, msg, None).await?;
            return Err(e);
        }
    };
    let hold = Arc::new(HoldCancel::default());
    let key = shared.register_cancel(CancelEntry {
        target: target.clone(),
        upstream: upstream.key,
        hold: Arc::clone(&hold),
    });
    let result = relay(
        Arc::clone(&shared),
        id,
        principal,
        target,
        reader,
        upstream,
        key,
        hold,
        sasl_final,
    )
    .await;
    shared.unregister_cancel(key);
    result
}

type Handshake = (Principal, Target, Vec<(String, String)>, Option<Vec<u8>>);

/// Validates the startup packet and authenticates the principal. `None`:
/// the client was refused (and told why).
async fn handshake(
    shared: &Shared,
    reader: &mut FrameReader<BoxIo>,
    startup: &Startup,
    tls: bool,
    id: u64,
) -> Result<Option<Handshake>, ProxyError> {
    let mut out = Vec::new();
    let protocol_options: Vec<String> = startup
        .params
        .iter()
        .filter(|(k, _)| k.starts_with("_pq_."))
        .map(|(k, _)| k.clone())
        .collect();
    if startup.minor > 0 || !protocol_options.is_empty() {
        encode_negotiate(0, &protocol_options, &mut out);
        reader.get_mut().write_all(&out).await?;
        out.clear();
    }
    let Some(user) = startup.param("user").filter(|u| !u.is_empty()) else {
        fatal(reader.get_mut(), "28000", "no user name given", None).await?;
        return Ok(None);
    };
    let database = startup
        .param("database")
        .filter(|d| !d.is_empty())
        .unwrap_or(user);
    let Some(target) = shared.config.targets.get(database).cloned() else {
        fatal(
            reader.get_mut(),
            "3D000",
            format!("database \"{database}\" is not a Countersign target"),
            None,
        )
        .await?;
        return Ok(None);
    };
    let mut relayed = Vec::new();
    for (k, v) in &startup.params {
        let lk = k.to_ascii_lowercase();
        if lk == "user" || lk == "database" || lk.starts_with("_pq_.") {
            continue;
        }
        if REFUSED_PARAMS.contains(&lk.as_str()) {
            fatal(
                reader.get_mut(),
                "08P01",
                format!("startup parameter \"{k}\" is not allowed through Countersign"),
                Some("set session parameters with SET after connecting; they are governed like any statement"),
            )
            .await?;
            return Ok(None);
        }
        if lk == "client_encoding" && unsafe_encoding(v) {
            fatal(
                reader.get_mut(),
                "22023",
                format!("client encoding \"{v}\" is not supported through Countersign"),
                Some("use UTF8"),
            )
            .await?;
            return Ok(None);
        }
        relayed.push((k.clone(), v.clone()));
    }

    // Authentication: the password is a Countersign token.
    let request_id = format!("pg-{id}-login");
    let (result, presented, sasl_final) = if tls {
        Authentication::CleartextPassword.encode(&mut out);
        reader.get_mut().write_all(&out).await?;
        reader.get_mut().flush().await?;
        out.clear();
        let Some(frame) = reader.next().await? else {
            return Ok(None);
        };
        if frame.tag != b'p' {
            fatal(
                reader.get_mut(),
                "08P01",
                "expected a password message",
                None,
            )
            .await?;
            return Ok(None);
        }
        let token = Password::decode(&frame.body())?.password;
        let result = shared.governor.authenticate(&token).and_then(|p| {
            if p.name == user {
                Ok(p)
            } else {
                Err(AuthFailure::UnknownPrincipal)
            }
        });
        if result.is_ok()
            && let Some(tid) = token_id(&token)
            && !shared.verifiers.has_token(user, tid)
        {
            let (tid, t) = (tid.to_owned(), token.clone());
            if let Ok(Some(v)) =
                tokio::task::spawn_blocking(move || Verifier::derive(&tid, &t)).await
            {
                shared.verifiers.put(user, v);
            }
        }
        (result, Some(token), None)
    } else {
        match scram_exchange(shared, reader, user).await? {
            None => return Ok(None),
            Some((result, server_final)) => (result, None, server_final),
        }
    };
    match result {
        Ok(p) => {
            tracing::info!(session = id, principal = %p.name, target = %target.name, tls, "postgres: login");
            Ok(Some((p, target, relayed, sasl_final)))
        }
        Err(failure) => {
            if let Err(e) = shared
                .governor
                .audit_auth_failure(failure, presented.as_deref(), "postgres", Some(&request_id))
                .await
            {
                tracing::error!(error = %e, "postgres: cannot audit a failed login");
            }
            let hint = (!tls).then_some(
                "Countersign checks tokens over TLS: connect with sslmode=require (SCRAM without TLS works once the principal has logged in over TLS)",
            );
            fatal(
                reader.get_mut(),
                "28P01",
                format!("password authentication failed for user \"{user}\""),
                hint,
            )
            .await?;
            Ok(None)
        }
    }
}

type ScramOutcome = (Result<Principal, AuthFailure>, Option<Vec<u8>>);

/// SCRAM-SHA-256 against the verifier cached for `user`.
async fn scram_exchange(
    shared: &Shared,
    reader: &mut FrameReader<BoxIo>,
    user: &str,
) -> Result<Option<ScramOutcome>, ProxyError> {
    let mut out = Vec::new();
    Authentication::Sasl {
        mechanisms: vec!["SCRAM-SHA-256".into()],
    }
    .encode(&mut out);
    reader.get_mut().write_all(&out).await?;
    reader.get_mut().flush().await?;
    out.clear();
    let Some(frame) = reader.next().await? else {
        return Ok(None);
    };
    if frame.tag != b'p' {
        fatal(reader.get_mut(), "08P01", "expected a SASL response", None).await?;
        return Ok(None);
    }
    let initial = SaslInitial::decode(&frame.body())?;
    if initial.mechanism != "SCRAM-SHA-256" {
        fatal(
            reader.get_mut(),
            "28000",
            "unsupported SASL mechanism",
            None,
        )
        .await?;
        return Ok(None);
    }
    let verifier = shared
        .verifiers
        .get(user)
        .unwrap_or_else(Verifier::impossible);
    let (state, first) = match scram::server_first(&initial.data, verifier) {
        Ok(x) => x,
        Err(e) => {
            fatal(reader.get_mut(), "08P01", e.to_string(), None).await?;
            return Ok(None);
        }
    };
    Authentication::SaslContinue {
        data: first.into_bytes(),
    }
    .encode(&mut out);
    reader.get_mut().write_all(&out).await?;
    reader.get_mut().flush().await?;
    out.clear();
    let Some(frame) = reader.next().await? else {
        return Ok(None);
    };
    if frame.tag != b'p' {
        fatal(reader.get_mut(), "08P01", "expected a SASL response", None).await?;
        return Ok(None);
    }
    let response = SaslResponse::decode(&frame.body());
    match state.finish(&response.data) {
        Ok((server_final, v)) => {
            // The token behind the verifier must still be good.
            let snap = shared.governor.snapshot();
            let now = Timestamp::now();
            let result = match snap.tokens.get(&v.token_id) {
                None => Err(AuthFailure::UnknownToken),
                Some(rec) if rec.revoked_at.is_some() => Err(AuthFailure::Revoked),
                Some(rec) if !rec.is_active(now) => Err(AuthFailure::Expired),
                Some(rec) if rec.principal != user => Err(AuthFailure::UnknownPrincipal),
                Some(_) => match snap.principals.get(user) {
                    None => Err(AuthFailure::UnknownPrincipal),
                    Some(p) if p.disabled => Err(AuthFailure::Disabled),
                    Some(p) => Ok(p.clone()),
                },
            };
            if result.is_err() {
                shared.verifiers.remove(user);
            }
            Ok(Some((result, Some(server_final.into_bytes()))))
        }
        Err(scram::ScramError::WrongProof) => Ok(Some((Err(AuthFailure::BadSecret), None))),
        Err(e) => {
            fatal(reader.get_mut(), "08P01", e.to_string(), None).await?;
            Ok(None)
        }
    }
}

#[expect(
    clippy::too_many_arguments,
    reason = "one call site, the pieces of a session"
)]
async fn relay(
    shared: Arc<Shared>,
    id: u64,
    principal: Principal,
    target: Target,
    reader: FrameReader<BoxIo>,
    upstream: crate::upstream::Connected,
    key: crate::wire::backend::BackendKeyData,
    hold: Arc<HoldCancel>,
    sasl_final: Option<Vec<u8>>,
) -> Result<(), ProxyError> {
    let max = shared.config.max_message_bytes;
    let mut state = State::new();
    let mut out = Vec::new();
    if let Some(data) = sasl_final {
        Authentication::SaslFinal { data }.encode(&mut out);
    }
    Authentication::Ok.encode(&mut out);
    for (k, v) in &upstream.params {
        encode_parameter_status(k, v, &mut out);
        match k.as_str() {
            "standard_conforming_strings" => state.standard_conforming_strings = v == "on",
            "client_encoding" => state.client_encoding = v.clone(),
            _ => {}
        }
    }
    key.encode(&mut out);
    for n in &upstream.notices {
        n.encode_notice(&mut out);
    }
    encode_ready(upstream.status, &mut out);
    state.tx = upstream.status;

    let (client_io, client_buf) = reader.into_parts();
    let (client_read, client_write) = tokio::io::split(client_io);
    let client_reader = FrameReader::with_buffer(client_read, client_buf, max);
    let (up_io, up_buf) = upstream.io.into_parts();
    let (up_read, up_write) = tokio::io::split(up_io);
    let up_reader = FrameReader::with_buffer(up_read, up_buf, max);

    let catalog =
        shared.catalogs.get(&target.name).cloned().ok_or_else(|| {
            ProxyError::Config(format!("no catalog for target `{}`", target.name))
        })?;
    let session = Session {
        shared,
        id,
        principal: Arc::new(principal),
        target,
        catalog,
        state: std::sync::Mutex::new(state),
        client: tokio::sync::Mutex::new(client_write),
        hold,
        statements: AtomicU64::new(0),
    };
    session.write_client(&out).await?;
    let result = tokio::select! {
        r = super::frontend::run(&session, client_reader, up_write) => r,
        r = super::backend::run(&session, up_reader) => r,
    };
    let mut c = session.client.lock().await;
    let _ = c.shutdown().await;
    result
}
