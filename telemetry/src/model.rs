//! The data model every Harrier pipeline shares: label sets, samples and series.
//!
//! Label sets are kept sorted by name, the order Prometheus uses on the wire and in its
//! index, so equality and hashing of a [`Labels`] value are equality and hashing of the series
//! identity. The metric name is the ordinary label `__name__`.

use std::fmt;
use std::sync::Arc;

pub mod packed;
pub use packed::PackedSamples;

/// The label that carries a series' metric name.
pub const METRIC_NAME: &str = "__name__";

/// The bit pattern Prometheus uses for a staleness marker: a NaN that no computation yields.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// A staleness marker value (see [`STALE_NAN_BITS`]).
pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// Whether `v` is a staleness marker (compares bits: other NaNs are ordinary values).
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// One label, owned: a name and a value. Used to build label sets; a [`Labels`] hands out
/// borrowed [`LabelRef`]s.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label {
    pub name: String,
    pub value: String,
}

impl Label {
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Label { name: name.into(), value: value.into() }
    }
}

/// One label of a [`Labels`], borrowed from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LabelRef<'a> {
    pub name: &'a str,
    pub value: &'a str,
}

impl LabelRef<'_> {
    pub fn to_owned_label(&self) -> Label {
        Label::new(self.name, self.value)
    }
}

/// A label set, sorted by name, names unique, no empty values (an empty value means "absent"
/// in Prometheus, so setting one removes the label).
///
/// # Representation
/// The labels live packed in one shared, immutable buffer, encoded exactly as the `labels`
/// field of a remote_write `TimeSeries` (protobuf: for each label, field 1 holding a `Label`
/// message with `name` = 1 and `value` = 2). So:
/// - a clone is a reference-count increment, which is what a series' labels mostly go through
///   on the way from a scrape to a sink;
/// - memory is one allocation per distinct label set, about the size of its text;
/// - encoding a remote_write request copies the buffer ([`Labels::encoded`]).
///
/// Changes ([`Labels::set`], [`Labels::remove`], [`Labels::retain`]) build a new buffer: they
/// belong to label-set construction and relabeling, not to the per-sample path.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Labels(Arc<[u8]>);

impl Default for Labels {
    fn default() -> Self {
        Labels::new()
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter().map(|l| (l.name, l.value))).finish()
    }
}

impl PartialOrd for Labels {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Labels {
    /// Lexicographic over the (name, value) pairs, as Prometheus orders label sets.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.iter().cmp(other.iter())
    }
}

const LABEL_FIELD_KEY: u8 = 0x0a; // field 1, length-delimited
const NAME_FIELD_KEY: u8 = 0x0a; // field 1, length-delimited
const VALUE_FIELD_KEY: u8 = 0x12; // field 2, length-delimited

fn varint_len(v: usize) -> usize {
    (usize::BITS as usize - (v | 1).leading_zeros() as usize).div_ceil(7)
}

