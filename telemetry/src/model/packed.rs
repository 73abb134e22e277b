//! [`PackedSamples`]: many series with one sample each, their label sets packed end to end in
//! one buffer. It is what a scrape produces: one allocation for the labels and one for the
//! samples of a whole scrape, instead of a label buffer and a sample vector per series.
//!
//! Each entry's labels are in the packed encoding of [`Labels`] (the `labels` field of a
//! remote_write `TimeSeries`), so the remote_write encoder copies them straight into a request
//! ([`crate::remote_write::encode_packed_into`]); sinks that want [`Series`] convert with
//! [`PackedSamples::to_series`].

use super::{Labels, Sample, Series};

/// One series' sample and where its labels end in the shared buffer.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Entry {
    labels_end: usize,
    sample: Sample,
}

/// Single-sample series with their labels packed in one buffer (see the module docs).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PackedSamples {
    labels: Vec<u8>,
    entries: Vec<Entry>,
}

/// Fixed bytes per entry in [`PackedSamples::byte_size`].
const ENTRY_BYTES: usize = std::mem::size_of::<Entry>();

impl PackedSamples {
    pub fn new() -> Self {
        PackedSamples::default()
    }

    /// Room for `series` entries and `label_bytes` bytes of packed labels.
    pub fn with_capacity(series: usize, label_bytes: usize) -> Self {
        PackedSamples { labels: Vec::with_capacity(label_bytes), entries: Vec::with_capacity(series) }
    }

    /// Adds a series given by its packed label encoding, as built with
    /// [`Labels::encode_label_into`]: sorted by name, names unique, values non-empty (checked
    /// in debug builds, as [`Labels::from_encoded`] does).
    pub fn push_encoded(&mut self, encoded: &[u8], sample: Sample) {
        debug_assert!(Labels::is_well_formed(encoded), "encoded labels not well formed, sorted and unique");
        self.labels.extend_from_slice(encoded);
        self.entries.push(Entry { labels_end: self.labels.len(), sample });
    }

    /// Adds a series.
    pub fn push(&mut self, labels: &Labels, sample: Sample) {
        self.labels.extend_from_slice(labels.encoded());
        self.entries.push(Entry { labels_end: self.labels.len(), sample });
    }

    /// Number of series (and samples).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes of packed labels.
    pub fn label_bytes(&self) -> usize {
        self.labels.len()
    }

    /// Heap bytes held (labels and entries, spare capacity included), for memory accounting.
    pub fn byte_size(&self) -> usize {
        self.labels.capacity() + self.entries.capacity() * ENTRY_BYTES
    }

    /// The newest sample timestamp, `None` when empty.
    pub fn max_timestamp_ms(&self) -> Option<i64> {
        self.entries.iter().map(|e| e.sample.timestamp_ms).max()
    }

