//! The per-target table of final series, kept in scrape order.
//!
//! A target writes its series in the same order every scrape, so the table keeps them in the
//! order they were first produced (a `Vec`), and a lookup first tries the slot it found last
//! and the one after it: a steady-state scrape walks the table front to back, reading memory
//! sequentially, instead of landing on a random bucket per sample (a cache miss each). An
//! index from hash to slot (a `hashbrown::HashTable` of `u32`) answers every other lookup: a
//! new series, a target that reordered its output, a second line for the same series.
//!
//! The index is built when a lookup first needs it and dropped at the end of the pass (the
//! scrape). A pass that strays from the slot order (a series found away from its expected slot,
//! a new series) records the order it visited the slots in, from the first stray on (the slots
//! before were visited in order, so that prefix is implied), and at its end the slots are put in
//! that order, the ones it did not visit after them. So the next scrape of a target that
//! reordered its output, lost series from the middle or gained new ones walks the table in order
//! again, without an index; a pass that does not stray costs nothing extra.
//!
//! Memory: 8 bytes of key plus the value per slot, the `Vec` growing by doubling; during a pass
//! that needs them, 5 bytes per index bucket and 4 per recorded position. For a 1,005-series
//! target and a 24-byte value that is 32 KB, where a `HashMap<u64, V>` (whose buckets hold key and
//! value, at a load factor that rounds 1,005 up to 2,048 buckets) takes 67 KB.
//!
//! Removal moves the last slot into the hole (`swap_remove`); `retain` keeps the order of what
//! it keeps. The keys are already hashes
//! (randomly seeded by the cache), so they are used as the index's hash as they are.

use hashbrown::HashTable;

/// A key (a final label set's hash) and its value.
#[derive(Debug, Clone, Copy)]
struct Slot<V> {
    hash: u64,
    value: V,
}

/// Final series by hash, in the order they were first produced (module docs).
#[derive(Debug)]
pub(crate) struct SeriesTable<V> {
    slots: Vec<Slot<V>>,
    /// Slot positions by hash, while lookups need it (module docs).
    index: Option<HashTable<u32>>,
    /// The slot the last successful lookup found (`usize::MAX` after [`SeriesTable::rewind`]):
    /// a lookup tries it and the one after it first.
    last: usize,
    /// Once the current pass strayed from the slot order: the slots it visited since, in
    /// order (the ones before were `0..=` the last found then).
    visited: Option<Vec<u32>>,
}

impl<V> Default for SeriesTable<V> {
    fn default() -> Self {
        SeriesTable { slots: Vec::new(), index: None, last: usize::MAX, visited: None }
    }
}

impl<V: Copy> SeriesTable<V> {
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Ends a pass and starts the next: the slots are put in the order the pass visited them if
    /// it strayed (module docs), the index is dropped, and the next lookup tries the first slot.
    pub fn rewind(&mut self) {
        if let Some(visited) = self.visited.take() {
            self.reorder(&visited);
        }
        self.index = None;
        self.last = usize::MAX;
    }

    /// Records that the pass visited slot `at`: from the first stray on (`strayed`), when the
    /// pass had visited `0..=self.last` in order.
    fn visit(&mut self, at: usize, strayed: bool) {
        let visited = match (&mut self.visited, strayed) {
            (Some(visited), _) => visited,
            (None, false) => return,
            (None, true) => {
                let prefix = if self.last == usize::MAX { 0 } else { self.last + 1 };
                // Positions fit in u32 (`push`).
                self.visited.insert((0..prefix as u32).collect())
            }
        };
        // A series is looked up more than once per sample.
        if visited.last() != Some(&(at as u32)) {
            visited.push(at as u32);
        }
    }

    /// Puts the slots in the order of `visited` (positions; repeats and unknown ones skipped),
    /// the others after them in their order.
    fn reorder(&mut self, visited: &[u32]) {
        let in_order =
            visited.len() == self.slots.len() && visited.iter().enumerate().all(|(i, &p)| p as usize == i);
        if in_order {
            return;
        }
        let mut placed = vec![false; self.slots.len()];
        let mut reordered = Vec::with_capacity(self.slots.len());
        for &at in visited {
            let at = at as usize;
            if let (Some(slot), Some(done)) = (self.slots.get(at), placed.get_mut(at))
                && !*done
            {
                *done = true;
                reordered.push(*slot);
            }
        }
        for (slot, done) in self.slots.iter().zip(&placed) {
            if !done {
                reordered.push(*slot);
            }
        }
        self.slots = reordered;
    }

    /// The slots and the index, which is built from them if there is none.
    fn indexed(&mut self) -> (&[Slot<V>], &mut HashTable<u32>) {
        let slots = &self.slots;
        let index = self.index.get_or_insert_with(|| {
            let mut index = HashTable::with_capacity(slots.len());
            for (at, slot) in slots.iter().enumerate() {
                // `at` fits: the table never holds more than u32::MAX slots (`push`).
                index.insert_unique(slot.hash, at as u32, |p| slot_hash(slots, p));
            }
            index
        });
        (slots, index)
    }

