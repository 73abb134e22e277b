//! File identity: `(device, inode)` while a file is open, plus a fingerprint of its first
//! bytes to recognise it across restarts (inodes are reused once a file is deleted) and to
//! notice a file truncated and rewritten in place (same inode, different first bytes).
//!
//! A fingerprint is the xxh3 hash of the first `len` bytes, `len` being the source's
//! `fingerprint_bytes` or, for a file that stayed shorter than that for a while, its whole
//! length then (see `tailer`). A fingerprint taken over fewer bytes is upgraded once the file
//! has grown, after checking that its first `len` bytes did not change.

use std::fs::{File, Metadata};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use xxhash_rust::xxh3::xxh3_64;

/// `(st_dev, st_ino)`: unique among files that exist at the same time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct FileId {
    pub dev: u64,
    pub inode: u64,
}

impl FileId {
    pub fn of(metadata: &Metadata) -> FileId {
        FileId { dev: metadata.dev(), inode: metadata.ino() }
    }
}

/// The hash of a file's first `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Fingerprint {
    pub len: u32,
    pub hash: u64,
}

impl Fingerprint {
    pub fn of_bytes(bytes: &[u8]) -> Fingerprint {
        Fingerprint { len: u32::try_from(bytes.len()).unwrap_or(u32::MAX), hash: xxh3_64(bytes) }
    }

    /// Fingerprints the first `len` bytes of `file`; `None` if it has fewer.
    pub fn of_file(file: &File, len: usize, scratch: &mut Vec<u8>) -> io::Result<Option<Fingerprint>> {
        let prefix = read_prefix(file, len, scratch)?;
        Ok((prefix.len() == len).then(|| Fingerprint::of_bytes(prefix)))
    }

    /// Whether `file` still starts with the bytes this fingerprint was taken from.
    pub fn matches(&self, file: &File, scratch: &mut Vec<u8>) -> io::Result<bool> {
        Ok(Fingerprint::of_file(file, self.len as usize, scratch)?.is_some_and(|now| now == *self))
    }

    /// The fingerprint over `target_len` bytes if the file now has them and still starts with
    /// this fingerprint's bytes: `Ok(Some(new))` (upgraded), `Ok(None)` (not long enough yet),
    /// `Err(Mismatch)` if the prefix changed.
    pub fn upgrade(&self, file: &File, target_len: usize, scratch: &mut Vec<u8>) -> io::Result<Upgrade> {
        let prefix = read_prefix(file, target_len, scratch)?;
        let own_len = self.len as usize;
        match prefix.get(..own_len) {
            Some(own) if Fingerprint::of_bytes(own) == *self => {
                if prefix.len() == target_len {
                    Ok(Upgrade::Upgraded(Fingerprint::of_bytes(prefix)))
                } else {
                    Ok(Upgrade::NotYet)
                }
            }
            _ => Ok(Upgrade::Mismatch),
        }
    }

    /// Hex form for the checkpoint file.
    pub fn hash_hex(&self) -> String {
        format!("{:016x}", self.hash)
    }

    pub fn from_hex(len: u32, hex: &str) -> Option<Fingerprint> {
        u64::from_str_radix(hex, 16).ok().map(|hash| Fingerprint { len, hash })
    }
}

/// The outcome of [`Fingerprint::upgrade`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Upgrade {
    Upgraded(Fingerprint),
    NotYet,
    Mismatch,
}

/// Reads up to `len` bytes from the start of `file` into `scratch`; fewer at end of file.
pub(crate) fn read_prefix<'a>(file: &File, len: usize, scratch: &'a mut Vec<u8>) -> io::Result<&'a [u8]> {
    scratch.clear();
    scratch.resize(len, 0);
    let mut filled = 0;
    while filled < len {
        match file.read_at(&mut scratch[filled..], filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(&scratch[..filled])
}