    /// Each series' packed labels and sample, in the order they were added.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&[u8], Sample)> + '_ {
        let mut start = 0;
        self.entries.iter().map(move |e| {
            let labels = &self.labels[start..e.labels_end];
            start = e.labels_end;
            (labels, e.sample)
        })
    }

    /// Whether some series has no labels at all (not a series Prometheus would accept).
    pub fn has_empty_label_set(&self) -> bool {
        let mut start = 0;
        self.entries.iter().any(|e| {
            let empty = e.labels_end == start;
            start = e.labels_end;
            empty
        })
    }

    /// The series cut into consecutive pieces: the first of up to `first` series, the others
    /// of up to `rest` (each at least 1). Every piece gets an exactly-sized copy of its part,
    /// so a large scrape split for `max_samples_per_send` is copied once, and no piece keeps
    /// the whole batch's allocation alive. A batch that fits in `first` comes back as it is.
    pub fn into_pieces(self, first: usize, rest: usize) -> Vec<PackedSamples> {
        let (first, rest) = (first.max(1), rest.max(1));
        if self.entries.len() <= first {
            return vec![self];
        }
        let mut pieces = Vec::with_capacity(1 + (self.entries.len() - first).div_ceil(rest));
        let mut start = 0;
        let mut label_start = 0;
        while start < self.entries.len() {
            let size = if start == 0 { first } else { rest };
            let end = (start + size).min(self.entries.len());
            let label_end = self.entries[end - 1].labels_end;
            pieces.push(PackedSamples {
                labels: self.labels[label_start..label_end].to_vec(),
                entries: self.entries[start..end]
                    .iter()
                    .map(|e| Entry { labels_end: e.labels_end - label_start, sample: e.sample })
                    .collect(),
            });
            start = end;
            label_start = label_end;
        }
        pieces
    }

    /// The same series as [`Series`] values (one label-set allocation per series).
    pub fn to_series(&self) -> Vec<Series> {
        self.iter().map(|(raw, sample)| Series::new(Labels::from_encoded(raw), vec![sample])).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LabelsIter;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied())
    }

    fn sample(ts: i64, value: f64) -> Sample {
        Sample { timestamp_ms: ts, value }
    }

    #[test]
    fn series_come_back_in_order_with_their_labels_and_samples() {
        let a = labels(&[("__name__", "up"), ("job", "node")]);
        let b = labels(&[("__name__", "x"), ("instance", "h:1"), ("le", "+Inf")]);
        let mut packed = PackedSamples::new();
        packed.push(&a, sample(1, 1.0));
        packed.push_encoded(b.encoded(), sample(2, 2.5));
        packed.push(&a, sample(3, 0.0));
        assert_eq!(packed.len(), 3);
        assert_eq!(packed.max_timestamp_ms(), Some(3));
        assert_eq!(
            packed.to_series(),
            vec![
                Series::new(a.clone(), vec![sample(1, 1.0)]),
                Series::new(b.clone(), vec![sample(2, 2.5)]),
                Series::new(a.clone(), vec![sample(3, 0.0)]),
            ]
        );
        let names: Vec<Vec<&str>> =
            packed.iter().map(|(raw, _)| LabelsIter::over(raw).map(|l| l.name).collect()).collect();
        assert_eq!(
            names,
            vec![vec!["__name__", "job"], vec!["__name__", "instance", "le"], vec!["__name__", "job"]]
        );
        assert!(!packed.has_empty_label_set());
        packed.push(&Labels::new(), sample(4, 4.0));
        assert!(packed.has_empty_label_set());
    }

    #[test]
    fn pieces_hold_exactly_their_part_and_put_together_give_the_whole() {
        let mut whole = PackedSamples::with_capacity(4096, 1 << 20);
        for i in 0..1000 {
            let value = "v".repeat(i % 13 + 1);
            whole.push(
                &labels(&[("__name__", "m"), ("i", &i.to_string()), ("x", &value)]),
                sample(i as i64, 1.0),
            );
        }
        let series = whole.to_series();
        let whole_bytes = whole.byte_size();
        let pieces = whole.clone().into_pieces(150, 400);
        let sizes: Vec<usize> = pieces.iter().map(PackedSamples::len).collect();
        assert_eq!(sizes, [150, 400, 400, 50]);
        let mut joined = Vec::new();
        for piece in &pieces {
            assert_eq!(piece.labels.capacity(), piece.labels.len(), "an exactly-sized copy");
            assert_eq!(piece.entries.capacity(), piece.entries.len());
            joined.extend(piece.to_series());
        }
        assert_eq!(joined, series);
        assert!(pieces.iter().map(PackedSamples::byte_size).sum::<usize>() < whole_bytes / 2);
        let fits = whole.into_pieces(1000, 1);
        assert_eq!(fits.len(), 1, "a batch that fits is not copied");
        assert_eq!(fits[0].byte_size(), whole_bytes);
    }

    #[test]
    fn pieces_put_together_give_the_whole_at_every_first_size() {
        let mut whole = PackedSamples::new();
        for i in 0..7 {
            let value = "v".repeat(i + 1);
            whole.push(&labels(&[("__name__", "m"), ("i", &value)]), sample(i as i64, i as f64));
        }
        let series = whole.to_series();
        for first in 0..=8 {
            let pieces = whole.clone().into_pieces(first, 3);
            assert_eq!(pieces[0].len(), first.clamp(1, 7), "first piece at {first}");
            assert!(pieces[1..].iter().all(|p| (1..=3).contains(&p.len())), "later pieces at {first}");
            let joined: Vec<Series> = pieces.iter().flat_map(PackedSamples::to_series).collect();
            assert_eq!(joined, series, "pieces at {first}");
        }
    }
}
