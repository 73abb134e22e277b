//! The inverted label index of the head: label name → label value → postings (the ids of the
//! series carrying that pair, sorted ascending), plus the sorted list of every live series id.
//!
//! Selection follows Prometheus's `PostingsForMatchers`: matchers that cannot match the empty
//! string select the union of the postings of the values they match, and those sets are
//! intersected; matchers that do match the empty string (`{a=""}`, `{a!="x"}`, `{a=~".*"}`)
//! also select series lacking the label, so they are applied by subtracting the postings of
//! the values they reject from the candidates (all series when no other matcher narrows them).
//! A regex is evaluated once per distinct value of its label, never once per series.

use super::Matcher;
use promql_parser::label::MatchOp;
use std::collections::{BTreeMap, HashMap};

/// Series id: an index into the head's series slots.
pub(super) type SeriesId = u32;

/// Estimated bookkeeping bytes of one map entry (B-tree/hash node share, pointers).
const ENTRY_OVERHEAD: usize = 48;

#[derive(Debug, Default)]
pub(super) struct Index {
    postings: HashMap<Box<str>, BTreeMap<Box<str>, Vec<SeriesId>>, foldhash::fast::RandomState>,
    all: Vec<SeriesId>,
    bytes: usize,
}

/// Inserts `id` keeping `list` sorted (ids are mostly new and largest: a push).
fn insert_sorted(list: &mut Vec<SeriesId>, id: SeriesId) {
    match list.last() {
        Some(&last) if last >= id => {
            if let Err(at) = list.binary_search(&id) {
                list.insert(at, id);
            }
        }
        _ => list.push(id),
    }
}

fn remove_sorted(list: &mut Vec<SeriesId>, id: SeriesId) {
    if let Ok(at) = list.binary_search(&id) {
        list.remove(at);
    }
}

/// The intersection of two sorted lists.
pub(super) fn intersect(a: &[SeriesId], b: &[SeriesId]) -> Vec<SeriesId> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::with_capacity(a.len().min(b.len()));
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

/// `a` without the ids of `b` (both sorted).
pub(super) fn subtract(a: &[SeriesId], b: &[SeriesId]) -> Vec<SeriesId> {
    let mut j = 0;
    let mut out = Vec::with_capacity(a.len());
    for &id in a {
        while j < b.len() && b[j] < id {
            j += 1;
        }
        if j >= b.len() || b[j] != id {
            out.push(id);
        }
    }
    out
}

/// The sorted, deduplicated union of several sorted lists.
fn union(lists: Vec<&Vec<SeriesId>>) -> Vec<SeriesId> {
    match lists.len() {
        0 => Vec::new(),
        1 => lists[0].clone(),
        _ => {
            let mut out: Vec<SeriesId> = lists.into_iter().flatten().copied().collect();
            out.sort_unstable();
            out.dedup();
            out
        }
    }
}

impl Index {
    /// Registers series `id` under each of its labels.
    pub(super) fn add<'a>(&mut self, id: SeriesId, labels: impl Iterator<Item = (&'a str, &'a str)>) {
        for (name, value) in labels {
            let values = match self.postings.get_mut(name) {
                Some(values) => values,
                None => {
                    self.bytes += name.len() + ENTRY_OVERHEAD;
                    self.postings.entry(name.into()).or_default()
                }
            };
            let list = match values.get_mut(value) {
                Some(list) => list,
                None => {
                    self.bytes += value.len() + ENTRY_OVERHEAD;
                    values.entry(value.into()).or_default()
                }
            };
            let before = list.capacity();
            insert_sorted(list, id);
            self.bytes += (list.capacity() - before) * size_of::<SeriesId>();
        }
        let before = self.all.capacity();
        insert_sorted(&mut self.all, id);
        self.bytes += self.all.capacity().saturating_sub(before) * size_of::<SeriesId>();
    }

    /// Unregisters series `id` (which carried `labels`).
    pub(super) fn remove<'a>(&mut self, id: SeriesId, labels: impl Iterator<Item = (&'a str, &'a str)>) {
        for (name, value) in labels {
            let Some(values) = self.postings.get_mut(name) else { continue };
            let Some(list) = values.get_mut(value) else { continue };
            remove_sorted(list, id);
            if list.is_empty() {
                let capacity = list.capacity();
                values.remove(value);
                self.bytes = self
                    .bytes
                    .saturating_sub(value.len() + ENTRY_OVERHEAD + capacity * size_of::<SeriesId>());
                if values.is_empty() {
                    self.postings.remove(name);
                    self.bytes = self.bytes.saturating_sub(name.len() + ENTRY_OVERHEAD);
                }
            }
        }
        remove_sorted(&mut self.all, id);
    }

    /// Estimated heap bytes of the index.
    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }

    /// The distinct values of label `name`, sorted, with their postings.
    pub(super) fn values(&self, name: &str) -> impl Iterator<Item = (&str, &[SeriesId])> {
        self.postings.get(name).into_iter().flat_map(|values| values.iter().map(|(v, p)| (&**v, &p[..])))
    }

    /// Every label name, unsorted.
    pub(super) fn names(&self) -> impl Iterator<Item = &str> {
        self.postings.keys().map(|n| &**n)
    }

    /// The union of the postings of the values of `matcher`'s label for which `keep` holds.
    fn postings_where(&self, matcher: &Matcher, keep: impl Fn(&str) -> bool) -> Vec<SeriesId> {
        let Some(values) = self.postings.get(matcher.name.as_str()) else { return Vec::new() };
        union(values.iter().filter(|(value, _)| keep(value)).map(|(_, list)| list).collect())
    }

    /// The postings of the series whose label `matcher.name` has a value `matcher` accepts.
    fn postings_matching(&self, matcher: &Matcher) -> Vec<SeriesId> {
        if matcher.op == MatchOp::Equal {
            return self
                .postings
                .get(matcher.name.as_str())
                .and_then(|values| values.get(matcher.value.as_str()))
                .cloned()
                .unwrap_or_default();
        }
        self.postings_where(matcher, |value| matcher.is_match(value))
    }

    /// The postings of the series that carry label `matcher.name` with a value `matcher`
    /// rejects.
    fn postings_rejected(&self, matcher: &Matcher) -> Vec<SeriesId> {
        if matcher.op == MatchOp::NotEqual {
            return self
                .postings
                .get(matcher.name.as_str())
                .and_then(|values| values.get(matcher.value.as_str()))
                .cloned()
                .unwrap_or_default();
        }
        self.postings_where(matcher, |value| !matcher.is_match(value))
    }

    /// The ids of the series matching every matcher, sorted.
    pub(super) fn select(&self, matchers: &[Matcher]) -> Vec<SeriesId> {
        let (empty_matching, narrowing): (Vec<&Matcher>, Vec<&Matcher>) =
            matchers.iter().partition(|m| m.is_match(""));
        let mut candidates: Option<Vec<SeriesId>> = None;
        for matcher in narrowing {
            let postings = self.postings_matching(matcher);
            candidates = Some(match candidates {
                None => postings,
                Some(current) => intersect(&current, &postings),
            });
            if candidates.as_ref().is_some_and(Vec::is_empty) {
                return Vec::new();
            }
        }
        let mut candidates = candidates.unwrap_or_else(|| self.all.clone());
        for matcher in empty_matching {
            let rejected = self.postings_rejected(matcher);
            if !rejected.is_empty() {
                candidates = subtract(&candidates, &rejected);
            }
        }
        candidates
    }
}
