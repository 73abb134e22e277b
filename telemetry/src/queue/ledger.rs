//! The ack ledger: the id of the first record not yet acknowledged, persisted in two
//! alternating 32-byte slots of the file `ledger`.
//!
//! Each ack overwrites the older slot with one `write()` (a sequence number picks the newer
//! slot on read), so a write torn by a crash or power loss still leaves the previous slot
//! intact. If neither slot checks out the queue starts from the oldest record on disk: records
//! may be delivered twice, never lost.
//!
//! Slot layout (little endian): magic `HRQL` (4) | format version u32 (4) | sequence u64 (8) |
//! first unacknowledged id u64 (8) | CRC32C of the previous 24 bytes u32 (4) | zero (4).

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::record::MAX_RECORD_ID;
use super::segment::FORMAT_VERSION;

const LEDGER_MAGIC: [u8; 4] = *b"HRQL";
const SLOT_LEN: usize = 32;
const SLOT_COUNT: u64 = 2;

/// How the ledger looked when it was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LedgerState {
    /// At least one slot was valid.
    Loaded,
    /// No file, an empty file, or no valid slot: acknowledgements start from zero.
    Reset,
}

pub(super) struct Ledger {
    file: File,
    sequence: u64,
    acked_until: u64,
}

impl Ledger {
    /// Opens (creating if needed) the ledger at `path` and reads the newest valid slot.
    pub(super) fn open(path: &Path) -> io::Result<(Self, LedgerState)> {
        let mut file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
        let mut bytes = Vec::with_capacity(SLOT_LEN * SLOT_COUNT as usize);
        Read::by_ref(&mut file).take(SLOT_LEN as u64 * SLOT_COUNT).read_to_end(&mut bytes)?;
        let newest =
            bytes.chunks_exact(SLOT_LEN).filter_map(decode_slot).max_by_key(|&(sequence, _)| sequence);
        let (ledger, state) = match newest {
            Some((sequence, acked_until)) => (Ledger { file, sequence, acked_until }, LedgerState::Loaded),
            None => (Ledger { file, sequence: 0, acked_until: 0 }, LedgerState::Reset),
        };
        Ok((ledger, state))
    }

    /// The first id that is not acknowledged.
    pub(super) fn acked_until(&self) -> u64 {
        self.acked_until
    }

    /// Records that every id below `acked_until` is acknowledged (one `pwrite()`, no fsync).
    pub(super) fn store(&mut self, acked_until: u64) -> io::Result<()> {
        let sequence = self.sequence.wrapping_add(1);
        let slot = encode_slot(sequence, acked_until);
        self.file.write_all_at(&slot, (sequence % SLOT_COUNT) * SLOT_LEN as u64)?;
        self.sequence = sequence;
        self.acked_until = acked_until;
        Ok(())
    }

    /// A second handle on the ledger file, to fsync it without holding the queue.
    pub(super) fn try_clone_file(&self) -> io::Result<File> {
        self.file.try_clone()
    }
}

fn encode_slot(sequence: u64, acked_until: u64) -> [u8; SLOT_LEN] {
    let mut slot = [0u8; SLOT_LEN];
    slot[0..4].copy_from_slice(&LEDGER_MAGIC);
    slot[4..8].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    slot[8..16].copy_from_slice(&sequence.to_le_bytes());
    slot[16..24].copy_from_slice(&acked_until.to_le_bytes());
    let crc = crc32c::crc32c(&slot[0..24]);
    slot[24..28].copy_from_slice(&crc.to_le_bytes());
    slot
}

/// `(sequence, acked_until)` of a slot whose magic, version and checksum match.
fn decode_slot(slot: &[u8]) -> Option<(u64, u64)> {
    let word = |range: std::ops::Range<usize>| -> Option<u64> {
        let mut array = [0u8; 8];
        array.get_mut(..range.len())?.copy_from_slice(slot.get(range)?);
        Some(u64::from_le_bytes(array))
    };
    if slot.get(0..4)? != LEDGER_MAGIC || word(4..8)? != u64::from(FORMAT_VERSION) {
        return None;
    }
    if word(24..28)? != u64::from(crc32c::crc32c(slot.get(0..24)?)) {
        return None;
    }
    let acked_until = word(16..24)?;
    (acked_until <= MAX_RECORD_ID + 1).then_some((word(8..16)?, acked_until))
}