fn put_varint(out: &mut Vec<u8>, mut v: usize) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(buf: &[u8], pos: &mut usize) -> Option<usize> {
    let mut v: usize = 0;
    let mut shift = 0;
    loop {
        let b = *buf.get(*pos)?;
        *pos += 1;
        v |= usize::from(b & 0x7f).checked_shl(shift)?;
        if b < 0x80 {
            return Some(v);
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
}

fn string_field_len(s: &str) -> usize {
    if s.is_empty() { 0 } else { 1 + varint_len(s.len()) + s.len() }
}

/// Appends one label as a remote_write `Label` field (empty strings omitted, as proto3 does).
#[inline]
fn put_label(out: &mut Vec<u8>, name: &str, value: &str) {
    let (n, v) = (name.len(), value.len());
    // The common case, every length in one varint byte: four copies, no varint loops.
    if n > 0 && v > 0 && 4 + n + v < 0x80 {
        out.extend_from_slice(&[LABEL_FIELD_KEY, (4 + n + v) as u8, NAME_FIELD_KEY, n as u8]);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&[VALUE_FIELD_KEY, v as u8]);
        out.extend_from_slice(value.as_bytes());
        return;
    }
    out.push(LABEL_FIELD_KEY);
    put_varint(out, string_field_len(name) + string_field_len(value));
    for (key, s) in [(NAME_FIELD_KEY, name), (VALUE_FIELD_KEY, value)] {
        if !s.is_empty() {
            out.push(key);
            put_varint(out, s.len());
            out.extend_from_slice(s.as_bytes());
        }
    }
}

/// Iterates a packed label buffer. Labels built here are always well formed; should a buffer
/// not be (it cannot be built from outside), iteration simply ends.
#[derive(Clone)]
pub struct LabelsIter<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> LabelsIter<'a> {
    /// Iterates a packed label buffer taken from [`Labels::encoded`] or built with
    /// [`Labels::encode_label_into`].
    pub fn over(encoded: &'a [u8]) -> Self {
        LabelsIter { buf: encoded, pos: 0 }
    }

    /// These labels plus those of `extra` whose names they lack, in name order (see
    /// [`Labels::merged_with`]).
    pub fn merged(self, extra: LabelsIter<'a>) -> impl Iterator<Item = LabelRef<'a>> + 'a {
        let mut own = self.peekable();
        let mut ext = extra.peekable();
        std::iter::from_fn(move || match (own.peek(), ext.peek()) {
            (Some(o), Some(e)) => match o.name.cmp(e.name) {
                std::cmp::Ordering::Less => own.next(),
                std::cmp::Ordering::Equal => {
                    ext.next();
                    own.next()
                }
                std::cmp::Ordering::Greater => ext.next(),
            },
            (Some(_), None) => own.next(),
            (None, Some(_)) => ext.next(),
            (None, None) => None,
        })
    }

    /// Each label with the bytes of its encoded field (see [`Labels::iter_encoded`]).
    pub fn with_encoded(mut self) -> impl Iterator<Item = (LabelRef<'a>, &'a [u8])> {
        std::iter::from_fn(move || self.next_raw())
    }

    /// The next label with the raw bytes of its encoded field.
    fn next_raw(&mut self) -> Option<(LabelRef<'a>, &'a [u8])> {
        let start = self.pos;
        if *self.buf.get(self.pos)? != LABEL_FIELD_KEY {
            return None;
        }
        self.pos += 1;
        let len = get_varint(self.buf, &mut self.pos)?;
        let end = self.pos.checked_add(len)?;
        let body = self.buf.get(self.pos..end)?;
        self.pos = end;
        let (mut name, mut value) = ("", "");
        let mut p = 0;
        while p < body.len() {
            let key = body[p];
            p += 1;
            let n = get_varint(body, &mut p)?;
            let bytes = body.get(p..p.checked_add(n)?)?;
            p += n;
            let text = std::str::from_utf8(bytes).ok()?;
            match key {
                NAME_FIELD_KEY => name = text,
                VALUE_FIELD_KEY => value = text,
                _ => return None,
            }
        }
        Some((LabelRef { name, value }, &self.buf[start..end]))
    }
}

impl<'a> Iterator for LabelsIter<'a> {
    type Item = LabelRef<'a>;
    fn next(&mut self) -> Option<LabelRef<'a>> {
        self.next_raw().map(|(l, _)| l)
    }
}

impl Labels {
    pub fn new() -> Self {
        Labels(Arc::from(&[][..]))
    }

