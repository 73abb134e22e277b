//! Building one push request out of chunks without copying their lines.
//!
//! A [`Batch`] owns the `Arc<LogChunk>`s it was given, in arrival order, and for every Loki
//! stream (a distinct label string) the list of its entries as (chunk index, entry index)
//! pairs, in arrival order: 8 bytes per entry, whatever the line's length. It implements
//! [`PushStreams`], so the encoder reads lines straight out of the chunks' buffers.
//!
//! A stream's label string (the chunk's labels merged with `external_labels` and cut to
//! `max_label_names`) is computed once per `Arc<StreamLabels>` by the [`LabelCache`], keyed by
//! the `Arc`'s address; the cache holds a clone of the `Arc`, so the address cannot be reused
//! by another stream while the entry exists, and entries no source holds any more are swept.
//!
//! Entries are not sorted by timestamp: they keep file order. Loki 2.4 and later accept
//! out-of-order entries within a stream (`unordered_writes`, on by default); sorting could only
//! reorder lines of one file whose timestamps went backwards, which is the file's real order.

use super::metrics::{LineDropReason, SinkMetrics};
use crate::logs::{LogChunk, StreamLabels};
use harrier_telemetry::loki::{PushEntry, PushStreams, label_string};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::time::Instant;

/// Merged, limited label strings per source stream; see the module documentation.
pub struct LabelCache {
    /// Sorted by name.
    external_labels: Vec<(String, String)>,
    max_label_names: usize,
    entries: HashMap<usize, CachedLabels>,
    /// Sweep when the cache grows past this many entries.
    sweep_at: usize,
    metrics: SinkMetrics,
}

struct CachedLabels {
    /// Keeps the address (the key) from being reused while the entry exists.
    stream: Arc<StreamLabels>,
    labels: Arc<MergedLabels>,
}

/// A stream's labels as pushed: merged with `external_labels`, limited, sorted by name.
#[derive(Debug, PartialEq, Eq)]
pub struct MergedLabels {
    /// In `label_string` form.
    pub text: Arc<str>,
    pub pairs: Vec<(String, String)>,
}

/// The smallest cache size that triggers a sweep.
const MIN_SWEEP_AT: usize = 64;

impl LabelCache {
    pub fn new(external_labels: Vec<(String, String)>, max_label_names: usize, metrics: SinkMetrics) -> Self {
        LabelCache {
            external_labels,
            max_label_names,
            entries: HashMap::new(),
            sweep_at: MIN_SWEEP_AT,
            metrics,
        }
    }

    /// The label string to push `stream`'s entries under.
    pub fn resolve(&mut self, stream: &Arc<StreamLabels>) -> Arc<MergedLabels> {
        let key = Arc::as_ptr(stream) as usize;
        if let Some(cached) = self.entries.get(&key) {
            return Arc::clone(&cached.labels);
        }
        if self.entries.len() >= self.sweep_at {
            self.sweep();
        }
        let labels = Arc::new(self.merge(stream));
        self.entries.insert(key, CachedLabels { stream: Arc::clone(stream), labels: Arc::clone(&labels) });
        labels
    }

