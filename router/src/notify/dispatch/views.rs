//! What the API reads: alerts and groups with their status, computed when read (as
//! Alertmanager's API refreshes the marker on every read).
//!
//! ## Status, as upstream's v2 API reports it
//! - `/alerts` ([`alert_views`]): `silencedBy` (the active silences matching the alert),
//!   `inhibitedBy` (the firing alerts inhibiting it), `mutedBy` always empty (upstream passes
//!   no muted intervals there: an alert can be in several groups, muted in one and not in
//!   another), and `state` `suppressed` when silenced or inhibited, else `active`.
//! - `/alerts/groups` ([`group_views`]): each group carries the time intervals that muted it
//!   at its last flush ([`GroupView::muted_by`], upstream's per-group marker); its alerts
//!   carry that same list as `mutedBy`, and are `suppressed` when it is not empty, as
//!   upstream's `AlertToOpenAPIAlert` does with the group's muted intervals.
//!
//! ## Locking
//! Reads are unauthenticated and may cover 100,000 alerts, so they never compute under the
//! dispatcher's state lock (which `put` and every flush take): they copy the alerts (or
//! groups) and the current generation under it, then match routes, silences and inhibition
//! outside it. Silence matches are cached per alert fingerprint for one
//! [`Silences::version`](crate::notify::Silences::version) (which changes on every silence
//! change and when a silence starts or ends), so repeated reads, and flushes, do not match
//! every alert against every silence again.

use super::{Generation, Inner, group, lock};
use crate::notify::alert::{Alert, AlertState, AlertStatus, AlertView, Fingerprint, GroupView};
use harrier_telemetry::model::Labels;
use std::collections::HashMap;
use std::sync::Arc;

/// Silence IDs muting each alert, valid for one silences version.
pub(super) struct SilenceCache {
    version: Option<u64>,
    /// No silence was active at this version: every alert's answer is "none", nothing is
    /// stored per alert (the common case: a cache entry per alert would only hold empty lists).
    none_active: bool,
    by_alert: HashMap<Fingerprint, Vec<String>>,
    /// Entries kept at most (the cache is cleared when full).
    capacity: usize,
}

impl SilenceCache {
    pub(super) fn new(capacity: usize) -> SilenceCache {
        SilenceCache {
            version: None,
            none_active: false,
            by_alert: HashMap::new(),
            capacity: capacity.max(1),
        }
    }

    /// Moves the cache to `version`; `none_active` is asked only when the version changed.
    fn at_version(&mut self, version: u64, none_active: impl FnOnce() -> bool) {
        if self.version != Some(version) {
            self.by_alert = HashMap::new();
            self.version = Some(version);
            self.none_active = none_active();
        }
    }
}

impl Inner {
    /// The IDs of the active silences muting each alert (fingerprint and labels), in order.
    /// Results are computed outside the cache lock and cached only if the silences did not
    /// change meanwhile.
    pub(super) fn silenced_by<'a>(
        &self,
        alerts: impl IntoIterator<Item = (Fingerprint, &'a Labels)>,
    ) -> Vec<Vec<String>> {
        let alerts: Vec<(Fingerprint, &Labels)> = alerts.into_iter().collect();
        let version = self.silences.version();
        let mut out: Vec<Option<Vec<String>>> = {
            let mut cache = lock(&self.silence_cache);
            // Counted after the version was read: a silence added in between is counted (a
            // conservative answer for this version), one added later changes the version.
            cache.at_version(version, || self.silences.count_by_state().0 == 0);
            if cache.none_active {
                return vec![Vec::new(); alerts.len()];
            }
            alerts.iter().map(|(fp, _)| cache.by_alert.get(fp).cloned()).collect()
        };
        let mut computed = Vec::new();
        for ((fp, labels), slot) in alerts.iter().zip(out.iter_mut()) {
            if slot.is_none() {
                let ids = self.silences.mutes(labels);
                computed.push((*fp, ids.clone()));
                *slot = Some(ids);
            }
        }
        if !computed.is_empty() {
            let mut cache = lock(&self.silence_cache);
            if cache.version == Some(version) {
                for (fp, ids) in computed {
                    if cache.by_alert.len() >= cache.capacity {
                        cache.by_alert.clear();
                    }
                    cache.by_alert.insert(fp, ids);
                }
            }
        }
        out.into_iter().map(Option::unwrap_or_default).collect()
    }
}

