//! The on-disk form of the dispatcher's state files (the notification log and the alerts):
//! a JSON document followed by a line `crc32c <8 hex digits>` over the JSON bytes, replaced
//! atomically (write a temporary file beside it, fsync, rename, fsync the directory), the
//! pattern of `rules::state`. A file whose checksum or JSON does not verify is reported as
//! [`SnapshotError::Corrupt`] so the caller can skip and count it, never crash.

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Why a state file could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} is corrupt: {reason}")]
    Corrupt { path: PathBuf, reason: String },
}

/// Writes `value` to `path` atomically and durably.
pub fn write<T: Serialize>(path: &Path, value: &T) -> Result<(), SnapshotError> {
    let json = serde_json::to_vec(value)
        .map_err(|e| SnapshotError::Corrupt { path: path.to_path_buf(), reason: e.to_string() })?;
    let tmp = path.with_extension("tmp");
    let io = |source| SnapshotError::Io { path: tmp.clone(), source };
    let mut file = std::fs::File::create(&tmp).map_err(io)?;
    file.write_all(&json).map_err(io)?;
    writeln!(file).map_err(io)?;
    writeln!(file, "crc32c {:08x}", crc32c::crc32c(&json)).map_err(io)?;
    file.sync_data().map_err(io)?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(|source| SnapshotError::Io { path: path.to_path_buf(), source })?;
    // The rename itself is durable only once the directory is synced.
    if let Some(dir) = path.parent()
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Reads and verifies a state file: `Ok(None)` when there is none.
pub fn read<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, SnapshotError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(SnapshotError::Io { path: path.to_path_buf(), source }),
    };
    decode(&bytes).map(Some).map_err(|reason| SnapshotError::Corrupt { path: path.to_path_buf(), reason })
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_string())?;
    let text = text.strip_suffix('\n').unwrap_or(text);
    let (json, trailer) = text.rsplit_once('\n').ok_or("no checksum line")?;
    let want = trailer
        .strip_prefix("crc32c ")
        .and_then(|h| u32::from_str_radix(h, 16).ok())
        .ok_or("bad checksum line")?;
    let got = crc32c::crc32c(json.as_bytes());
    if got != want {
        return Err(format!("checksum mismatch (file says {want:08x}, content is {got:08x})"));
    }
    serde_json::from_str(json).map_err(|e| e.to_string())
}
