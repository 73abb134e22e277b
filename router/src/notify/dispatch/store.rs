//! The alert store (Alertmanager's `provider/mem`): every alert the router holds, one per
//! fingerprint, bounded.
//!
//! - [`AlertStore::put`] follows `mem.Alerts.Put`: a new version of a stored alert is merged
//!   with the stored one ([`Alert::merge`]) only when their activity ranges overlap (the new
//!   end falls inside the old range, or the new start does); otherwise it replaces it, so a
//!   re-fired alert starts a fresh range.
//! - A new fingerprint beyond the capacity is rejected (updates of stored alerts always go
//!   through): the store never grows past `max_alerts`.
//! - [`AlertStore::put`] also says whether the stored alert changed in a way the alerts
//!   snapshot on disk must follow ([`PutOutcome::Stored::persist`]): a new fingerprint, a new
//!   start, annotations or generator URL, a change between firing and resolved, or a new end
//!   of a resolved alert. A resend that only moves the end of a firing alert further (every
//!   Prometheus resend does) or only stamps `updated_at` does not: the snapshot taken at the
//!   next real change carries it anyway, and an alert restored with a stale end is kept
//!   firing by the restart rule (see `persist.rs`) until its sender resends it.
//! - [`AlertStore::gc`] drops resolved alerts (Alertmanager runs it every
//!   `--alerts.gc-interval`, 30m). Aggregation groups hold their own copies until the resolved
//!   notification went out, so collecting never loses one.
//! - Alerts are held as `Arc<Alert>`: the aggregation groups, flush batches and
//!   notifications share the stored version instead of copying it.

use crate::notify::alert::{Alert, Fingerprint};
use std::collections::HashMap;
use std::sync::Arc;

/// What [`AlertStore::put`] did with an alert.
#[derive(Debug, Clone, PartialEq)]
pub enum PutOutcome {
    /// Stored (merged or replacing).
    Stored {
        /// The alert as stored.
        alert: Arc<Alert>,
        /// Whether the alerts snapshot must be rewritten for it (see the module docs).
        persist: bool,
    },
    /// A new fingerprint while the store is full.
    Rejected,
}

/// Alerts by fingerprint.
#[derive(Debug)]
pub struct AlertStore {
    alerts: HashMap<Fingerprint, Arc<Alert>>,
    max_alerts: usize,
}

/// Whether `new` differs from `old` in what the alerts snapshot must keep (module docs).
fn changed_for_disk(old: &Alert, new: &Alert, now_ms: i64) -> bool {
    let resolved = new.resolved_at(now_ms);
    old.starts_at_ms != new.starts_at_ms
        || old.annotations != new.annotations
        || old.generator_url != new.generator_url
        || old.resolved_at(now_ms) != resolved
        || (resolved && old.ends_at_ms != new.ends_at_ms)
}

impl AlertStore {
    pub fn new(max_alerts: usize) -> AlertStore {
        AlertStore { alerts: HashMap::new(), max_alerts }
    }

    /// Adds or updates an alert at `now_ms` (see the module docs).
    pub fn put(&mut self, alert: Alert, now_ms: i64) -> PutOutcome {
        let fp = alert.fingerprint();
        let (stored, persist) = match self.alerts.get(&fp) {
            Some(old) => {
                let overlaps = (alert.ends_at_ms > old.starts_at_ms && alert.ends_at_ms < old.ends_at_ms)
                    || (alert.starts_at_ms > old.starts_at_ms && alert.starts_at_ms < old.ends_at_ms);
                let stored = if overlaps { old.merge(&alert, now_ms) } else { alert };
                let persist = changed_for_disk(old, &stored, now_ms);
                (stored, persist)
            }
            None if self.alerts.len() >= self.max_alerts => return PutOutcome::Rejected,
            None => (alert, true),
        };
        let stored = Arc::new(stored);
        self.alerts.insert(fp, Arc::clone(&stored));
        PutOutcome::Stored { alert: stored, persist }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Fingerprint, &Arc<Alert>)> {
        self.alerts.iter()
    }