/// The receivers of the routes an alert matches, in route order.
fn receivers_of(generation: &Generation, alert: &Alert) -> Vec<String> {
    generation
        .tree
        .match_labels(|name| alert.labels.get(name))
        .into_iter()
        .map(|id| generation.tree.node(id).opts.receiver.clone())
        .collect()
}

/// `/alerts`: each alert with its status from silences and inhibition (module docs) and its
/// receivers. Called without the state lock.
pub(super) fn alert_views(
    inner: &Inner,
    generation: &Generation,
    alerts: Vec<Arc<Alert>>,
    now_ms: i64,
) -> Vec<AlertView> {
    let fingerprints: Vec<Fingerprint> = alerts.iter().map(|a| a.fingerprint()).collect();
    let silenced = inner.silenced_by(fingerprints.iter().copied().zip(alerts.iter().map(|a| &a.labels)));
    alerts
        .into_iter()
        .zip(fingerprints)
        .zip(silenced)
        .map(|((alert, fingerprint), silenced_by)| {
            let inhibited_by = inner.read_inhibitor().inhibited_by(&alert.labels, now_ms);
            let suppressed = !silenced_by.is_empty() || !inhibited_by.is_empty();
            AlertView {
                receivers: receivers_of(generation, &alert),
                alert,
                fingerprint,
                status: AlertStatus {
                    state: if suppressed { AlertState::Suppressed } else { AlertState::Active },
                    silenced_by,
                    inhibited_by,
                    muted_by: Vec::new(),
                },
            }
        })
        .collect()
}

/// A group as copied under the state lock: its unresolved alerts, sorted for notification.
pub(super) struct GroupCopy {
    pub(super) labels: Labels,
    pub(super) receiver: String,
    pub(super) group_key: String,
    pub(super) muted_by: Vec<String>,
    pub(super) alerts: Vec<Arc<Alert>>,
}

/// `/alerts/groups`: the groups with their alerts' status, the group's muting included
/// (module docs), sorted as Alertmanager sorts them: by group labels, then receiver. Called
/// without the state lock.
pub(super) fn group_views(
    inner: &Inner,
    generation: &Generation,
    groups: Vec<GroupCopy>,
    now_ms: i64,
) -> Vec<GroupView> {
    // Each alert's own status once, however many groups hold it.
    let mut distinct: HashMap<Fingerprint, Arc<Alert>> = HashMap::new();
    for g in &groups {
        for a in &g.alerts {
            distinct.entry(a.fingerprint()).or_insert_with(|| Arc::clone(a));
        }
    }
    let views: HashMap<Fingerprint, AlertView> =
        alert_views(inner, generation, distinct.into_values().collect(), now_ms)
            .into_iter()
            .map(|v| (v.fingerprint, v))
            .collect();
    let mut out: Vec<GroupView> = groups
        .into_iter()
        .map(|g| {
            let alerts = g
                .alerts
                .iter()
                .filter_map(|a| views.get(&a.fingerprint()))
                .map(|view| {
                    let mut view = view.clone();
                    if !g.muted_by.is_empty() {
                        view.status.muted_by = g.muted_by.clone();
                        view.status.state = AlertState::Suppressed;
                    }
                    view
                })
                .collect();
            GroupView {
                labels: g.labels,
                receiver: g.receiver,
                group_key: g.group_key,
                muted_by: g.muted_by,
                alerts,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        if a.labels == b.labels {
            a.receiver.cmp(&b.receiver)
        } else if group::labels_before(&a.labels, &b.labels) {
            std::cmp::Ordering::Less
        } else {
            std::cmp::Ordering::Greater
        }
    });
    out
}