    /// The slot holding `hash`, if any.
    fn position(&mut self, hash: u64) -> Option<usize> {
        let last = self.last;
        for at in [last, last.wrapping_add(1)] {
            if self.slots.get(at).is_some_and(|s| s.hash == hash) {
                self.visit(at, false);
                self.last = at;
                return Some(at);
            }
        }
        let (slots, index) = self.indexed();
        let at = *index.find(hash, holds(slots, hash))? as usize;
        // Found away from where the pass was: it strays.
        self.visit(at, true);
        self.last = at;
        Some(at)
    }

    pub fn get(&mut self, hash: u64) -> Option<&V> {
        let at = self.position(hash)?;
        self.slots.get(at).map(|s| &s.value)
    }

    pub fn get_mut(&mut self, hash: u64) -> Option<&mut V> {
        let at = self.position(hash)?;
        self.slots.get_mut(at).map(|s| &mut s.value)
    }

    /// The value of `hash`, inserted by `make` if the table lacks it (`None` if `make` declines).
    pub fn get_or_try_insert(&mut self, hash: u64, make: impl FnOnce() -> Option<V>) -> Option<&mut V> {
        let at = match self.position(hash) {
            Some(at) => at,
            None => self.push(hash, make()?)?,
        };
        self.slots.get_mut(at).map(|s| &mut s.value)
    }

    /// Appends a slot for `hash` (not in the table); `None` past `u32::MAX` slots.
    fn push(&mut self, hash: u64, value: V) -> Option<usize> {
        let at = self.slots.len();
        let position = u32::try_from(at).ok()?;
        self.slots.push(Slot { hash, value });
        let slots = &self.slots;
        if let Some(index) = self.index.as_mut() {
            index.insert_unique(hash, position, |p| slot_hash(slots, p));
        }
        // A new series: the pass strays (it belongs where the pass is, not at the end).
        self.visit(at, true);
        Some(at)
    }

    /// Removes `hash`, moving the last slot into its place.
    pub fn remove(&mut self, hash: u64) -> Option<V> {
        let (slots, index) = self.indexed();
        let entry = index.find_entry(hash, holds(slots, hash)).ok()?;
        let (at, _) = entry.remove();
        let at = at as usize;
        let removed = self.slots.swap_remove(at);
        if let (Some(moved), Some(index)) = (self.slots.get(at), self.index.as_mut()) {
            // The former last slot now sits at `at`.
            let from = self.slots.len();
            if let Some(p) = index.find_mut(moved.hash, |&p| p as usize == from) {
                *p = at as u32;
            }
        }
        self.last = usize::MAX;
        // Positions moved: this pass's order is not recorded any further.
        self.visited = None;
        Some(removed.value)
    }

    /// Keeps the series `keep` approves, in their order.
    pub fn retain(&mut self, mut keep: impl FnMut(u64, &mut V) -> bool) {
        let before = self.slots.len();
        self.slots.retain_mut(|s| keep(s.hash, &mut s.value));
        if self.slots.len() != before {
            // Positions moved: the next lookup that needs an index builds a new one, and this
            // pass's order is not recorded any further.
            self.index = None;
            self.last = usize::MAX;
            self.visited = None;
        }
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (u64, &mut V)> {
        self.slots.iter_mut().map(|s| (s.hash, &mut s.value))
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.slots.iter().map(|s| &s.value)
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.slots.iter_mut().map(|s| &mut s.value)
    }
}

/// Whether the index entry (a slot position) names the slot of `hash`.
fn holds<V>(slots: &[Slot<V>], hash: u64) -> impl Fn(&u32) -> bool + '_ {
    move |&at| slots.get(at as usize).is_some_and(|s| s.hash == hash)
}

