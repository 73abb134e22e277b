//! The notification log (Alertmanager's `nflog`): per aggregation group and integration of a
//! receiver, what was last notified (the firing and resolved alerts) and when. The dedup stage
//! reads it to decide whether a flush notifies ([`needs_update`]); a successful delivery
//! writes it; a failed one leaves it unchanged so the next flush tries again.
//!
//! Entries expire `2 × repeat_interval` after they were written, at most after the retention
//! (Alertmanager's `--data.retention`, 120h), and are dropped by [`NotificationLog::gc`].
//!
//! Alerts are identified by their label fingerprint (Alertmanager hashes the same sorted
//! label pairs with xxhash; only equality within one log matters).

use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

/// Who was notified: a receiver's integration (`webhook`, index 0 among the receiver's
/// webhook configs, ...).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ReceiverKey {
    pub receiver: String,
    pub integration: String,
    pub index: u32,
}

/// One log entry: the last notification of a group to one integration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub group_key: String,
    pub receiver: ReceiverKey,
    /// When the notification was logged (unix ms).
    pub timestamp_ms: i64,
    pub firing: Vec<u64>,
    pub resolved: Vec<u64>,
    pub expires_at_ms: i64,
}

impl Entry {
    /// Whether every alert in `firing` was firing at the last notification.
    fn is_firing_subset(&self, firing: &HashSet<u64>) -> bool {
        let logged: HashSet<u64> = self.firing.iter().copied().collect();
        firing.is_subset(&logged)
    }

    /// Whether every alert in `resolved` was reported resolved at the last notification.
    fn is_resolved_subset(&self, resolved: &HashSet<u64>) -> bool {
        let logged: HashSet<u64> = self.resolved.iter().copied().collect();
        resolved.is_subset(&logged)
    }
}

/// Alertmanager's `DedupStage.needsUpdate`: whether a flush with these firing and resolved
/// alerts notifies, given the last logged notification.
///
/// 1. Never notified: notify if anything fires.
/// 2. A firing alert that was not in the last notification: notify.
/// 3. Nothing fires: notify only if the last notification had firing alerts (the "all
///    resolved" notification, sent whatever `send_resolved` says so the log is cleared).
/// 4. `send_resolved` and an alert resolved that was not reported resolved: notify.
/// 5. Otherwise notify when the last notification is older than `repeat_interval`.
pub fn needs_update(
    entry: Option<&Entry>,
    firing: &HashSet<u64>,
    resolved: &HashSet<u64>,
    send_resolved: bool,
    repeat_interval_ms: i64,
    now_ms: i64,
) -> bool {
    let Some(entry) = entry else { return !firing.is_empty() };
    if !entry.is_firing_subset(firing) {
        return true;
    }
    if firing.is_empty() {
        return !entry.firing.is_empty();
    }
    if send_resolved && !entry.is_resolved_subset(resolved) {
        return true;
    }
    entry.timestamp_ms < now_ms - repeat_interval_ms
}

/// The log: entries by group key and receiver integration.
#[derive(Debug, Default)]
pub struct NotificationLog {
    entries: HashMap<String, Entry>,
    retention_ms: i64,
    /// Bumped on every change (persistence skips snapshots older than the one on disk).
    version: u64,
}

fn state_key(group_key: &str, r: &ReceiverKey) -> String {
    format!("{group_key}:{}/{}/{}", r.receiver, r.integration, r.index)
}

impl NotificationLog {
    pub fn new(retention_ms: i64) -> NotificationLog {
        NotificationLog { entries: HashMap::new(), retention_ms, version: 0 }
    }

    pub fn query(&self, group_key: &str, receiver: &ReceiverKey) -> Option<&Entry> {
        self.entries.get(&state_key(group_key, receiver))
    }

    /// Logs a notification at `now_ms`; the entry expires after `expiry_ms` (when shorter than
    /// the retention). An entry from a later time is kept (as upstream, against clock steps).
    /// Returns the log's version after the call (what must reach the disk for this entry).
    pub fn log(
        &mut self,
        receiver: &ReceiverKey,
        group_key: &str,
        firing: Vec<u64>,
        resolved: Vec<u64>,
        expiry_ms: i64,
        now_ms: i64,
    ) -> u64 {
        let key = state_key(group_key, receiver);
        if self.entries.get(&key).is_some_and(|prev| prev.timestamp_ms > now_ms) {
            return self.version;
        }
        let lifetime =
            if expiry_ms > 0 && expiry_ms < self.retention_ms { expiry_ms } else { self.retention_ms };
        self.entries.insert(
            key,
            Entry {
                group_key: group_key.to_string(),
                receiver: receiver.clone(),
                timestamp_ms: now_ms,
                firing,
                resolved,
                expires_at_ms: now_ms + lifetime,
            },
        );
        self.version += 1;
        self.version
    }