    pub fn len(&self) -> usize {
        self.alerts.len()
    }

    /// Removes the alerts resolved at `now_ms` and returns them.
    pub fn gc(&mut self, now_ms: i64) -> Vec<Arc<Alert>> {
        let resolved: Vec<Fingerprint> =
            self.alerts.iter().filter(|(_, a)| a.resolved_at(now_ms)).map(|(fp, _)| *fp).collect();
        resolved.iter().filter_map(|fp| self.alerts.remove(fp)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use harrier_telemetry::model::Labels;

    fn alert(name: &str, starts: i64, ends: i64, updated: i64) -> Alert {
        Alert {
            labels: Labels::from_pairs([("alertname", name)]),
            annotations: Labels::new(),
            starts_at_ms: starts,
            ends_at_ms: ends,
            generator_url: String::new(),
            updated_at_ms: updated,
            timeout: false,
        }
    }

    #[test]
    fn merges_only_overlapping_ranges() {
        let mut store = AlertStore::new(10);
        assert!(matches!(store.put(alert("A", 100, 1_000, 100), 100), PutOutcome::Stored { .. }));
        // Starts inside the stored range: merged, the earliest start kept.
        let PutOutcome::Stored { alert: merged, .. } = store.put(alert("A", 200, 2_000, 200), 200) else {
            panic!()
        };
        assert_eq!((merged.starts_at_ms, merged.ends_at_ms), (100, 2_000));
        // A range after the stored one: replaces it (the alert fired again).
        let PutOutcome::Stored { alert: fresh, .. } = store.put(alert("A", 5_000, 6_000, 5_000), 5_000)
        else {
            panic!()
        };
        assert_eq!((fresh.starts_at_ms, fresh.ends_at_ms), (5_000, 6_000));
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn capacity_rejects_new_fingerprints_only() {
        let mut store = AlertStore::new(1);
        assert!(matches!(store.put(alert("A", 1, 10, 1), 1), PutOutcome::Stored { .. }));
        assert_eq!(store.put(alert("B", 1, 10, 1), 1), PutOutcome::Rejected);
        assert!(matches!(store.put(alert("A", 2, 20, 2), 2), PutOutcome::Stored { .. }));
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn only_changes_the_snapshot_must_follow_are_persisted() {
        let mut store = AlertStore::new(10);
        let persist = |outcome: PutOutcome| match outcome {
            PutOutcome::Stored { persist, .. } => persist,
            PutOutcome::Rejected => panic!("rejected"),
        };
        assert!(persist(store.put(alert("A", 100, 1_000, 100), 100)), "new fingerprint");
        // A resend moving the end of the firing alert: not persisted.
        assert!(!persist(store.put(alert("A", 100, 1_100, 150), 150)));
        assert!(!persist(store.put(alert("A", 100, 1_100, 160), 160)), "only updated_at");
        let mut annotated = alert("A", 100, 1_200, 170);
        annotated.annotations = Labels::from_pairs([("summary", "now with text")]);
        assert!(persist(store.put(annotated.clone(), 170)), "annotations changed");
        annotated.updated_at_ms = 180;
        annotated.ends_at_ms = 180;
        assert!(persist(store.put(annotated.clone(), 180)), "resolved");
        // A resolved alert's end moving (a later explicit resolve time) is persisted.
        annotated.updated_at_ms = 190;
        annotated.ends_at_ms = 185;
        assert!(persist(store.put(annotated, 190)));
    }

    #[test]
    fn gc_drops_resolved() {
        let mut store = AlertStore::new(10);
        store.put(alert("A", 1, 10, 1), 1);
        store.put(alert("B", 1, 100, 1), 1);
        let gone = store.gc(50);
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].name(), "A");
        assert!(store.iter().any(|(fp, _)| *fp == alert("B", 0, 0, 0).fingerprint()));
    }
}
