//! A Loki push endpoint that decodes every body and only counts what it got.
//!
//! Each request is decoded with [`decode_push`] (protobuf + snappy or JSON, by
//! `Content-Type`), then every entry's line is matched against the [`LineLayout`]: its (file,
//! line number) is marked in that file's bitset (one bit per expected line, so 1 GiB of 256-byte
//! lines needs 512 KiB), a line already marked counts as a duplicate, a line that does not
//! parse or is out of range counts as malformed. The decoded request is then dropped; nothing
//! is stored. Answers 204, or 400 with the reason when the body does not decode (Loki clients
//! drop a 4xx batch rather than retry it, so a broken encoder shows up as missing lines).

#[cfg(test)]
mod tests;

use super::lines::LineLayout;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::post;
use harrier_telemetry::loki::{DecodeLimits, LokiDecodeError, PUSH_PATH, decode_push};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Running totals, shared by every request handler.
#[derive(Debug)]
pub struct PushCounts {
    layout: LineLayout,
    requests: AtomicU64,
    decode_errors: AtomicU64,
    body_bytes: AtomicU64,
    entries: AtomicU64,
    line_bytes: AtomicU64,
    malformed: AtomicU64,
    duplicates: AtomicU64,
    unique: AtomicU64,
    /// Per file: one bit per expected line, and the number of lines expected.
    seen: Mutex<Vec<(Vec<u64>, u64)>>,
}

/// A copy of [`PushCounts`] at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PushSnapshot {
    pub requests: u64,
    pub decode_errors: u64,
    /// Request bodies as received (compressed).
    pub body_bytes: u64,
    /// Every entry received, duplicates and malformed ones included.
    pub entries: u64,
    /// Bytes of every entry's line.
    pub line_bytes: u64,
    /// Entries that are not a generated line (wrong length or shape, unknown file or number).
    pub malformed: u64,
    /// Generated lines received again.
    pub duplicates: u64,
    /// Distinct generated lines received.
    pub unique: u64,
}

impl PushCounts {
    /// Counts for files generated with `layout`; `lines_per_file[f]` is how many lines file `f`
    /// has.
    pub fn new(layout: LineLayout, lines_per_file: &[u64]) -> PushCounts {
        let seen = lines_per_file
            .iter()
            .map(|&lines| (vec![0u64; usize::try_from(lines.div_ceil(64)).unwrap_or(0)], lines))
            .collect();
        PushCounts {
            layout,
            requests: AtomicU64::new(0),
            decode_errors: AtomicU64::new(0),
            body_bytes: AtomicU64::new(0),
            entries: AtomicU64::new(0),
            line_bytes: AtomicU64::new(0),
            malformed: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            unique: AtomicU64::new(0),
            seen: Mutex::new(seen),
        }
    }

    /// Decodes one request body and counts its entries.
    pub fn record(
        &self,
        body: &[u8],
        content_type: &str,
        content_encoding: Option<&str>,
        limits: &DecodeLimits,
    ) -> Result<(), LokiDecodeError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.body_bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
        let request = match decode_push(body, content_type, content_encoding, limits) {
            Ok(request) => request,
            Err(error) => {
                self.decode_errors.fetch_add(1, Ordering::Relaxed);
                return Err(error);
            }
        };
        let (mut entries, mut line_bytes, mut malformed, mut duplicates, mut unique) = (0, 0, 0, 0, 0);
        {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            for entry in request.streams.iter().flat_map(|s| &s.entries) {
                entries += 1;
                line_bytes += entry.line.len() as u64;
                let Some((file, number)) = self.layout.parse_payload(&entry.line) else {
                    malformed += 1;
                    continue;
                };
                let Some((bits, lines)) = seen.get_mut(file) else {
                    malformed += 1;
                    continue;
                };
                if number >= *lines {
                    malformed += 1;
                    continue;
                }
                let (word, bit) = ((number / 64) as usize, 1u64 << (number % 64));
                match bits.get_mut(word) {
                    Some(w) if *w & bit != 0 => duplicates += 1,
                    Some(w) => {
                        *w |= bit;
                        unique += 1;
                    }
                    None => malformed += 1,
                }
            }
        }
        self.entries.fetch_add(entries, Ordering::Relaxed);
        self.line_bytes.fetch_add(line_bytes, Ordering::Relaxed);
        self.malformed.fetch_add(malformed, Ordering::Relaxed);
        self.duplicates.fetch_add(duplicates, Ordering::Relaxed);
        self.unique.fetch_add(unique, Ordering::Relaxed);
        Ok(())
    }

    /// The totals so far.
    pub fn snapshot(&self) -> PushSnapshot {
        PushSnapshot {
            requests: self.requests.load(Ordering::Relaxed),
            decode_errors: self.decode_errors.load(Ordering::Relaxed),
            body_bytes: self.body_bytes.load(Ordering::Relaxed),
            entries: self.entries.load(Ordering::Relaxed),
            line_bytes: self.line_bytes.load(Ordering::Relaxed),
            malformed: self.malformed.load(Ordering::Relaxed),
            duplicates: self.duplicates.load(Ordering::Relaxed),
            unique: self.unique.load(Ordering::Relaxed),
        }
    }
}

#[derive(Debug, Clone)]
struct ReceiverState {
    counts: Arc<PushCounts>,
    limits: DecodeLimits,
}

/// The receiver app: `POST /loki/api/v1/push`, bodies within `limits`.
pub fn router(counts: Arc<PushCounts>, limits: DecodeLimits) -> Router {
    Router::new()
        .route(PUSH_PATH, post(push))
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        .with_state(ReceiverState { counts, limits })
}

async fn push(State(state): State<ReceiverState>, headers: HeaderMap, body: Bytes) -> (StatusCode, String) {
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let content_type = text(header::CONTENT_TYPE).unwrap_or("");
    match state.counts.record(&body, content_type, text(header::CONTENT_ENCODING), &state.limits) {
        Ok(()) => (StatusCode::NO_CONTENT, String::new()),
        Err(error) => (StatusCode::BAD_REQUEST, error.to_string()),
    }
}
