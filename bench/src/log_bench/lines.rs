//! Generated CRI log lines.
//!
//! Every line is `<CRI_PREFIX><payload>\n`, exactly `line_bytes` long. The payload starts with
//! `file=NNNNN line=NNNNNNNNNN ` (the file's index and the line's number in it, zero-padded to
//! fixed widths) and continues with filler text that looks like a structured application log
//! line, so the bytes compress about as well as real logs do. Because every field has a fixed
//! width, a file is written by rendering one template line and overwriting only its digits, and
//! the receiver finds the numbers at fixed offsets of the entry's line (the CRI parser strips
//! the prefix and the newline).

#[cfg(test)]
mod tests;

use std::io::Write;
use std::path::Path;

/// The CRI fields before the message: time, stream, and the `F` (full line) tag.
pub const CRI_PREFIX: &str = "2026-12-06T10:00:00.123456789Z stdout F ";

const FILE_DIGITS: usize = 5;
const LINE_DIGITS: usize = 10;
const FILE_KEY: &str = "file=";
const LINE_KEY: &str = " line=";
/// `file=NNNNN line=NNNNNNNNNN `.
const HEAD_BYTES: usize = FILE_KEY.len() + FILE_DIGITS + LINE_KEY.len() + LINE_DIGITS + 1;
/// Repeated after the head until the payload is full.
const FILLER: &str = "level=info msg=\"request served\" method=GET path=/api/v1/orders/84121 status=200 \
bytes=5120 duration_ms=12.4 trace_id=4bf92f3577b34da6a3ce929d0e0e4736 user_agent=\"Mozilla/5.0 (X11; Linux x86_64)\" ";

/// The shortest line: the prefix, the head, a few filler bytes and the newline.
pub const MIN_LINE_BYTES: usize = CRI_PREFIX.len() + HEAD_BYTES + 8 + 1;
/// The most files the fixed-width file index can number.
pub const MAX_FILES: usize = 100_000;
/// The most lines per file the fixed-width line number can number.
pub const MAX_LINES_PER_FILE: u64 = 10_000_000_000;

/// Why a layout or a file could not be made.
#[derive(Debug, thiserror::Error)]
pub enum LinesError {
    #[error("line size {0} is too small (expected at least {MIN_LINE_BYTES} bytes)")]
    LineTooShort(usize),
    #[error("file index {0} does not fit (expected below {MAX_FILES})")]
    TooManyFiles(usize),
    #[error("{0} lines per file do not fit (expected below {MAX_LINES_PER_FILE})")]
    TooManyLines(u64),
    #[error("writing {path}: {source}")]
    Write { path: std::path::PathBuf, source: std::io::Error },
}

/// The shape of every generated line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineLayout {
    line_bytes: usize,
}

impl LineLayout {
    /// Lines of exactly `line_bytes` bytes, the CRI prefix and the newline included.
    pub fn new(line_bytes: usize) -> Result<LineLayout, LinesError> {
        if line_bytes < MIN_LINE_BYTES {
            return Err(LinesError::LineTooShort(line_bytes));
        }
        Ok(LineLayout { line_bytes })
    }

    /// Bytes of a whole line in the file.
    pub fn line_bytes(&self) -> usize {
        self.line_bytes
    }

    /// Bytes of the message, what Loki receives as the entry's line.
    pub fn payload_bytes(&self) -> usize {
        self.line_bytes - CRI_PREFIX.len() - 1
    }

    /// The whole line (prefix, payload, newline) of line `number` of file `file`.
    pub fn line(&self, file: usize, number: u64) -> Vec<u8> {
        let mut line = self.template();
        write_digits(&mut line[CRI_PREFIX.len()..], file, number);
        line
    }

    /// A line with all-zero numbers.
    fn template(&self) -> Vec<u8> {
        let mut line = Vec::with_capacity(self.line_bytes);
        line.extend_from_slice(CRI_PREFIX.as_bytes());
        line.extend_from_slice(FILE_KEY.as_bytes());
        line.extend_from_slice(&[b'0'; FILE_DIGITS]);
        line.extend_from_slice(LINE_KEY.as_bytes());
        line.extend_from_slice(&[b'0'; LINE_DIGITS]);
        line.push(b' ');
        let filler = self.line_bytes - 1 - line.len();
        line.extend(FILLER.bytes().cycle().take(filler));
        line.push(b'\n');
        line
    }

    /// The (file, line number) of a received entry's line, or `None` when it is not a line
    /// this layout generated (wrong length, no head, digits out of place).
    pub fn parse_payload(&self, payload: &str) -> Option<(usize, u64)> {
        let bytes = payload.as_bytes();
        if bytes.len() != self.payload_bytes() {
            return None;
        }
        let rest = bytes.strip_prefix(FILE_KEY.as_bytes())?;
        let (file, rest) = rest.split_at_checked(FILE_DIGITS)?;
        let rest = rest.strip_prefix(LINE_KEY.as_bytes())?;
        let (number, rest) = rest.split_at_checked(LINE_DIGITS)?;
        if rest.first() != Some(&b' ') {
            return None;
        }
        Some((usize::try_from(parse_digits(file)?).ok()?, parse_digits(number)?))
    }

    /// Writes `lines` numbered lines (0, 1, ...) of file `file` to a new file at `path`.
    pub fn write_file(&self, path: &Path, file: usize, lines: u64) -> Result<(), LinesError> {
        if file >= MAX_FILES {
            return Err(LinesError::TooManyFiles(file));
        }
        if lines >= MAX_LINES_PER_FILE {
            return Err(LinesError::TooManyLines(lines));
        }
        let write_err = |source| LinesError::Write { path: path.to_path_buf(), source };
        let out = std::fs::File::create(path).map_err(write_err)?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, out);
        let mut line = self.template();
        for number in 0..lines {
            write_digits(&mut line[CRI_PREFIX.len()..], file, number);
            out.write_all(&line).map_err(write_err)?;
        }
        out.into_inner().map_err(|e| write_err(e.into_error()))?.sync_all().map_err(write_err)
    }
}

/// Writes `file` and `number` into the head at the start of `payload`.
fn write_digits(payload: &mut [u8], file: usize, number: u64) {
    let file_at = FILE_KEY.len();
    fill_digits(&mut payload[file_at..file_at + FILE_DIGITS], file as u64);
    let line_at = file_at + FILE_DIGITS + LINE_KEY.len();
    fill_digits(&mut payload[line_at..line_at + LINE_DIGITS], number);
}

/// Writes `value` zero-padded into `digits` (the high digits are dropped if it does not fit).
fn fill_digits(digits: &mut [u8], mut value: u64) {
    for digit in digits.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

fn parse_digits(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0u64, |value, &d| d.is_ascii_digit().then(|| value * 10 + u64::from(d - b'0')))
}
