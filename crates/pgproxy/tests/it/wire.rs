//! The wire protocol at the byte level: encryption negotiation, limits,
//! refusals of what the proxy does not support.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use crate::common::Env;
use countersign_pgproxy::wire::FrameReader;
use countersign_pgproxy::wire::backend::{Authentication, BackendMessage};
use countersign_pgproxy::wire::frontend::{SaslInitial, SaslResponse, Startup};
use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn raw(env: &Env) -> TcpStream {
    TcpStream::connect(env.addr).await.unwrap()
}

/// Logs in without TLS (SCRAM) and returns the stream at ReadyForQuery.
async fn login(env: &Env, who: &str) -> FrameReader<TcpStream> {
    let (ok, _, err) = env.psql(who, "shop_dev", "SELECT 1").await;
    assert!(ok, "{err}");
    let mut s = raw(env).await;
    let startup = Startup {
        major: 3,
        minor: 0,
        params: vec![
            ("user".into(), who.into()),
            ("database".into(), "shop_dev".into()),
        ],
    };
    s.write_all(&startup.encode()).await.unwrap();
    let mut r = FrameReader::new(s, 1 << 20);
    let mut scram = ScramSha256::new(env.token(who).as_bytes(), ChannelBinding::unsupported());
    loop {
        let f = r.next().await.unwrap().unwrap();
        let mut out = Vec::new();
        match BackendMessage::decode(&f).unwrap() {
            BackendMessage::Authentication(Authentication::Sasl { .. }) => {
                SaslInitial::encode("SCRAM-SHA-256", scram.message(), &mut out)
            }
            BackendMessage::Authentication(Authentication::SaslContinue { data }) => {
                scram.update(&data).unwrap();
                SaslResponse::encode(scram.message(), &mut out);
            }
            BackendMessage::Authentication(Authentication::SaslFinal { data }) => {
                scram.finish(&data).unwrap()
            }
            BackendMessage::ReadyForQuery(_) => return r,
            BackendMessage::ErrorResponse(e) => panic!("login failed: {e:?}"),
            _ => {}
        }
        if !out.is_empty() {
            r.get_mut().write_all(&out).await.unwrap();
        }
    }
}

/// Reads until ReadyForQuery or EOF; returns the messages.
async fn until_ready(r: &mut FrameReader<TcpStream>) -> Vec<BackendMessage> {
    let mut got = Vec::new();
    while let Ok(Some(f)) = r.next().await {
        let m = BackendMessage::decode(&f).unwrap();
        let done = matches!(m, BackendMessage::ReadyForQuery(_));
        got.push(m);
        if done {
            break;
        }
    }
    got
}

