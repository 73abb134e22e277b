//! Aggregation groups (Alertmanager's `dispatch.aggrGroup`): the alerts of one route with the
//! same values of the route's `group_by` labels, flushed together.
//!
//! Timing, as upstream:
//! - a new group flushes first after `group_wait`; an alert inserted into a group that has not
//!   flushed yet and that started more than `group_wait` ago flushes it at once (so alerts
//!   re-sent after a restart or a reload do not wait again);
//! - each flush re-arms the timer for `group_interval` *before* running the pipeline, so slow
//!   receivers do not shift the schedule;
//! - a flush sends the group's alerts as of flush time: whether each is firing or resolved is
//!   decided at that time (the batch's `now_ms`, which every later step uses), so an alert
//!   cannot resolve as the notification travels; a firing alert's end time is rendered as
//!   Go's zero time, as upstream clears it (see `template.rs`). The batch shares the group's
//!   `Arc<Alert>`s rather than copying them. After a flush whose pipeline
//!   succeeded, the resolved alerts it carried are removed from the group unless they changed
//!   meanwhile (upstream's `DeleteIfNotModified`);
//! - a group left empty is removed by the dispatcher's maintenance (every 30s), which stops
//!   its task.
//!
//! Each group runs in its own task, so a flush waiting on a slow receiver never delays another
//! group.
//!
//! A group is identified by its config generation, route and group labels ([`GroupId`]). The
//! generation is part of the identity because a reload re-forms every group under the same
//! route index and labels: a task of the replaced generation that is between two await points
//! when the reload happens (its delivery returned, it is about to drop the resolved alerts it
//! sent, or to record the time intervals muting it) looks its group up by ID, and must find
//! nothing rather than the new generation's group.

use super::{Generation, Inner, pipeline};
use crate::notify::alert::{Alert, Fingerprint};
use crate::route::RouteId;
use crate::route::tree::RouteOpts;
use harrier_telemetry::model::Labels;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// A group's identity: the config generation that formed it, its route and its group labels.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct GroupId {
    pub(super) generation: u64,
    pub(super) route: RouteId,
    pub(super) labels: Labels,
}

/// One aggregation group.
pub(super) struct AggrGroup {
    pub(super) labels: Labels,
    pub(super) key: String,
    pub(super) receiver: String,
    pub(super) alerts: HashMap<Fingerprint, Arc<Alert>>,
    pub(super) next_flush: Instant,
    pub(super) has_flushed: bool,
    /// Time intervals muting the group at its last flush (for the API's `mutedBy`).
    pub(super) muted_by: Vec<String>,
    pub(super) wake: Arc<Notify>,
    pub(super) cancel: CancellationToken,
    group_wait_ms: i64,
}

impl AggrGroup {
    pub(super) fn new(labels: Labels, key: String, opts: &RouteOpts, cancel: CancellationToken) -> AggrGroup {
        AggrGroup {
            labels,
            key,
            receiver: opts.receiver.clone(),
            alerts: HashMap::new(),
            next_flush: Instant::now() + opts.group_wait,
            has_flushed: false,
            muted_by: Vec::new(),
            wake: Arc::new(Notify::new()),
            cancel,
            group_wait_ms: opts.group_wait.as_millis() as i64,
        }
    }

    /// Adds or replaces an alert; flushes at once when the group has not flushed and the alert
    /// started more than `group_wait` ago.
    pub(super) fn insert(&mut self, alert: Arc<Alert>, now_ms: i64) {
        let late = alert.starts_at_ms + self.group_wait_ms < now_ms;
        self.alerts.insert(alert.fingerprint(), alert);
        if !self.has_flushed && late {
            self.next_flush = Instant::now();
            self.wake.notify_one();
        }
    }
}

/// The group labels of an alert on a route: the `group_by` labels it has, or all of them.
pub(super) fn group_labels(labels: &Labels, opts: &RouteOpts) -> Labels {
    if opts.group_by_all {
        return labels.clone();
    }
    let mut out = labels.clone();
    out.retain(|l| opts.group_by.iter().any(|n| n == l.name));
    out
}

/// Prometheus's `LabelSet.Before`: fewer labels first, then the first differing label in
/// name order (a set lacking that name first), then by value.
pub(super) fn labels_before(a: &Labels, b: &Labels) -> bool {
    labels_cmp(a, b) == Ordering::Less
}

fn labels_cmp(a: &Labels, b: &Labels) -> Ordering {
    if a.len() != b.len() {
        return a.len().cmp(&b.len());
    }
    let mut names: Vec<&str> = a.iter().map(|l| l.name).chain(b.iter().map(|l| l.name)).collect();
    names.sort_unstable();
    for name in names {
        match (a.get(name), b.get(name)) {
            (None, _) => return Ordering::Less,
            (_, None) => return Ordering::Greater,
            (Some(x), Some(y)) if x != y => return x.cmp(y),
            _ => {}
        }
    }
    Ordering::Equal
}

