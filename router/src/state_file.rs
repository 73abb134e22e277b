//! The router's small state files (alert state of rule groups, the notification log, alerts,
//! silences): one JSON document, then a line `crc32c <8 hex digits>` over the JSON bytes.
//!
//! ## Writing
//! [`write`] replaces a file atomically and durably: the new content goes to `<file>.tmp`,
//! is fsynced, the current file (if any) is renamed to `<file>.prev`, the temporary file is
//! renamed into place and the directory is fsynced. So at every instant either the file or
//! its previous generation is whole on disk.
//!
//! ## Reading
//! [`read`] verifies the checksum and the JSON. When the file is missing or does not verify,
//! the previous generation is tried (a crash between the two renames leaves only it; a file
//! damaged on disk falls back to one write older rather than to nothing). A file that does not
//! verify is moved aside to `<file>.corrupt` (kept for inspection, never read again) and
//! reported in [`ReadOutcome::corrupt`], so the caller can log and count it, never crash.

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Why a state file could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum StateFileError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: cannot encode: {reason}")]
    Encode { path: PathBuf, reason: String },
}

/// What [`read`] found.
#[derive(Debug)]
pub struct ReadOutcome<T> {
    /// The newest generation that verified, if any.
    pub value: Option<T>,
    /// Whether that was the previous generation (the newest was missing or corrupt).
    pub from_previous: bool,
    /// Files that did not verify, with the reason (each moved aside to `.corrupt`).
    pub corrupt: Vec<(PathBuf, String)>,
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(suffix);
    path.with_file_name(name)
}

/// A writer that checksums what passes through it.
struct Checksummed<W> {
    inner: W,
    crc: u32,
}

impl<W: Write> Write for Checksummed<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc = crc32c::crc32c_append(self.crc, &buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Writes `value` to `path` atomically and durably, keeping the previous generation. The JSON
/// is streamed to the file, never held whole in memory.
pub fn write<T: Serialize>(path: &Path, value: &T) -> Result<(), StateFileError> {
    let tmp = sibling(path, ".tmp");
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |source| StateFileError::Io { path: p, source }
    };
    let file = std::fs::File::create(&tmp).map_err(io(&tmp))?;
    let mut out = Checksummed { inner: std::io::BufWriter::with_capacity(64 << 10, file), crc: 0 };
    serde_json::to_writer(&mut out, value).map_err(|e| match e.io_error_kind() {
        Some(kind) => {
            StateFileError::Io { path: tmp.clone(), source: std::io::Error::new(kind, e.to_string()) }
        }
        None => StateFileError::Encode { path: path.to_path_buf(), reason: e.to_string() },
    })?;
    let crc = out.crc;
    let mut file = out.inner;
    writeln!(file).map_err(io(&tmp))?;
    writeln!(file, "crc32c {crc:08x}").map_err(io(&tmp))?;
    let file =
        file.into_inner().map_err(|e| StateFileError::Io { path: tmp.clone(), source: e.into_error() })?;
    file.sync_data().map_err(io(&tmp))?;
    drop(file);
    match std::fs::rename(path, sibling(path, ".prev")) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => return Err(StateFileError::Io { path: path.to_path_buf(), source }),
    }
    std::fs::rename(&tmp, path).map_err(io(path))?;
    // The renames are durable only once the directory is synced (not every platform can).
    if let Some(dir) = path.parent()
        && let Ok(d) = std::fs::File::open(if dir.as_os_str().is_empty() { Path::new(".") } else { dir })
    {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Removes a state file and its previous generation (missing files are fine).
pub fn remove(path: &Path) -> Result<(), StateFileError> {
    for p in [path.to_path_buf(), sibling(path, ".prev")] {
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(StateFileError::Io { path: p, source }),
        }
    }
    Ok(())
}

/// Reads the newest generation of `path` that verifies (see the module docs).
pub fn read<T: DeserializeOwned>(path: &Path) -> Result<ReadOutcome<T>, StateFileError> {
    let mut outcome = ReadOutcome { value: None, from_previous: false, corrupt: Vec::new() };
    for (candidate, previous) in [(path.to_path_buf(), false), (sibling(path, ".prev"), true)] {
        let bytes = match std::fs::read(&candidate) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => return Err(StateFileError::Io { path: candidate, source }),
        };
        match decode(&bytes) {
            Ok(v) => {
                outcome.value = Some(v);
                outcome.from_previous = previous;
                return Ok(outcome);
            }
            Err(reason) => {
                let _ = std::fs::rename(&candidate, sibling(&candidate, ".corrupt"));
                outcome.corrupt.push((candidate, reason));
            }
        }
    }
    Ok(outcome)
}

/// Verifies and parses a state file's bytes.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_the_previous_generation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.state");
        assert!(read::<Vec<u32>>(&path).unwrap().value.is_none());
        write(&path, &vec![1u32]).unwrap();
        write(&path, &vec![2u32]).unwrap();
        let got = read::<Vec<u32>>(&path).unwrap();
        assert_eq!((got.value, got.from_previous), (Some(vec![2]), false));
        // The newest generation damaged: the previous one is used, the damaged one set aside.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[1] ^= 0x01;
        std::fs::write(&path, bytes).unwrap();
        let got = read::<Vec<u32>>(&path).unwrap();
        assert_eq!((got.value, got.from_previous, got.corrupt.len()), (Some(vec![1]), true, 1));
        assert!(got.corrupt[0].1.contains("checksum mismatch"), "{:?}", got.corrupt);
        assert!(sibling(&path, ".corrupt").exists());
        // A crash between the two renames leaves only the previous generation.
        std::fs::rename(sibling(&path, ".prev"), &path).unwrap();
        write(&path, &vec![3u32]).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(read::<Vec<u32>>(&path).unwrap().value, Some(vec![1]));
        remove(&path).unwrap();
        assert!(read::<Vec<u32>>(&path).unwrap().value.is_none());
    }

    #[test]
    fn garbage_is_reported_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("y.state");
        for junk in [&b""[..], b"{}", b"\xff\xfe", b"[1]\ncrc32c zz\n", b"[1]\ncrc32c 00000000\n"] {
            std::fs::write(&path, junk).unwrap();
            let got = read::<Vec<u32>>(&path).unwrap();
            assert!(got.value.is_none() && got.corrupt.len() == 1, "{junk:?}: {got:?}");
        }
    }
}
