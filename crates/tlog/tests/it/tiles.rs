//! c2sp.org/tlog-tiles path rules: one canonical name per tile.

use countersign_tlog::tiles::{TILE_WIDTH, TileKind, TilePath};
use countersign_tlog::{
    HashReader, MemoryTree, TlogError, entries_path, parse_tile_path, tile_hashes, tile_path,
};

#[test]
fn spec_examples() {
    assert_eq!(
        tile_path(0, 1_234_067, None).unwrap(),
        "tile/0/x001/x234/067"
    );
    assert_eq!(
        tile_path(1, 1_234_067, Some(8)).unwrap(),
        "tile/1/x001/x234/067.p/8"
    );
    assert_eq!(tile_path(0, 0, None).unwrap(), "tile/0/000");
    assert_eq!(tile_path(2, 1000, None).unwrap(), "tile/2/x001/000");
    assert_eq!(
        entries_path(1_234_067, Some(8)).unwrap(),
        "tile/entries/x001/x234/067.p/8"
    );
    assert_eq!(
        parse_tile_path("tile/entries/x001/x234/067.p/8").unwrap(),
        TilePath {
            kind: TileKind::Entries,
            index: 1_234_067,
            partial_width: Some(8)
        }
    );
    assert_eq!(
        parse_tile_path("tile/3/999").unwrap(),
        TilePath {
            kind: TileKind::Hashes { level: 3 },
            index: 999,
            partial_width: None
        }
    );
    let max = "tile/0/x018/x446/x744/x073/x709/x551/615";
    assert_eq!(parse_tile_path(max).unwrap().index, u64::MAX);
    assert_eq!(parse_tile_path("tile/0/000.p/255").unwrap().width(), 255);
    assert_eq!(parse_tile_path("tile/0/000").unwrap().width(), TILE_WIDTH);
}

#[test]
fn refuses_invalid_coordinates() {
    assert!(tile_path(64, 0, None).is_err());
    assert!(tile_path(0, 0, Some(0)).is_err());
    assert!(tile_path(0, 0, Some(256)).is_err());
    assert!(entries_path(0, Some(300)).is_err());
}

#[test]
fn refuses_non_canonical_paths() {
    for path in [
        "",
        "tile",
        "tile/",
        "tile/0",
        "tile/0/",
        "tile/0/1234067",
        "tile/0/1",
        "tile/0/01",
        "tile/0/0001",
        "tile/0/x001/234/067",
        "tile/0/001/x234",
        "tile/0/x000/001",
        "tile/0/xx01/001",
        "tile/00/001",
        "tile/01/001",
        "tile/64/001",
        "tile/256/001",
        "tile/-1/001",
        "tile/+1/001",
        "tile/0/001.p/0",
        "tile/0/001.p/256",
        "tile/0/001.p/08",
        "tile/0/001.p/",
        "tile/0/001.p/1/2",
        "tile/0/001.p",
        "tile/0/001/",
        "tile/data/001",
        "tile/8/0/001",
        "tile/entries/01",
        "tiles/0/001",
        "/tile/0/001",
        "tile/0/x018/x446/x744/x073/x709/x551/616",
        "tile/0/x001/x000/x000/x000/x000/x000/x000/000",
    ] {
        assert!(
            matches!(parse_tile_path(path), Err(TlogError::MalformedTilePath(_))),
            "accepted {path:?}"
        );
    }
    let long = format!("tile/0/{}", "x001/".repeat(1000));
    assert!(parse_tile_path(&long).is_err());
}

#[test]
fn tile_hashes_reads_the_right_level() {
    let mut tree = MemoryTree::new();
    for i in 0..(256u32 * 3 + 5) {
        tree.push_entry(&i.to_be_bytes()).unwrap();
    }
    let level0 = tile_hashes(&tree, 0, 3, 5).unwrap();
    let want: Vec<_> = (768..773).map(|i| tree.node(0, i).unwrap()).collect();
    assert_eq!(level0, want);
    let level1 = tile_hashes(&tree, 1, 0, 3).unwrap();
    let want: Vec<_> = (0..3).map(|i| tree.node(8, i).unwrap()).collect();
    assert_eq!(level1, want);
    assert!(matches!(
        tile_hashes(&tree, 1, 0, 4),
        Err(TlogError::NodeNotFound { .. })
    ));
    assert!(matches!(
        tile_hashes(&tree, 0, 3, 6),
        Err(TlogError::NodeNotFound { .. })
    ));
    assert!(tile_hashes(&tree, 0, 0, 0).is_err());
    assert!(tile_hashes(&tree, 0, 0, 257).is_err());
    assert!(tile_hashes(&tree, 8, 0, 1).is_err());
    assert!(tile_hashes(&tree, 0, u64::MAX, 1).is_err());
}