/// Alertmanager's `AlertSlice` order for notifications: by `job`, then `instance` (an alert
/// with the label before one without), then by label set.
pub(super) fn alert_order(a: &Alert, b: &Alert) -> Ordering {
    for key in ["job", "instance"] {
        match (a.labels.get(key), b.labels.get(key)) {
            (None, None) => continue,
            (None, Some(_)) => return Ordering::Greater,
            (Some(_), None) => return Ordering::Less,
            (Some(x), Some(y)) if x != y => return x.cmp(y),
            _ => {}
        }
    }
    labels_cmp(&a.labels, &b.labels)
}

/// What a flush sends: the group's alerts at flush time.
pub(super) struct Batch {
    pub(super) group_key: String,
    pub(super) group_labels: Labels,
    pub(super) alerts: Vec<Arc<Alert>>,
    /// The resolved alerts carried, with the update time they had, for removal after a
    /// successful flush.
    pub(super) resolved: Vec<(Fingerprint, i64)>,
    pub(super) now_ms: i64,
    /// The alerts' version (`State::alerts_version`) when the batch was taken: the alerts
    /// snapshot on disk must reach it before resolved alerts of the batch are logged as
    /// notified.
    pub(super) alerts_version: u64,
}

/// The group's task: waits for the flush time (or a wake-up), flushes, repeats until the group
/// is removed or its generation (config) is replaced.
pub(super) async fn run(
    inner: Arc<Inner>,
    generation: Arc<Generation>,
    id: GroupId,
    wake: Arc<Notify>,
    cancel: CancellationToken,
) {
    let opts = generation.tree.node(id.route).opts.clone();
    loop {
        let Some(next) = inner.with_group(&id, |g| g.next_flush) else { return };
        tokio::select! {
            biased;
            _ = cancel.cancelled() => return,
            _ = wake.notified() => continue,
            _ = tokio::time::sleep_until(next) => {}
        }
        let Some(batch) = begin_flush(&inner, &id, &opts) else { continue };
        let flushed = tokio::select! {
            biased;
            _ = cancel.cancelled() => return,
            // Boxed: the group's task stays small while it waits for its next flush.
            ok = Box::pin(pipeline::flush(&inner, &generation, &id, &batch)) => ok,
        };
        if flushed {
            inner.with_group(&id, |g| {
                for (fp, updated) in &batch.resolved {
                    if g.alerts.get(fp).is_some_and(|a| a.updated_at_ms == *updated) {
                        g.alerts.remove(fp);
                    }
                }
            });
        }
    }
}

/// Re-arms the timer and takes the batch, or `None` when it is not time yet (woken by an
/// insert that did not move the flush time) or the group is empty.
fn begin_flush(inner: &Inner, id: &GroupId, opts: &RouteOpts) -> Option<Batch> {
    let now_ms = inner.clock.now_ms();
    let mut state = inner.lock_state();
    let alerts_version = state.alerts_version;
    let g = state.groups.get_mut(id)?;
    let now = Instant::now();
    if now < g.next_flush {
        return None;
    }
    g.next_flush = now + opts.group_interval;
    g.has_flushed = true;
    if g.alerts.is_empty() {
        return None;
    }
    let mut resolved = Vec::new();
    let mut alerts: Vec<Arc<Alert>> = g
        .alerts
        .iter()
        .map(|(fp, a)| {
            if a.resolved_at(now_ms) {
                resolved.push((*fp, a.updated_at_ms));
            }
            Arc::clone(a)
        })
        .collect();
    alerts.sort_by(|a, b| alert_order(a, b));
    Some(Batch {
        group_key: g.key.clone(),
        group_labels: g.labels.clone(),
        alerts,
        resolved,
        now_ms,
        alerts_version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(pairs: &[(&str, &str)]) -> Alert {
        Alert {
            labels: Labels::from_pairs(pairs.iter().copied()),
            annotations: Labels::new(),
            starts_at_ms: 0,
            ends_at_ms: 0,
            generator_url: String::new(),
            updated_at_ms: 0,
            timeout: false,
        }
    }

    #[test]
    fn labels_before_follows_prometheus() {
        let l = |p: &[(&str, &str)]| Labels::from_pairs(p.iter().copied());
        assert!(labels_before(&l(&[("a", "1")]), &l(&[("a", "1"), ("b", "1")])), "fewer labels first");
        assert!(labels_before(&l(&[("a", "1")]), &l(&[("a", "2")])));
        // The set lacking the first name (in name order) of the two sorts first.
        assert!(labels_before(&l(&[("b", "1")]), &l(&[("a", "9")])));
        assert!(!labels_before(&l(&[("a", "9")]), &l(&[("b", "1")])));
        assert!(!labels_before(&l(&[("a", "1")]), &l(&[("a", "1")])));
    }

    #[test]
    fn alert_order_prefers_job_then_instance() {
        let mut v = [
            alert(&[("alertname", "A")]),
            alert(&[("alertname", "B"), ("job", "b")]),
            alert(&[("alertname", "C"), ("job", "a"), ("instance", "2")]),
            alert(&[("alertname", "D"), ("job", "a"), ("instance", "1")]),
        ];
        v.sort_by(alert_order);
        let names: Vec<&str> = v.iter().map(|a| a.name()).collect();
        assert_eq!(names, ["D", "C", "B", "A"]);
    }
}