/// The hash of the slot at `position` (for the index's rehashing; every position in the index
/// names a slot).
fn slot_hash<V>(slots: &[Slot<V>], position: &u32) -> u64 {
    slots.get(*position as usize).map_or(0, |s| s.hash)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use std::collections::HashMap;

    fn check_against(table: &mut SeriesTable<u32>, model: &HashMap<u64, u32>) {
        assert_eq!(table.len(), model.len());
        for (&hash, &value) in model {
            assert_eq!(table.get(hash), Some(&value), "hash {hash}");
        }
        let mut seen: Vec<u64> = table.slots.iter().map(|s| s.hash).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), model.len(), "each key once");
    }

    #[test]
    fn agrees_with_a_hash_map_under_random_operations() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut table = SeriesTable::default();
        let mut model = HashMap::new();
        // Few distinct keys, so that operations hit existing ones; some keys collide in the
        // index's low bits.
        let key =
            |rng: &mut StdRng| u64::from(rng.random_range(0..200u32)) << (rng.random_range(0..2u32) * 40);
        for step in 0..20_000u32 {
            match rng.random_range(0..10) {
                0..=3 => {
                    let hash = key(&mut rng);
                    let inserted = table.get_or_try_insert(hash, || Some(step)).copied();
                    let expected = *model.entry(hash).or_insert(step);
                    assert_eq!(inserted, Some(expected));
                }
                4 => {
                    let hash = key(&mut rng);
                    assert_eq!(table.get_or_try_insert(hash, || None).copied(), model.get(&hash).copied());
                }
                5 | 6 => {
                    let hash = key(&mut rng);
                    assert_eq!(table.remove(hash), model.remove(&hash));
                }
                7 => {
                    let hash = key(&mut rng);
                    if let Some(v) = table.get_mut(hash) {
                        *v += 1;
                    }
                    if let Some(v) = model.get_mut(&hash) {
                        *v += 1;
                    }
                }
                8 => {
                    let cut = rng.random_range(0..20_000u32);
                    table.retain(|_, v| *v >= cut);
                    model.retain(|_, v| *v >= cut);
                }
                _ => {
                    // Two in a row drop an idle index.
                    table.rewind();
                    if rng.random_bool(0.5) {
                        table.rewind();
                    }
                }
            }
            if step % 97 == 0 {
                check_against(&mut table, &model);
            }
        }
        check_against(&mut table, &model);
    }

    #[test]
    fn a_pass_in_scrape_order_finds_each_series_without_the_index() {
        let mut table = SeriesTable::default();
        for hash in 100..110u64 {
            table.get_or_try_insert(hash, || Some(hash));
        }
        table.rewind();
        for hash in 100..110u64 {
            // Looked up twice per sample (cached? then the timestamp guard).
            let before = table.last;
            assert_eq!(table.get(hash), Some(&hash));
            assert_eq!(table.last, before.wrapping_add(1), "found next to the last one");
            assert_eq!(table.get_mut(hash).copied(), Some(hash));
        }
        assert!(table.index.is_none() && table.visited.is_none(), "not needed in order");
        // Out of order: the index answers, and the pass records where it went from there.
        assert_eq!(table.get(103), Some(&103));
        assert_eq!(table.get(107), Some(&107));
        assert_eq!(table.get(42), None);
        assert!(table.index.is_some());
        assert_eq!(table.visited.as_deref(), Some(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 3, 7][..]));
    }

    fn order(table: &SeriesTable<u64>) -> Vec<u64> {
        table.slots.iter().map(|s| s.hash).collect()
    }

    /// Looks `hashes` up (inserting new ones) as a scrape does; whether that needed the index.
    fn pass(table: &mut SeriesTable<u64>, hashes: &[u64]) -> bool {
        for &hash in hashes {
            assert_eq!(table.get(hash).copied().unwrap_or(hash), hash);
            table.get_or_try_insert(hash, || Some(hash));
        }
        let indexed = table.index.is_some();
        table.rewind();
        assert!(table.index.is_none() && table.visited.is_none());
        indexed
    }

    #[test]
    fn a_pass_that_strays_puts_the_slots_in_its_order() {
        let mut table = SeriesTable::default();
        let hashes: Vec<u64> = (1..=50).collect();
        pass(&mut table, &hashes);
        assert_eq!(order(&table), hashes);
        assert!(!pass(&mut table, &hashes), "in order: no index");
        // The target reverses its output: the next pass walks in order again.
        let reversed: Vec<u64> = hashes.iter().rev().copied().collect();
        assert!(pass(&mut table, &reversed));
        assert_eq!(order(&table), reversed);
        assert!(!pass(&mut table, &reversed));
        // A new series in the middle takes its place.
        let mut grown = reversed.clone();
        grown.insert(25, 99);
        assert!(pass(&mut table, &grown));
        assert_eq!(order(&table), grown);
        assert!(!pass(&mut table, &grown));
        // A series vanishes from the middle: it moves to the end.
        let shrunk: Vec<u64> = grown.iter().copied().filter(|&h| h != 30).collect();
        assert!(pass(&mut table, &shrunk));
        assert_eq!(order(&table), shrunk.iter().copied().chain([30]).collect::<Vec<_>>());
        assert!(!pass(&mut table, &shrunk));
        assert_eq!(table.len(), 51);
        // A pass that removes a slot records no order; the set stays right.
        table.get(5);
        assert_eq!(table.remove(17), Some(17));
        table.get(40);
        table.rewind();
        assert_eq!(table.len(), 50);
        for hash in shrunk.iter().filter(|&&h| h != 17) {
            assert_eq!(table.get(*hash), Some(hash));
        }
    }

    #[test]
    fn removal_keeps_the_moved_slot_reachable_and_retain_keeps_order() {
        let mut table = SeriesTable::default();
        for hash in 1..=5u64 {
            table.get_or_try_insert(hash, || Some(hash * 10));
        }
        assert_eq!(table.remove(2), Some(20));
        assert_eq!(table.remove(2), None);
        // 5 moved into the hole.
        assert_eq!(table.get(5), Some(&50));
        table.retain(|hash, _| hash != 3);
        let order: Vec<u64> = table.slots.iter().map(|s| s.hash).collect();
        assert_eq!(order, [1, 5, 4]);
        for hash in [1, 4, 5] {
            assert_eq!(table.get(hash), Some(&(hash * 10)));
        }
        assert_eq!(table.len(), 3);
    }
}
