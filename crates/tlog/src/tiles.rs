//! C2SP tlog-tiles (<https://c2sp.org/tlog-tiles>) addressing.
//!
//! Tiles let a log be served as static, immutable, cache-friendly files:
//! tile `N` at level `L` holds up to 256 consecutive hashes of tree level
//! `8·L`, and entry bundles hold the entries themselves. These helpers name
//! those files and read a tile's hashes from a [`HashReader`].

use crate::error::{Result, TlogError};
use crate::hash::Hash;
use crate::tree::HashReader;

/// Tree levels covered by one tile.
pub const TILE_HEIGHT: u8 = 8;

/// Hashes (or entries) in a full tile: `2^TILE_HEIGHT`.
pub const TILE_WIDTH: u16 = 1 << TILE_HEIGHT;

/// Highest tile level the spec allows in a path.
const MAX_LEVEL: u8 = 63;

/// Longest path we parse: `tile/63/` plus seven index groups plus `.p/255`
/// is well under this.
const MAX_PATH_LEN: usize = 64;

/// What a tile path addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TileKind {
    /// A hash tile at this tile level (tree level `8 · level`).
    Hashes {
        /// Tile level, `0..=63`.
        level: u8,
    },
    /// An entry bundle.
    Entries,
}

/// A parsed tile path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TilePath {
    /// Hash tile or entry bundle.
    pub kind: TileKind,
    /// Index of the tile within its level.
    pub index: u64,
    /// `Some(w)` with `1 <= w <= 255` for a partial tile, `None` for a full one.
    pub partial_width: Option<u16>,
}

impl TilePath {
    /// The path string, as [`tile_path`] or [`entries_path`] would build it.
    pub fn to_path(&self) -> Result<String> {
        match self.kind {
            TileKind::Hashes { level } => tile_path(level, self.index, self.partial_width),
            TileKind::Entries => entries_path(self.index, self.partial_width),
        }
    }

    /// Number of hashes or entries in the tile.
    pub fn width(&self) -> u16 {
        self.partial_width.unwrap_or(TILE_WIDTH)
    }
}

/// Path of hash tile `index` at tile `level`: `tile/<L>/<N>[.p/<W>]`, with
/// `N` in 3-digit groups, all but the last prefixed with `x`
/// (`1234067` → `x001/x234/067`).
///
/// Fails for a level above 63 or a partial width outside `1..=255`.
pub fn tile_path(level: u8, index: u64, partial_width: Option<u16>) -> Result<String> {
    if level > MAX_LEVEL {
        return Err(TlogError::InvalidTile("tile level must be at most 63"));
    }
    Ok(format!(
        "tile/{level}/{}{}",
        encode_index(index),
        partial_suffix(partial_width)?
    ))
}

/// Path of entry bundle `index`: `tile/entries/<N>[.p/<W>]`.
///
/// Fails for a partial width outside `1..=255`.
pub fn entries_path(index: u64, partial_width: Option<u16>) -> Result<String> {
    Ok(format!(
        "tile/entries/{}{}",
        encode_index(index),
        partial_suffix(partial_width)?
    ))
}

/// Parses a hash-tile or entry-bundle path. Only the canonical spelling is
/// accepted, so every tile has exactly one name (and one cache entry).
pub fn parse_tile_path(path: &str) -> Result<TilePath> {
    let bad = || TlogError::MalformedTilePath(path.chars().take(MAX_PATH_LEN).collect());
    if path.len() > MAX_PATH_LEN {
        return Err(bad());
    }
    let rest = path.strip_prefix("tile/").ok_or_else(bad)?;
    let (kind_str, rest) = rest.split_once('/').ok_or_else(bad)?;
    let kind = if kind_str == "entries" {
        TileKind::Entries
    } else {
        TileKind::Hashes {
            level: parse_decimal(kind_str)
                .and_then(|l| u8::try_from(l).ok())
                .ok_or_else(bad)?,
        }
    };
    let (index_str, partial_width) = match rest.split_once(".p/") {
        Some((idx, w)) => (
            idx,
            Some(
                parse_decimal(w)
                    .and_then(|w| u16::try_from(w).ok())
                    .ok_or_else(bad)?,
            ),
        ),
        None => (rest, None),
    };
    let index = decode_index(index_str).ok_or_else(bad)?;
    let tile = TilePath {
        kind,
        index,
        partial_width,
    };
    // Re-encoding rejects leading zeros, missing or extra `x` groups, out of
    // range levels and widths in one place.
    match tile.to_path() {
        Ok(canonical) if canonical == path => Ok(tile),
        _ => Err(bad()),
    }
}

/// The `width` hashes of hash tile `index` at tile `level`: tree-level
/// `8 · level` nodes `index · 256 .. index · 256 + width`.
pub fn tile_hashes<R: HashReader + ?Sized>(
    reader: &R,
    level: u8,
    index: u64,
    width: u16,
) -> Result<Vec<Hash>> {
    if width == 0 || width > TILE_WIDTH {
        return Err(TlogError::InvalidTile(
            "tile width must be between 1 and 256",
        ));
    }
    let tree_level = level
        .checked_mul(TILE_HEIGHT)
        .filter(|l| *l < 64)
        .ok_or(TlogError::InvalidTile("tile level is beyond the tree"))?;
    let start = index
        .checked_mul(u64::from(TILE_WIDTH))
        .filter(|s| s.checked_add(u64::from(width)).is_some())
        .ok_or(TlogError::InvalidTile("tile index is beyond the tree"))?;
    (0..u64::from(width))
        .map(|i| reader.node(tree_level, start + i))
        .collect()
}

fn partial_suffix(partial_width: Option<u16>) -> Result<String> {
    match partial_width {
        None => Ok(String::new()),
        Some(w) if (1..TILE_WIDTH).contains(&w) => Ok(format!(".p/{w}")),
        Some(_) => Err(TlogError::InvalidTile(
            "partial tile width must be between 1 and 255",
        )),
    }
}

fn encode_index(mut n: u64) -> String {
    let mut out = format!("{:03}", n % 1000);
    while n >= 1000 {
        n /= 1000;
        out = format!("x{:03}/{out}", n % 1000);
    }
    out
}

fn decode_index(s: &str) -> Option<u64> {
    let mut groups = s.split('/').peekable();
    let mut n = 0u64;
    while let Some(group) = groups.next() {
        let digits = if groups.peek().is_some() {
            group.strip_prefix('x')?
        } else {
            group
        };
        if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let value: u64 = digits.parse().ok()?;
        n = n.checked_mul(1000)?.checked_add(value)?;
    }
    Some(n)
}

/// A plain decimal (ASCII digits only); leading zeros are caught later by
/// the canonical re-encoding.
fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}