    /// Bumped on every change.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Drops expired entries; returns how many.
    pub fn gc(&mut self, now_ms: i64) -> usize {
        let before = self.entries.len();
        self.entries.retain(|_, e| e.expires_at_ms > now_ms);
        let removed = before - self.entries.len();
        if removed > 0 {
            self.version += 1;
        }
        removed
    }

    /// Puts entries read from disk back, skipping expired ones; returns how many were kept.
    pub fn restore(&mut self, entries: Vec<Entry>, now_ms: i64) -> usize {
        let mut kept = 0;
        for e in entries {
            if e.expires_at_ms <= now_ms {
                continue;
            }
            let key = state_key(&e.group_key, &e.receiver);
            if self.entries.get(&key).is_some_and(|prev| prev.timestamp_ms >= e.timestamp_ms) {
                continue;
            }
            self.entries.insert(key, e);
            kept += 1;
        }
        self.version += 1;
        kept
    }

    /// Every entry (for the snapshot), with the version it reflects.
    pub fn snapshot(&self) -> (u64, Vec<Entry>) {
        (self.version, self.entries.values().cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[u64]) -> HashSet<u64> {
        v.iter().copied().collect()
    }

    fn entry(firing: &[u64], resolved: &[u64], ts: i64) -> Entry {
        Entry {
            group_key: "g".into(),
            receiver: ReceiverKey { receiver: "r".into(), integration: "webhook".into(), index: 0 },
            timestamp_ms: ts,
            firing: firing.to_vec(),
            resolved: resolved.to_vec(),
            expires_at_ms: i64::MAX,
        }
    }

    #[test]
    fn needs_update_table() {
        // (name, entry, firing, resolved, send_resolved, repeat, now, want)
        let repeat = 1_000;
        type Case<'a> = (&'a str, Option<Entry>, &'a [u64], &'a [u64], bool, i64, bool);
        let cases: Vec<Case> = vec![
            ("first firing", None, &[1], &[], true, 10, true),
            ("never notified, only resolved", None, &[], &[1], true, 10, false),
            ("same firing, within repeat", Some(entry(&[1], &[], 0)), &[1], &[], true, 500, false),
            ("same firing, repeat elapsed", Some(entry(&[1], &[], 0)), &[1], &[], true, 1_001, true),
            ("repeat boundary is strict", Some(entry(&[1], &[], 0)), &[1], &[], true, 1_000, false),
            ("new firing alert", Some(entry(&[1], &[], 0)), &[1, 2], &[], true, 10, true),
            (
                "fewer firing, resolved, send_resolved",
                Some(entry(&[1, 2], &[], 0)),
                &[1],
                &[2],
                true,
                10,
                true,
            ),
            (
                "fewer firing, resolved, no send_resolved",
                Some(entry(&[1, 2], &[], 0)),
                &[1],
                &[2],
                false,
                10,
                false,
            ),
            ("all resolved after firing", Some(entry(&[1], &[], 0)), &[], &[1], false, 10, true),
            ("all resolved, nothing was firing", Some(entry(&[], &[1], 0)), &[], &[1, 2], true, 10, false),
            ("resolved already reported", Some(entry(&[1], &[2], 0)), &[1], &[2], true, 10, false),
        ];
        for (name, e, firing, resolved, send_resolved, now, want) in cases {
            let got = needs_update(e.as_ref(), &set(firing), &set(resolved), send_resolved, repeat, now);
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn log_expiry_gc_and_restore() {
        let r = ReceiverKey { receiver: "r".into(), integration: "webhook".into(), index: 0 };
        let mut log = NotificationLog::new(120 * 3_600_000);
        log.log(&r, "g", vec![1], vec![], 2_000, 100);
        assert_eq!(log.query("g", &r).map(|e| e.expires_at_ms), Some(2_100));
        // A write from an earlier time does not replace a later entry.
        log.log(&r, "g", vec![9], vec![], 2_000, 50);
        assert_eq!(log.query("g", &r).map(|e| e.firing.clone()), Some(vec![1]));
        // Expiry longer than the retention is capped.
        log.log(&r, "h", vec![1], vec![], i64::MAX / 4, 100);
        assert_eq!(log.query("h", &r).map(|e| e.expires_at_ms), Some(100 + 120 * 3_600_000));
        assert_eq!(log.gc(2_100), 1);
        assert!(log.query("g", &r).is_none());
        let (_, entries) = log.snapshot();
        let mut other = NotificationLog::new(120 * 3_600_000);
        assert_eq!(other.restore(entries.clone(), 200), 1);
        assert_eq!(other.restore(entries, i64::MAX / 2), 0, "expired entries are dropped on load");
    }
}