    /// Packs labels the caller guarantees sorted by name, names unique, values non-empty.
    fn pack<'a>(labels: impl Iterator<Item = (&'a str, &'a str)>) -> Self {
        let mut out = Vec::with_capacity(64);
        for (name, value) in labels {
            put_label(&mut out, name, value);
        }
        Labels(Arc::from(out))
    }

    /// Builds a label set from pairs in any order. Later duplicates win; empty values are dropped.
    pub fn from_pairs<N: AsRef<str>, V: AsRef<str>>(pairs: impl IntoIterator<Item = (N, V)>) -> Self {
        let pairs: Vec<(N, V)> = pairs.into_iter().collect();
        let mut refs: Vec<(&str, &str)> = pairs.iter().map(|(n, v)| (n.as_ref(), v.as_ref())).collect();
        Self::from_refs(&mut refs)
    }

    /// Sorts (stable), keeps the last of duplicate names, drops empty values, packs.
    fn from_refs(refs: &mut Vec<(&str, &str)>) -> Self {
        refs.sort_by(|a, b| a.0.cmp(b.0));
        let mut out: Vec<(&str, &str)> = Vec::with_capacity(refs.len());
        for &(n, v) in refs.iter() {
            match out.last_mut() {
                Some(last) if last.0 == n => *last = (n, v),
                _ => out.push((n, v)),
            }
        }
        Self::pack(out.into_iter().filter(|(_, v)| !v.is_empty()))
    }

    /// Packs a vector that the caller guarantees is sorted by name with unique names and no
    /// empty values. Checked in debug builds.
    pub fn from_sorted_unchecked(v: Vec<Label>) -> Self {
        debug_assert!(v.windows(2).all(|w| w[0].name < w[1].name), "labels not sorted/unique");
        Self::pack(v.iter().map(|l| (l.name.as_str(), l.value.as_str())))
    }

    /// Sorts and deduplicates (last wins) an arbitrary vector and drops empty values.
    pub fn from_unsorted(v: Vec<Label>) -> Self {
        let mut refs: Vec<(&str, &str)> = v.iter().map(|l| (l.name.as_str(), l.value.as_str())).collect();
        Self::from_refs(&mut refs)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter().find(|l| l.name == name).map(|l| l.value)
    }

    /// Sets `name` to `value`; an empty value removes the label. Builds a new buffer.
    pub fn set(&mut self, name: impl AsRef<str>, value: impl AsRef<str>) {
        let (name, value) = (name.as_ref(), value.as_ref());
        if self.get(name) == Some(value) || (value.is_empty() && self.get(name).is_none()) {
            return;
        }
        let mut out = Vec::with_capacity(self.0.len() + name.len() + value.len() + 8);
        let mut placed = value.is_empty();
        for l in self.iter() {
            if !placed && l.name >= name {
                put_label(&mut out, name, value);
                placed = true;
            }
            if l.name != name {
                put_label(&mut out, l.name, l.value);
            }
        }
        if !placed {
            put_label(&mut out, name, value);
        }
        self.0 = Arc::from(out);
    }

    pub fn remove(&mut self, name: &str) -> Option<String> {
        let old = self.get(name)?.to_string();
        self.retain(|l| l.name != name);
        Some(old)
    }

    /// The metric name (`__name__`), if any.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    pub fn iter(&self) -> LabelsIter<'_> {
        LabelsIter { buf: &self.0, pos: 0 }
    }

    /// The number of labels (counts them).
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The labels as owned values.
    pub fn to_vec(&self) -> Vec<Label> {
        self.iter().map(|l| l.to_owned_label()).collect()
    }

    /// Alias of [`Labels::to_vec`], for code that takes the set apart to rebuild it.
    pub fn into_vec(self) -> Vec<Label> {
        self.to_vec()
    }

    /// Keeps only the labels for which `keep` returns true (called once per label).
    pub fn retain(&mut self, mut keep: impl FnMut(LabelRef<'_>) -> bool) {
        let mut out = Vec::with_capacity(self.0.len());
        let mut removed = false;
        let mut it = self.iter();
        while let Some((l, raw)) = it.next_raw() {
            if keep(l) {
                out.extend_from_slice(raw);
            } else {
                removed = true;
            }
        }
        if removed {
            self.0 = Arc::from(out);
        }
    }

    /// These labels plus those of `extra` whose names they lack, in name order: the label set
    /// a series has once external labels are applied (its own labels win).
    pub fn merged_with<'a>(&'a self, extra: &'a Labels) -> impl Iterator<Item = LabelRef<'a>> + 'a {
        self.iter().merged(extra.iter())
    }

    /// Heap bytes held by this label set (shared between clones), for memory accounting.
    pub fn byte_size(&self) -> usize {
        self.0.len() + 2 * std::mem::size_of::<usize>()
    }

    /// The labels encoded as the `labels` field of a remote_write `TimeSeries`.
    pub fn encoded(&self) -> &[u8] {
        &self.0
    }

    /// Each label with the bytes of its encoded field, for encoders that merge label sets.
    pub fn iter_encoded(&self) -> impl Iterator<Item = (LabelRef<'_>, &[u8])> + '_ {
        self.iter().with_encoded()
    }

    /// Appends one label in the packed encoding to `out`. Labels appended in name order (names
    /// unique, values non-empty) make a buffer for [`Labels::from_encoded`]: how a hot path
    /// builds a label set in a reused buffer and allocates only the sets it keeps.
    pub fn encode_label_into(out: &mut Vec<u8>, name: &str, value: &str) {
        put_label(out, name, value);
    }

    /// The label set whose packed encoding is `encoded`, as built with
    /// [`Labels::encode_label_into`] (or taken from [`Labels::encoded`]). The caller guarantees
    /// the labels are sorted by name, names unique, values non-empty; checked in debug builds.
    pub fn from_encoded(encoded: &[u8]) -> Labels {
        debug_assert!(Labels::is_well_formed(encoded), "encoded labels not well formed, sorted and unique");
        Labels(Arc::from(encoded))
    }

    /// Whether `encoded` is a well-formed packed label set: labels sorted by name, names
    /// unique, values non-empty, nothing left over.
    pub fn is_well_formed(encoded: &[u8]) -> bool {
        let mut it = LabelsIter::over(encoded);
        let mut prev: Option<&str> = None;
        let mut sorted = true;
        for l in it.by_ref() {
            sorted &= prev.is_none_or(|p| p < l.name) && !l.value.is_empty();
            prev = Some(l.name);
        }
        sorted && it.pos == encoded.len()
    }

    /// Whether two label sets share one buffer (a clone of the other).
    pub fn ptr_eq(a: &Labels, b: &Labels) -> bool {
        Arc::ptr_eq(&a.0, &b.0)
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = LabelRef<'a>;
    type IntoIter = LabelsIter<'a>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl fmt::Display for Labels {
    /// Prometheus's notation: `name{a="1", b="2"}`, with the name outside the braces.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = self.metric_name() {
            f.write_str(name)?;
        }
        f.write_str("{")?;
        let mut first = true;
        for l in self.iter().filter(|l| l.name != METRIC_NAME) {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{}={:?}", l.name, l.value)?;
        }
        f.write_str("}")
    }
}