fn error_code(msgs: &[BackendMessage]) -> Option<String> {
    msgs.iter().find_map(|m| match m {
        BackendMessage::ErrorResponse(f) => f.code().map(str::to_owned),
        _ => None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gssenc_is_declined_ssl_is_accepted_and_bytes_after_sslrequest_are_refused() {
    let env = Env::start().await;
    let mut s = raw(&env).await;
    s.write_all(&[0, 0, 0, 8, 4, 210, 22, 48]).await.unwrap(); // GSSENCRequest
    let mut b = [0u8; 1];
    s.read_exact(&mut b).await.unwrap();
    assert_eq!(b[0], b'N');
    s.write_all(&countersign_pgproxy::wire::frontend::ssl_request())
        .await
        .unwrap();
    s.read_exact(&mut b).await.unwrap();
    assert_eq!(b[0], b'S');
    // An SSLRequest followed at once by cleartext bytes (CVE-2021-23214
    // style injection) ends the connection.
    let mut s = raw(&env).await;
    let mut req = countersign_pgproxy::wire::frontend::ssl_request().to_vec();
    req.extend_from_slice(b"Q\0\0\0\x0dSELECT 1\0");
    s.write_all(&req).await.unwrap();
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), s.read_to_end(&mut rest)).await;
    assert!(!rest.starts_with(b"S"), "{rest:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_calls_are_refused_in_order_and_the_session_continues() {
    let env = Env::start().await;
    let mut r = login(&env, "alice").await;
    // FunctionCall (F) for some OID, then a query.
    let mut out = vec![b'F', 0, 0, 0, 14, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0];
    out.truncate(15);
    let len = u32::try_from(out.len() - 1).unwrap();
    out[1..5].copy_from_slice(&len.to_be_bytes());
    r.get_mut().write_all(&out).await.unwrap();
    let msgs = until_ready(&mut r).await;
    assert_eq!(error_code(&msgs).as_deref(), Some("0A000"), "{msgs:?}");
    let mut q = Vec::new();
    countersign_pgproxy::wire::frontend::Query {
        sql: "SELECT 42".into(),
    }
    .encode(&mut q);
    r.get_mut().write_all(&q).await.unwrap();
    let msgs = until_ready(&mut r).await;
    assert!(
        msgs.iter().any(|m| matches!(m, BackendMessage::DataRow(_))),
        "{msgs:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_unknown_messages_end_the_session_with_08p01() {
    let env = Env::start().await;
    // A Query whose string has bytes after its terminator.
    let mut r = login(&env, "alice").await;
    r.get_mut()
        .write_all(b"Q\0\0\0\x0fSELECT 1\0DROP")
        .await
        .unwrap();
    let msgs = until_ready(&mut r).await;
    assert_eq!(error_code(&msgs).as_deref(), Some("08P01"), "{msgs:?}");
    // An unknown message type.
    let mut r = login(&env, "alice").await;
    r.get_mut().write_all(b"z\0\0\0\x04").await.unwrap();
    let msgs = until_ready(&mut r).await;
    assert_eq!(error_code(&msgs).as_deref(), Some("08P01"), "{msgs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_extended_messages_after_an_error_are_skipped_like_the_server_does() {
    let env = Env::start().await;
    let mut r = login(&env, "vic").await;
    // Parse/Bind/Execute a DELETE (refused), then in the same segment a
    // harmless statement: the server skips it; after Sync all is normal.
    let mut out = Vec::new();
    let msg = |tag: u8, body: &[u8], out: &mut Vec<u8>| {
        out.push(tag);
        out.extend_from_slice(&u32::try_from(body.len() + 4).unwrap().to_be_bytes());
        out.extend_from_slice(body);
    };
    msg(b'P', b"\0DELETE FROM orders\0\0\0", &mut out);
    msg(b'B', b"\0\0\0\0\0\0\0\0", &mut out);
    msg(b'E', b"\0\0\0\0\0", &mut out);
    msg(b'P', b"\0SELECT 1\0\0\0", &mut out);
    msg(b'B', b"\0\0\0\0\0\0\0\0", &mut out);
    msg(b'E', b"\0\0\0\0\0", &mut out);
    msg(b'S', b"", &mut out);
    r.get_mut().write_all(&out).await.unwrap();
    let msgs = until_ready(&mut r).await;
    assert_eq!(error_code(&msgs).as_deref(), Some("42501"), "{msgs:?}");
    assert!(
        !msgs.iter().any(|m| matches!(m, BackendMessage::DataRow(_))),
        "{msgs:?}"
    );
    let n: i64 = env
        .direct()
        .await
        .query_one("SELECT count(*) FROM orders", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 3);
}

/// Regression: a query pipelined right behind `SET standard_conforming_strings
/// = off` must be lexed with the new setting (the proxy waits for the SET
/// to complete), or a write hidden in a string would pass as a read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_pipelined_behind_a_setting_change_is_lexed_with_the_new_setting() {
    let env = Env::start().await;
    let mut r = login(&env, "vic").await;
    let mut out = Vec::new();
    for sql in [
        "SET standard_conforming_strings = off",
        "SELECT 'x\\'';DELETE FROM orders;--'",
    ] {
        countersign_pgproxy::wire::frontend::Query { sql: sql.into() }.encode(&mut out);
    }
    // Both in one write: the second arrives before the first is answered.
    r.get_mut().write_all(&out).await.unwrap();
    let first = until_ready(&mut r).await;
    assert_eq!(error_code(&first), None, "{first:?}");
    let second = until_ready(&mut r).await;
    assert_eq!(error_code(&second).as_deref(), Some("42501"), "{second:?}");
    let n: i64 = env
        .direct()
        .await
        .query_one("SELECT count(*) FROM orders", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 3);
}

fn msg(tag: u8, body: &[u8], out: &mut Vec<u8>) {
    out.push(tag);
    out.extend_from_slice(&u32::try_from(body.len() + 4).unwrap().to_be_bytes());
    out.extend_from_slice(body);
}

/// Regression: a statement name re-used across Parse messages always maps
/// to what the server holds — a harmless Parse that fails (duplicate name)
/// cannot make the proxy judge the write the name still holds as a read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_statement_cannot_be_swapped_by_a_failing_parse() {
    let env = Env::start().await;
    let mut r = login(&env, "alice").await;
    // alice prepares a write under `s` (allowed to prepare; Parse runs nothing).
    let mut out = Vec::new();
    msg(b'P', b"s\0DELETE FROM orders\0\0\0", &mut out);
    msg(b'S', b"", &mut out);
    r.get_mut().write_all(&out).await.unwrap();
    let msgs = until_ready(&mut r).await;
    assert_eq!(error_code(&msgs), None, "{msgs:?}");
    // Then re-parses `s` as a read (fails: duplicate) and executes `s`
    // in the same pipeline: the server skips the Execute after the error.
    let mut out = Vec::new();
    msg(b'P', b"s\0SELECT 1\0\0\0", &mut out);
    msg(b'B', b"\0s\0\0\0\0\0\0\0", &mut out);
    msg(b'E', b"\0\0\0\0\0", &mut out);
    msg(b'S', b"", &mut out);
    r.get_mut().write_all(&out).await.unwrap();
    let msgs = until_ready(&mut r).await;
    assert_eq!(error_code(&msgs).as_deref(), Some("42P05"), "{msgs:?}");
    // And in a new segment, `s` is judged as the write it is: alice may
    // write in dev, so it runs, and the audit says sql.write.
    let mut out = Vec::new();
    msg(b'B', b"\0s\0\0\0\0\0\0\0", &mut out);
    msg(b'E', b"\0\0\0\0\0", &mut out);
    msg(b'S', b"", &mut out);
    r.get_mut().write_all(&out).await.unwrap();
    let msgs = until_ready(&mut r).await;
    assert_eq!(error_code(&msgs), None, "{msgs:?}");
    let last = env.audit("decision").await.pop().unwrap();
    assert_eq!(last["action"], "sql.write", "{last}");
}
