//! Handing entries from the entry thread to the tree thread, with the
//! leaf hashing balanced between them.
//!
//! The entry thread reads rows and fills a batch with the raw entry bytes.
//! If the tree thread has room in its queue (it is keeping up), the raw
//! batch goes to it and it hashes the leaves itself; if the queue is full
//! (it is behind), the entry thread hashes the batch before sending it. So
//! whichever thread has spare time does the SHA-256 work, on any machine,
//! without tuning.

use countersign_tlog::{Hash, leaf_hash};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError, sync_channel};

/// Entries per batch.
const BATCH: usize = 2048;
/// Batches queued for the tree thread.
const IN_FLIGHT: usize = 4;

/// One batch of consecutive entries.
pub(super) enum Batch {
    /// Leaf hashes computed by the entry thread.
    Leaves(Vec<Hash>),
    /// Entries for the tree thread to hash: concatenated bytes, and where
    /// each entry ends.
    Raw { bytes: Vec<u8>, ends: Vec<usize> },
}

impl Batch {
    /// The batch's leaf hashes, in order; a raw buffer goes back for reuse.
    pub fn leaves(self, recycle: &SyncSender<Vec<u8>>, mut each: impl FnMut(Hash) -> bool) {
        match self {
            Batch::Leaves(v) => {
                for leaf in v {
                    if !each(leaf) {
                        return;
                    }
                }
            }
            Batch::Raw { bytes, ends } => {
                let mut start = 0;
                for end in ends {
                    if !each(leaf_hash(bytes.get(start..end).unwrap_or_default())) {
                        return;
                    }
                    start = end;
                }
                let _ = recycle.try_send(bytes);
            }
        }
    }
}

/// The entry thread's end.
pub(super) struct BatchSender {
    tx: SyncSender<Batch>,
    recycled: Receiver<Vec<u8>>,
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

/// A connected pair: the sender, the tree thread's receiver, and the
/// channel on which it returns raw buffers.
pub(super) fn channel() -> (BatchSender, Receiver<Batch>, SyncSender<Vec<u8>>) {
    let (tx, rx) = sync_channel(IN_FLIGHT);
    let (recycle_tx, recycled) = sync_channel(IN_FLIGHT + 1);
    let sender = BatchSender {
        tx,
        recycled,
        bytes: Vec::new(),
        ends: Vec::with_capacity(BATCH),
    };
    (sender, rx, recycle_tx)
}

impl BatchSender {
    /// Adds one entry; returns false once the receiver has hung up.
    pub fn push(&mut self, entry: &[u8]) -> bool {
        self.bytes.extend_from_slice(entry);
        self.ends.push(self.bytes.len());
        self.ends.len() < BATCH || self.flush()
    }

    /// Sends what is buffered; returns false once the receiver has hung up.
    pub fn flush(&mut self) -> bool {
        if self.ends.is_empty() {
            return true;
        }
        let fresh = match self.recycled.try_recv() {
            Ok(mut b) => {
                b.clear();
                b
            }
            Err(TryRecvError::Empty | TryRecvError::Disconnected) => {
                Vec::with_capacity(self.bytes.capacity())
            }
        };
        let bytes = std::mem::replace(&mut self.bytes, fresh);
        let ends = std::mem::replace(&mut self.ends, Vec::with_capacity(BATCH));
        match self.tx.try_send(Batch::Raw { bytes, ends }) {
            Ok(()) => true,
            Err(TrySendError::Full(Batch::Raw { bytes, ends })) => {
                // The tree thread is behind: hash here instead.
                let mut leaves = Vec::with_capacity(ends.len());
                let mut start = 0;
                for end in ends {
                    leaves.push(leaf_hash(bytes.get(start..end).unwrap_or_default()));
                    start = end;
                }
                if self.bytes.capacity() < bytes.capacity() {
                    self.bytes = bytes;
                    self.bytes.clear();
                }
                self.tx.send(Batch::Leaves(leaves)).is_ok()
            }
            Err(TrySendError::Full(other)) => self.tx.send(other).is_ok(),
            Err(TrySendError::Disconnected(_)) => false,
        }
    }
}
