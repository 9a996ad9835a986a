//! tokio-postgres through the proxy (no TLS: SCRAM after a first TLS
//! login): the extended protocol with named and unnamed statements,
//! pipelining, transactions, COPY in both directions, cancel, notices,
//! LISTEN/NOTIFY.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use crate::common::Env;
use futures_util::{SinkExt, StreamExt, TryStreamExt};
use tokio_postgres::error::SqlState;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_statements_parameters_and_pipelining() {
    let env = Env::start().await;
    let c = env.client("alice", "shop_dev").await;
    let stmt = c
        .prepare("SELECT name FROM customers WHERE id = $1")
        .await
        .unwrap();
    for (id, name) in [(1, "Ada"), (2, "Grace")] {
        let row = c.query_one(&stmt, &[&id]).await.unwrap();
        assert_eq!(row.get::<_, &str>(0), name);
    }
    // Unnamed statements, pipelined: several in flight at once.
    let (a, b, d) = tokio::join!(
        c.query_one("SELECT $1::int + 1", &[&1i32]),
        c.query_one(
            "SELECT count(*) FROM orders WHERE customer_id = $1",
            &[&1i32]
        ),
        c.execute(
            "UPDATE orders SET total = total + 1 WHERE id = $1",
            &[&2i32]
        ),
    );
    assert_eq!(a.unwrap().get::<_, i32>(0), 2);
    assert_eq!(b.unwrap().get::<_, i64>(0), 2);
    assert_eq!(d.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_execute_is_42501_and_the_connection_stays_usable() {
    let env = Env::start().await;
    let c = env.client("vic", "shop_dev").await;
    let err = c
        .execute("DELETE FROM orders WHERE id = $1", &[&1i32])
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE), "{err}");
    let db = err.as_db_error().unwrap();
    assert!(db.message().contains("denied"), "{}", db.message());
    // The decision saw the bound parameters (binary int4 1).
    let denial = env
        .audit("decision")
        .await
        .into_iter()
        .rev()
        .find(|d| d["verdict"] == "deny")
        .unwrap();
    let payload = env
        .store
        .audit_payload(denial["payload_hash"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    let payload: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(
        payload["sql"]["parameters"][0], "$1=x'00000001'",
        "{payload}"
    );
    assert_eq!(
        payload["sql"]["statement"],
        "DELETE FROM orders WHERE id = $1"
    );
    // Reads still work on the same connection.
    let n: i64 = c
        .query_one("SELECT count(*) FROM orders", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_commit_roll_back_and_abort_on_a_refusal() {
    let env = Env::start().await;
    let mut c = env.client("alice", "shop_dev").await;
    let tx = c.transaction().await.unwrap();
    tx.execute("INSERT INTO orders (customer_id, total) VALUES (1, 1)", &[])
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    let tx = c.transaction().await.unwrap();
    tx.execute("INSERT INTO orders (customer_id, total) VALUES (1, 2)", &[])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let n: i64 = c
        .query_one("SELECT count(*) FROM orders", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 4);
    // A refused statement aborts the transaction, as any error does.
    let v = env.client("vic", "shop_dev").await;
    v.batch_execute("BEGIN").await.unwrap();
    let err = v.batch_execute("DELETE FROM orders").await.unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE));
    let err = v.batch_execute("SELECT 1").await.unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::IN_FAILED_SQL_TRANSACTION));
    v.batch_execute("ROLLBACK").await.unwrap();
    v.batch_execute("SELECT 1").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_in_and_out() {
    let env = Env::start().await;
    let c = env.client("alice", "shop_dev").await;
    let sink = c
        .copy_in("COPY orders (customer_id, total) FROM STDIN")
        .await
        .unwrap();
    futures_util::pin_mut!(sink);
    sink.send(bytes::Bytes::from_static(b"1\t7.00\n2\t8.00\n"))
        .await
        .unwrap();
    let n = sink.finish().await.unwrap();
    assert_eq!(n, 2);
    let out = c
        .copy_out("COPY (SELECT total FROM orders ORDER BY id) TO STDOUT")
        .await
        .unwrap();
    let chunks: Vec<bytes::Bytes> = out.try_collect().await.unwrap();
    let text: String = chunks
        .iter()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .collect();
    assert_eq!(text, "10.50\n20.00\n5.25\n7.00\n8.00\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_sleep_is_cancelled_through_the_proxy() {
    let env = Env::start().await;
    let c = env.client("alice", "shop_dev").await;
    let token = c.cancel_token();
    let sleeper = tokio::spawn(async move { c.batch_execute("SELECT pg_sleep(20)").await });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let started = std::time::Instant::now();
    token.cancel_query(tokio_postgres::NoTls).await.unwrap();
    let err = sleeper.await.unwrap().unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::QUERY_CANCELED), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_notify_and_notices_are_relayed() {
    let env = Env::start().await;
    let notifier = env.client("alice", "shop_dev").await;
    let (listener, mut conn) = tokio_postgres::connect(
        &env.conninfo("alice", "shop_dev", "disable"),
        tokio_postgres::NoTls,
    )
    .await
    .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| conn.poll_message(cx));
        while let Some(Ok(m)) = messages.next().await {
            let _ = tx.send(m);
        }
    });
    listener.batch_execute("LISTEN events").await.unwrap();
    notifier
        .batch_execute("NOTIFY events, 'hello'")
        .await
        .unwrap();
    listener
        .batch_execute("DROP TABLE IF EXISTS not_there")
        .await
        .unwrap();
    let mut got_notification = false;
    let mut got_notice = false;
    while !(got_notification && got_notice) {
        let m = tokio::time::timeout(std::time::Duration::from_secs(5), rx.recv())
            .await
            .expect("no notification or notice")
            .unwrap();
        match m {
            tokio_postgres::AsyncMessage::Notification(n) => {
                assert_eq!(n.channel(), "events");
                assert_eq!(n.payload(), "hello");
                got_notification = true;
            }
            tokio_postgres::AsyncMessage::Notice(n) => {
                assert!(n.message().contains("not_there"), "{}", n.message());
                got_notice = true;
            }
            _ => {}
        }
    }
}
