//! The in-memory part of one shard: series accumulate in an open batch until it holds
//! `max_samples_per_send` samples or the sink seals it (at the end of every `send`, so data
//! never waits in memory for a deadline), then wait, sealed, for the disk writer, which
//! merges consecutive sealed batches up to `max_samples_per_send` into one record.
//!
//! Series come as [`Series`] values or, from scrapes, as [`PackedSamples`]; a batch keeps
//! both forms in push order ([`BatchPart`]) and the record encoder writes each straight into
//! the request.
//!
//! Memory is bounded in bytes (an estimate of the series' heap size): when the open and
//! sealed batches together exceed the bound because the disk writer fell behind, the oldest
//! sealed batches are dropped and reported to the caller, who counts them. The open batch is
//! never dropped, so a bound smaller than one batch still lets data through.

use crate::model::{Labels, PackedSamples, Sample, Series};
use crate::remote_write;
use std::collections::VecDeque;

/// Fixed per-series overhead on top of label and sample bytes in the estimate.
const SERIES_OVERHEAD_BYTES: usize = 48;

/// A run of series in a batch, in the form it was handed over in.
#[derive(Debug, Clone, PartialEq)]
pub enum BatchPart {
    Series(Vec<Series>),
    /// Single-sample series packed together (a scrape's output), kept as they came.
    Packed(PackedSamples),
}

/// A sealed batch waiting to be written to disk.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// The series in the order they were pushed (one series' samples stay in order).
    pub parts: Vec<BatchPart>,
    pub samples: usize,
    pub bytes: usize,
    /// Newest sample timestamp in the batch (milliseconds), `i64::MIN` when empty.
    pub max_timestamp_ms: i64,
}

impl Batch {
    fn new() -> Self {
        Batch { parts: Vec::new(), samples: 0, bytes: 0, max_timestamp_ms: i64::MIN }
    }

    fn push(&mut self, series: Series, bytes: usize) {
        self.samples += series.samples.len();
        self.bytes += bytes;
        if let Some(newest) = series.samples.iter().map(|s| s.timestamp_ms).max() {
            self.max_timestamp_ms = self.max_timestamp_ms.max(newest);
        }
        match self.parts.last_mut() {
            Some(BatchPart::Series(run)) => run.push(series),
            _ => self.parts.push(BatchPart::Series(vec![series])),
        }
    }

    fn push_packed(&mut self, packed: PackedSamples) {
        self.samples += packed.len();
        self.bytes += packed.byte_size();
        if let Some(newest) = packed.max_timestamp_ms() {
            self.max_timestamp_ms = self.max_timestamp_ms.max(newest);
        }
        self.parts.push(BatchPart::Packed(packed));
    }

    fn extend(&mut self, other: Batch) {
        self.samples += other.samples;
        self.bytes += other.bytes;
        self.max_timestamp_ms = self.max_timestamp_ms.max(other.max_timestamp_ms);
        self.parts.extend(other.parts);
    }

    fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// Appends the batch's `WriteRequest` protobuf to `out`, every series given the `external`
    /// labels it lacks.
    pub fn encode_proto_into(&self, external: &Labels, out: &mut Vec<u8>) {
        for part in &self.parts {
            match part {
                BatchPart::Series(series) => {
                    remote_write::encode_with_external_labels_into(series, external, out)
                }
                BatchPart::Packed(packed) => remote_write::encode_packed_into(packed, external, out),
            }
        }
    }

    /// The batch's series as [`Series`] values, in order.
    #[cfg(test)]
    pub fn series(&self) -> Vec<Series> {
        let mut out = Vec::new();
        for part in &self.parts {
            match part {
                BatchPart::Series(series) => out.extend(series.iter().cloned()),
                BatchPart::Packed(packed) => out.extend(packed.to_series()),
            }
        }
        out
    }
}