    /// Forgets streams only the cache still holds (their files are gone), and sets the next
    /// sweep at twice what is left, so sweeping costs O(1) per insertion.
    pub fn sweep(&mut self) {
        self.entries.retain(|_, cached| Arc::strong_count(&cached.stream) > 1);
        self.sweep_at = (self.entries.len() * 2).max(MIN_SWEEP_AT);
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// `stream`'s labels with the external labels it lacks (the stream's own win), without
    /// empty values (an empty value means "no such label"), sorted by name and cut to
    /// `max_label_names`.
    fn merge(&self, stream: &StreamLabels) -> MergedLabels {
        if self.external_labels.is_empty()
            && stream.pairs.len() <= self.max_label_names
            && stream.pairs.windows(2).all(|w| w[0].0 < w[1].0)
            && stream.pairs.iter().all(|(_, value)| !value.is_empty())
        {
            // Nothing to merge, cut or sort: the source's string is already the answer.
            return MergedLabels { text: stream.loki.as_str().into(), pairs: stream.pairs.clone() };
        }
        let mut pairs: Vec<(String, String)> =
            stream.pairs.iter().filter(|(_, value)| !value.is_empty()).cloned().collect();
        for (name, value) in &self.external_labels {
            if !value.is_empty() && !stream.pairs.iter().any(|(own, _)| own == name) {
                pairs.push((name.clone(), value.clone()));
            }
        }
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        pairs.dedup_by(|later, earlier| later.0 == earlier.0);
        if pairs.len() > self.max_label_names {
            let dropped: Vec<&str> = pairs[self.max_label_names..].iter().map(|(n, _)| n.as_str()).collect();
            tracing::warn!(
                stream = %stream.loki,
                dropped = ?dropped,
                max_label_names = self.max_label_names,
                "stream has more labels than max_label_names; dropping the last ones by name"
            );
            pairs.truncate(self.max_label_names);
            self.metrics.labels_dropped.inc();
        }
        MergedLabels { text: label_string(&pairs).into(), pairs }
    }
}

/// One entry of a batch: where it is among the batch's chunks.
#[derive(Debug, Clone, Copy)]
struct EntryRef {
    chunk: u32,
    entry: u32,
}

/// One Loki stream of a batch.
struct BatchStream {
    labels: Arc<MergedLabels>,
    entries: Vec<EntryRef>,
}

/// Chunks waiting to be sent together; see the module documentation.
#[derive(Default)]
pub struct Batch {
    chunks: Vec<Arc<LogChunk>>,
    streams: Vec<BatchStream>,
    stream_index: HashMap<Arc<str>, usize>,
    line_bytes: usize,
    lines: usize,
    opened_at: Option<Instant>,
    /// Per chunk stream, its batch stream (reused between chunks).
    chunk_streams: Vec<usize>,
}

impl Batch {
    /// Appends `chunk`'s entries to their streams. Entries naming a stream the chunk does not
    /// have are skipped and counted.
    pub fn push(&mut self, chunk: Arc<LogChunk>, cache: &mut LabelCache, metrics: &SinkMetrics) {
        if self.opened_at.is_none() {
            self.opened_at = Some(Instant::now());
        }
        let Ok(chunk_index) = u32::try_from(self.chunks.len()) else {
            // 4 billion chunks in one batch cannot happen (batch_size closes it far earlier).
            return;
        };
        self.chunk_streams.clear();
        for labels in &chunk.streams {
            let labels = cache.resolve(labels);
            let index = match self.stream_index.get(&labels.text) {
                Some(&index) => index,
                None => {
                    self.stream_index.insert(Arc::clone(&labels.text), self.streams.len());
                    self.streams.push(BatchStream { labels, entries: Vec::new() });
                    self.streams.len() - 1
                }
            };
            self.chunk_streams.push(index);
        }
        let mut unknown_stream = 0u64;
        for (entry_index, entry) in chunk.entries.iter().enumerate() {
            let stream = self.chunk_streams.get(usize::from(entry.stream)).copied();
            let (Some(stream), Ok(entry_index)) = (stream, u32::try_from(entry_index)) else {
                unknown_stream += 1;
                continue;
            };
            if let Some(batch_stream) = self.streams.get_mut(stream) {
                batch_stream.entries.push(EntryRef { chunk: chunk_index, entry: entry_index });
                self.lines += 1;
                self.line_bytes += entry.len as usize;
            }
        }
        if unknown_stream > 0 {
            metrics.dropped_lines(LineDropReason::UnknownStream).inc_by(unknown_stream);
        }
        self.chunks.push(chunk);
    }

    /// No chunk yet.
    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// Bytes of lines in the batch.
    pub fn line_bytes(&self) -> usize {
        self.line_bytes
    }

    /// Entries in the batch.
    pub fn lines(&self) -> usize {
        self.lines
    }

    /// When the first chunk arrived.
    pub fn opened_at(&self) -> Option<Instant> {
        self.opened_at
    }

    /// Takes the chunks out and empties the batch for the next one.
    pub fn take_chunks(&mut self) -> Vec<Arc<LogChunk>> {
        self.streams.clear();
        self.stream_index.clear();
        self.line_bytes = 0;
        self.lines = 0;
        self.opened_at = None;
        std::mem::take(&mut self.chunks)
    }
}

impl PushStreams for Batch {
    fn stream_count(&self) -> usize {
        self.streams.len()
    }

    fn labels(&self, stream: usize) -> &str {
        self.streams.get(stream).map_or("{}", |s| &s.labels.text)
    }

    fn for_each_label(&self, stream: usize, f: &mut dyn FnMut(&str, &str)) {
        if let Some(stream) = self.streams.get(stream) {
            for (name, value) in &stream.labels.pairs {
                f(name, value);
            }
        }
    }

    fn for_each_entry(&self, stream: usize, f: &mut dyn FnMut(PushEntry<'_>)) {
        let Some(stream) = self.streams.get(stream) else { return };
        for at in &stream.entries {
            let Some(chunk) = self.chunks.get(at.chunk as usize) else { continue };
            let Some(entry) = chunk.entries.get(at.entry as usize) else { continue };
            let metadata = chunk.metadata.get(usize::from(entry.stream)).map_or(&[][..], |m| &m[..]);
            f(PushEntry { timestamp_ns: entry.timestamp_ns, line: chunk.line(entry), metadata });
        }
    }
}
