//! Proofs and tiles served through the store's node cache (upper levels in
//! memory, filled lazily as the log grows; lower levels fetched in one
//! statement) are exactly those of an independent in-memory tree, at every
//! stage of growth.

use crate::common::decision_event;
use countersign_core::Write;
use countersign_core::store::Store as _;
use countersign_store::{AuditFilter, SqliteStore};
use countersign_tlog::{
    MemoryTree, consistency_proof, inclusion_proof, leaf_hash, root_at, tile_hashes,
};

async fn grow(store: &SqliteStore, memory: &mut MemoryTree, to: u64) {
    while memory.size() < to {
        let from = memory.size();
        let n = (to - from).min(100);
        let w = Write {
            mutations: Vec::new(),
            events: (from..from + n).map(decision_event).collect(),
        };
        store.commit(w).await.unwrap();
        let got = store
            .audit_entries(AuditFilter {
                start: from,
                limit: n as usize,
                ..AuditFilter::default()
            })
            .await
            .unwrap();
        for e in got {
            memory.push(leaf_hash(&e.entry)).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_proofs_match_an_independent_tree_as_the_log_grows() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("log.db")).unwrap();
    let mut memory = MemoryTree::new();
    for stage in [1u64, 17, 64, 300, 777, 1030] {
        grow(&store, &mut memory, stage).await;
        let n = memory.size();
        assert_eq!(store.audit_size().await.unwrap(), n);
        let sizes = [1, n / 2 + 1, n - 1, n].map(|s| s.clamp(1, n));
        for size in sizes {
            let root = store
                .with_nodes(move |r| root_at(r, size))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(root, root_at(&memory, size).unwrap(), "root at {size}");
            for i in [0, size / 3, size / 2, size - 1] {
                let got = store
                    .with_nodes(move |r| inclusion_proof(r, i, size))
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!(
                    got,
                    inclusion_proof(&memory, i, size).unwrap(),
                    "inclusion of {i} in {size}"
                );
            }
            for m in [0, 1, size / 2, size] {
                let got = store
                    .with_nodes(move |r| consistency_proof(r, m, size))
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!(
                    got,
                    consistency_proof(&memory, m, size).unwrap(),
                    "consistency {m} -> {size}"
                );
            }
        }
        // Tiles read 2^8 nodes of one level: level 0 and level 1 tiles.
        if n >= 256 {
            let got = store
                .with_nodes(|r| tile_hashes(r, 0, 0, 256))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(got, tile_hashes(&memory, 0, 0, 256).unwrap());
        }
        if n >= 512 {
            let w = u16::try_from((n >> 8).min(256)).unwrap();
            let got = store
                .with_nodes(move |r| tile_hashes(r, 1, 0, w))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(got, tile_hashes(&memory, 1, 0, w).unwrap());
        }
    }
    // A node past the end is an error, never a made-up hash.
    let n = memory.size();
    let err = store
        .with_nodes(move |r| inclusion_proof(r, 0, n + 64))
        .await
        .unwrap();
    assert!(err.is_err(), "{err:?}");
    store.close().await;
}