/// What a push did besides storing the data.
#[derive(Debug, Default, PartialEq)]
pub struct PushOutcome {
    /// At least one batch was sealed: the disk writer should wake.
    pub sealed: bool,
    /// Batches dropped to keep memory under the bound (sample counts), oldest first.
    pub dropped_samples: Vec<usize>,
}

/// The open batch and the sealed ones of one shard.
#[derive(Debug)]
pub struct Batcher {
    max_samples: usize,
    max_bytes: usize,
    open: Batch,
    sealed: VecDeque<Batch>,
    sealed_bytes: usize,
}

fn estimate_bytes(labels_bytes: usize, samples: usize) -> usize {
    SERIES_OVERHEAD_BYTES + labels_bytes + samples * std::mem::size_of::<Sample>()
}

impl Batcher {
    /// `max_samples` samples per batch (at least 1); `max_bytes` bounds the memory held.
    pub fn new(max_samples: usize, max_bytes: usize) -> Self {
        Batcher {
            max_samples: max_samples.max(1),
            max_bytes,
            open: Batch::new(),
            sealed: VecDeque::new(),
            sealed_bytes: 0,
        }
    }

    /// Adds one series, splitting its samples across batches so none exceeds `max_samples`.
    pub fn push(&mut self, series: Series, outcome: &mut PushOutcome) {
        let labels_bytes = series.labels.byte_size();
        let mut samples = series.samples;
        while !samples.is_empty() {
            let room = self.max_samples - self.open.samples;
            let rest = if samples.len() > room { samples.split_off(room) } else { Vec::new() };
            let bytes = estimate_bytes(labels_bytes, samples.len());
            self.open.push(Series::new(series.labels.clone(), samples), bytes);
            if self.open.samples >= self.max_samples {
                self.seal();
                outcome.sealed = true;
            }
            samples = rest;
        }
        self.enforce_bound(outcome);
    }

    /// Seals the open batch if it holds anything. Returns whether it did.
    pub fn seal(&mut self) -> bool {
        if self.open.is_empty() {
            return false;
        }
        let batch = std::mem::replace(&mut self.open, Batch::new());
        self.sealed_bytes += batch.bytes;
        self.sealed.push_back(batch);
        true
    }

    /// The oldest sealed batch, for the disk writer.
    pub fn take_sealed(&mut self) -> Option<Batch> {
        let batch = self.sealed.pop_front()?;
        self.sealed_bytes -= batch.bytes;
        Some(batch)
    }

    /// The oldest sealed batch merged with the sealed batches after it, as long as the result
    /// stays within `max_samples`: the writer's group commit, so a burst of small batches (one
    /// per scrape) becomes one record and one request.
    pub fn take_sealed_merged(&mut self) -> Option<Batch> {
        let mut merged = self.take_sealed()?;
        while let Some(next) = self.sealed.front() {
            if merged.samples + next.samples > self.max_samples {
                break;
            }
            let Some(next) = self.take_sealed() else { break };
            merged.extend(next);
        }
        Some(merged)
    }

    /// Adds single-sample series packed together, split across batches so none exceeds
    /// `max_samples`.
    pub fn push_packed(&mut self, packed: PackedSamples, outcome: &mut PushOutcome) {
        if packed.is_empty() {
            return;
        }
        let room = self.max_samples - self.open.samples;
        for piece in packed.into_pieces(room, self.max_samples) {
            self.open.push_packed(piece);
            if self.open.samples >= self.max_samples {
                self.seal();
                outcome.sealed = true;
            }
        }
        self.enforce_bound(outcome);
    }

    /// Bytes held (open and sealed batches).
    pub fn bytes(&self) -> usize {
        self.sealed_bytes + self.open.bytes
    }

    fn enforce_bound(&mut self, outcome: &mut PushOutcome) {
        while self.bytes() > self.max_bytes {
            match self.take_sealed() {
                Some(dropped) => outcome.dropped_samples.push(dropped.samples),
                None => break,
            }
        }
    }
}
