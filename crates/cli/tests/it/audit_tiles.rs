//! The C2SP tlog-tiles endpoints, checked by an independent client:
//! Cloudflare's `tlog_tiles` (a port of Go's `sumdb/tlog`) reads our hash
//! tiles, authenticates every tile it uses against the signed checkpoint's
//! root, and recomputes that root; entry bundles hash to the leaf tiles.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a failed step should fail the test loudly"
)]

use crate::common::Server;
use countersign_tlog::{Checkpoint, Verifier};
use serde_json::json;
use std::io::{Read as _, Write as _};
use tlog_tiles as go;

/// A blocking HTTP/1.0 GET (the tile reader trait is synchronous):
/// status and body.
fn get(base: &str, path: &str, token: Option<&str>) -> (u16, Vec<u8>) {
    let host = base.strip_prefix("http://").unwrap();
    let mut s = std::net::TcpStream::connect(host).unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {host}\r\n{auth}\r\n").unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&buf[..split]).to_string();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, buf[split + 4..].to_vec())
}

/// Fetches hash tiles from the server. `tlog_tiles` names them the Go
/// way, `tile/8/L/N[.p/W]`; C2SP drops the height: `tile/L/N[.p/W]`.
struct HttpTiles {
    base: String,
}

impl go::TileReader for HttpTiles {
    fn height(&self) -> u8 {
        8
    }

    fn read_tiles(&self, tiles: &[go::Tile]) -> Result<Vec<Vec<u8>>, go::Error> {
        tiles
            .iter()
            .map(|t| {
                let path = t.path().replacen("tile/8/", "tile/", 1);
                let (st, body) = get(&self.base, &format!("/audit/{path}"), None);
                if st == 200 {
                    Ok(body)
                } else {
                    Err(go::Error::InvalidTile)
                }
            })
            .collect()
    }

    fn save_tiles(&self, _tiles: &[go::Tile], _data: &[Vec<u8>]) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiles_rebuild_the_signed_root_in_an_independent_client() {
    let s = Server::start();
    // Enough entries for a full level-0 tile, a partial one, and a level-1
    // tile above them.
    let mut set = tokio::task::JoinSet::new();
    for i in 0..300 {
        let api = s.admin();
        set.spawn(async move {
            api.decide("sql.read", "Table", &format!("t{i}"), "dev", json!({}))
                .await
        });
        if set.len() >= 8 {
            set.join_next().await.unwrap().unwrap();
        }
    }
    while let Some(r) = set.join_next().await {
        r.unwrap();
    }

    // The checkpoint, public and unauthenticated, as a witness reads it.
    let base = s.url.clone();
    let key = s.verifier_key.clone();
    let token = s.admin_token.clone();
    tokio::task::spawn_blocking(move || {
        // Checkpoints are signed on a cadence: wait for one covering all.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let cp = loop {
            let (st, note) = get(&base, "/audit/checkpoint", None);
            assert_eq!(st, 200);
            let cp = Checkpoint::open(&note, &[Verifier::from_key(&key).unwrap()]).unwrap();
            if cp.size >= 300 {
                break cp;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no checkpoint covers the entries"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        };

        let tiles = HttpTiles { base: base.clone() };
        let reader = go::TileHashReader::new(cp.size, go::Hash(cp.root), &tiles);
        // Reading any hash makes the reader authenticate the tiles it used
        // against the root; tree_hash then recomputes the root from them.
        assert_eq!(go::tree_hash(cp.size, &reader).unwrap().0, cp.root);

        // Every leaf: the entry bundles hash (as records) to the leaf
        // hashes the authenticated tiles hold.
        let leaves: Vec<u64> = (0..cp.size).map(|i| go::stored_hash_index(0, i)).collect();
        let stored = go::HashReader::read_hashes(&reader, &leaves).unwrap();
        let mut entries = Vec::new();
        for n in 0..cp.size.div_ceil(256) {
            let width = (cp.size - n * 256).min(256);
            let path =
                countersign_tlog::entries_path(n, (width < 256).then_some(width as u16)).unwrap();
            let (st, body) = get(&base, &format!("/audit/{path}"), Some(&token));
            assert_eq!(st, 200, "{path}");
            let mut rest = &body[..];
            while !rest.is_empty() {
                let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
                entries.push(rest[2..2 + len].to_vec());
                rest = &rest[2 + len..];
            }
        }
        assert_eq!(entries.len() as u64, cp.size);
        for (i, (e, h)) in entries.iter().zip(&stored).enumerate() {
            assert_eq!(go::record_hash(e), *h, "leaf {i}");
        }

        // A record proof from the tiles checks out in the independent code.
        let proof = go::prove_record(cp.size, 123, &reader).unwrap();
        go::check_record(&proof, cp.size, go::Hash(cp.root), 123, stored[123]).unwrap();

        // Entry bundles need a token; hash tiles do not.
        let (st, _) = get(&base, "/audit/tile/entries/000", None);
        assert_eq!(st, 401);
        // A tile beyond the tree does not exist.
        let (st, _) = get(&base, "/audit/tile/0/999", None);
        assert_eq!(st, 404);
    })
    .await
    .unwrap();
}