/// One sample: milliseconds since the Unix epoch and a value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub timestamp_ms: i64,
    pub value: f64,
}

/// A series with the samples being carried for it in one batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: Labels,
    pub samples: Vec<Sample>,
}

impl Series {
    pub fn new(labels: Labels, samples: Vec<Sample>) -> Self {
        Series { labels, samples }
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_sorted_and_empty_removes() {
        let mut l = Labels::from_pairs([("b", "2"), ("a", "1"), ("__name__", "up")]);
        assert_eq!(l.iter().map(|l| l.name).collect::<Vec<_>>(), ["__name__", "a", "b"]);
        l.set("a", "");
        assert_eq!(l.get("a"), None);
        assert_eq!(l.to_string(), r#"up{b="2"}"#);
    }

    #[test]
    fn from_unsorted_last_wins() {
        let l = Labels::from_unsorted(vec![Label::new("x", "1"), Label::new("a", "z"), Label::new("x", "2")]);
        assert_eq!(l.get("x"), Some("2"));
        assert_eq!(l.len(), 2);
    }

    #[test]
    fn set_remove_retain_keep_order_and_encoding() {
        let mut l = Labels::from_pairs([("job", "a"), ("__name__", "up")]);
        l.set("instance", "x:1");
        l.set("zz", "last");
        l.set("aa", "first");
        let names: Vec<&str> = l.iter().map(|l| l.name).collect();
        assert_eq!(names, ["__name__", "aa", "instance", "job", "zz"]);
        assert_eq!(l.remove("aa").as_deref(), Some("first"));
        l.retain(|x| x.name != "zz");
        assert_eq!(l.to_string(), r#"up{instance="x:1", job="a"}"#);
        assert_eq!(l.len(), 3);
        // Equal sets built differently are equal, hash alike and share the canonical encoding.
        let other = Labels::from_pairs([("job", "a"), ("instance", "x:1"), ("__name__", "up")]);
        assert_eq!(l, other);
        assert_eq!(l.encoded(), other.encoded());
        // A long value needs a multi-byte length.
        let long = "v".repeat(300);
        l.set("long", &long);
        assert_eq!(l.get("long"), Some(long.as_str()));
        assert_eq!(l.get("job"), Some("a"));
    }

    #[test]
    fn merged_with_adds_missing_names_in_order() {
        let own = Labels::from_pairs([("__name__", "up"), ("job", "a")]);
        let ext = Labels::from_pairs([("cluster", "c"), ("job", "x"), ("zone", "z")]);
        let merged: Vec<(&str, &str)> = own.merged_with(&ext).map(|l| (l.name, l.value)).collect();
        assert_eq!(merged, [("__name__", "up"), ("cluster", "c"), ("job", "a"), ("zone", "z")]);
        let mut calls = 0;
        let mut l = own.clone();
        l.retain(|_| {
            calls += 1;
            true
        });
        assert_eq!((calls, l), (2, own));
    }

    #[test]
    fn from_encoded_round_trips_labels_built_in_order() {
        let mut buf = Vec::new();
        for (n, v) in [("__name__", "up"), ("instance", "x:1"), ("job", "a")] {
            Labels::encode_label_into(&mut buf, n, v);
        }
        let built = Labels::from_encoded(&buf);
        let expected = Labels::from_pairs([("job", "a"), ("__name__", "up"), ("instance", "x:1")]);
        assert_eq!(built, expected);
        assert_eq!(Labels::from_encoded(expected.encoded()).to_string(), r#"up{instance="x:1", job="a"}"#);
    }

    #[test]
    fn order_is_by_pairs() {
        let a = Labels::from_pairs([("a", "1"), ("b", "2")]);
        let b = Labels::from_pairs([("a", "1"), ("c", "0")]);
        let c = Labels::from_pairs([("a", "10")]);
        assert!(a < b);
        assert!(a < c, "\"1\" < \"10\"");
        assert!(Labels::new() < a);
    }

    #[test]
    fn stale_marker_is_distinct_nan() {
        assert!(is_stale_nan(stale_nan()));
        assert!(!is_stale_nan(f64::NAN));
    }
}
