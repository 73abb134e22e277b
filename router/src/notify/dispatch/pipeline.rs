//! The notification pipeline of one flush (Alertmanager's `notify` stages), in upstream order:
//!
//! 1. **Inhibit**: alerts inhibited by a firing source alert are dropped.
//! 2. **Time active**: when the route has `active_time_intervals` and now is in none of them,
//!    nothing is sent (the group is marked muted by those intervals).
//! 3. **Time mute**: when now is in one of the route's `mute_time_intervals`, nothing is sent
//!    (the group is marked muted by the intervals containing now).
//! 4. **Silence**: alerts matched by an active silence are dropped.
//! 5. Per integration of the receiver, concurrently:
//!    - **dedup** against the notification log ([`nflog::needs_update`]);
//!    - resolved alerts are stripped when the integration does not `send_resolved` (with only
//!      resolved alerts left nothing is sent, but the log is still written so it forgets the
//!      firing alerts);
//!    - **retry** with exponential backoff (from 500ms, doubling with jitter, at most 60s, or
//!      longer when the receiver sent `Retry-After`) until the flush deadline, max(group
//!      interval, 10s) after the flush started, as Alertmanager's context timeout; a
//!      non-retryable error stops at once. The deadline is the only bound the pipeline puts
//!      on an attempt, as upstream: each integration applies its own configured timeout (a
//!      webhook's `timeout`, email's session), so a receiver that is slow but succeeds is
//!      not cut off and sent the same notification again;
//!    - **set notifies**: a success writes the log entry (firing and resolved alerts, expiring
//!      after twice the repeat interval) and, with a data directory, waits until the log's
//!      writer has synced it to disk before the flush completes (deliveries finishing together
//!      share one write). When the batch carried resolved alerts, the alerts snapshot is
//!      first brought up to the batch (so a crash cannot restore as firing an alert whose
//!      resolved notification the log already has). A failure leaves the log as it was, so
//!      the next flush tries again.
//!
//! A stage that leaves no alert ends the pipeline successfully. The flush succeeds when every
//! integration succeeded (or had nothing to send); only then are the resolved alerts it
//! carried removed from the group.

use super::group::{Batch, GroupId};
use super::metrics::integration_label;
use super::nflog::{self, ReceiverKey};
use super::{Generation, Inner};
use crate::notify::DeliveryRecord;
use crate::notify::alert::{Alert, Notification};
use crate::notify::receivers::Integration;
use harrier_telemetry::backoff::Backoff;
use harrier_telemetry::model::Labels;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Alertmanager's `notify.MinTimeout`: the least time a flush gets.
const MIN_FLUSH_TIMEOUT: Duration = Duration::from_secs(10);
const BACKOFF_MIN: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// What every integration of one flush shares.
struct FlushContext {
    receiver: String,
    group_key: String,
    group_labels: Labels,
    repeat_interval_ms: i64,
    now_ms: i64,
    deadline: Instant,
    flush_timeout: Duration,
    alerts_version: u64,
}

/// Runs the pipeline for a group's batch; `true` when it succeeded.
pub(super) async fn flush(
    inner: &Arc<Inner>,
    generation: &Arc<Generation>,
    id: &GroupId,
    batch: &Batch,
) -> bool {
    let opts = &generation.tree.node(id.route).opts;
    let now_ms = batch.now_ms;
    let flush_timeout = opts.group_interval.max(MIN_FLUSH_TIMEOUT);
    let deadline = Instant::now() + flush_timeout;

    // 1. Inhibition.
    let alerts: Vec<Arc<Alert>> = {
        let inhibitor = inner.read_inhibitor();
        batch
            .alerts
            .iter()
            .filter(|a| inhibitor.is_empty() || inhibitor.inhibited_by(&a.labels, now_ms).is_empty())
            .cloned()
            .collect()
    };
    if alerts.is_empty() {
        return true;
    }

    // 2. and 3. Time intervals.
    let mut muted_by = Vec::new();
    if !opts.active_time_intervals.is_empty()
        && !opts.active_time_intervals.iter().any(|name| generation.time_intervals.contains(name, now_ms))
    {
        muted_by = opts.active_time_intervals.clone();
    } else if !opts.mute_time_intervals.is_empty() {
        muted_by = opts
            .mute_time_intervals
            .iter()
            .filter(|name| generation.time_intervals.contains(name, now_ms))
            .cloned()
            .collect();
    }
    let muted = !muted_by.is_empty();
    inner.with_group(id, |g| g.muted_by = muted_by);
    if muted {
        tracing::debug!(group = %batch.group_key, "notifications not sent: the route is muted by a time interval");
        return true;
    }

    // 4. Silences.
    let silenced = inner.silenced_by(alerts.iter().map(|a| (a.fingerprint(), &a.labels)));
    let alerts: Vec<Arc<Alert>> =
        alerts.into_iter().zip(silenced).filter(|(_, by)| by.is_empty()).map(|(a, _)| a).collect();
    if alerts.is_empty() {
        return true;
    }

    // 5. Per integration.
    let Some(integrations) = generation.integrations.get(&opts.receiver).filter(|i| !i.is_empty()) else {
        return true;
    };
    let ctx = Arc::new(FlushContext {
        receiver: opts.receiver.clone(),
        group_key: batch.group_key.clone(),
        group_labels: batch.group_labels.clone(),
        repeat_interval_ms: opts.repeat_interval.as_millis() as i64,
        now_ms,
        deadline,
        flush_timeout,
        alerts_version: batch.alerts_version,
    });
    let alerts = Arc::new(alerts);
    let mut tasks = tokio::task::JoinSet::new();
    for (position, integration) in integrations.iter().enumerate() {
        let index = integrations[..position].iter().filter(|i| i.name() == integration.name()).count();
        let key = ReceiverKey {
            receiver: opts.receiver.clone(),
            integration: integration.name().to_string(),
            index: index as u32,
        };
        tasks.spawn(notify_integration(
            Arc::clone(inner),
            Arc::clone(integration),
            key,
            Arc::clone(&ctx),
            Arc::clone(&alerts),
        ));
    }
    let mut ok = true;
    while let Some(result) = tasks.join_next().await {
        ok &= result.unwrap_or(false);
    }
    ok
}

/// Dedup, retry and set-notifies for one integration; `true` on success or nothing to do.
async fn notify_integration(
    inner: Arc<Inner>,
    integration: Arc<dyn Integration>,
    key: ReceiverKey,
    ctx: Arc<FlushContext>,
    alerts: Arc<Vec<Arc<Alert>>>,
) -> bool {
    let mut firing = Vec::new();
    let mut resolved = Vec::new();
    for a in alerts.iter() {
        if a.resolved_at(ctx.now_ms) {
            resolved.push(a.fingerprint().0)
        } else {
            firing.push(a.fingerprint().0)
        }
    }
    let firing_set: HashSet<u64> = firing.iter().copied().collect();
    let resolved_set: HashSet<u64> = resolved.iter().copied().collect();
    let send_resolved = integration.send_resolved();
    let needed = {
        let log = inner.lock_nflog();
        let entry = log.query(&ctx.group_key, &key);
        nflog::needs_update(
            entry,
            &firing_set,
            &resolved_set,
            send_resolved,
            ctx.repeat_interval_ms,
            ctx.now_ms,
        )
    };
    if !needed {
        return true;
    }

    let to_send: Vec<Arc<Alert>> = if send_resolved {
        alerts.to_vec()
    } else {
        alerts.iter().filter(|a| !a.resolved_at(ctx.now_ms)).cloned().collect()
    };
    if !to_send.is_empty() {
        let notification = Notification {
            receiver: ctx.receiver.clone(),
            group_key: ctx.group_key.clone(),
            group_labels: ctx.group_labels.clone(),
            alerts: to_send,
            now_ms: ctx.now_ms,
            external_url: inner.external_url.clone(),
        };
        let label = integration_label(integration.name());
        inner.metrics.notifications.get_or_create(&label).inc();
        // Boxed: a task waiting for its integration's delivery slot stays small (every group
        // can be flushing at once, see `Limited`).
        let (attempts, outcome) =
            Box::pin(deliver(&inner, integration.as_ref(), &key, &ctx, &notification)).await;
        inner.record_delivery(DeliveryRecord {
            at_ms: inner.clock.now_ms(),
            receiver: ctx.receiver.clone(),
            integration: key.integration.clone(),
            index: key.index as usize,
            group_key: ctx.group_key.clone(),
            firing: notification.firing().count(),
            resolved: notification.resolved().count(),
            attempts,
            error: outcome.clone().err(),
        });
        if let Err(error) = outcome {
            inner.metrics.notifications_failed.get_or_create(&label).inc();
            tracing::error!(
                receiver = %ctx.receiver, integration = %format!("{}[{}]", key.integration, key.index),
                group = %ctx.group_key, attempts, %error, "notification failed; the next flush tries again"
            );
            return false;
        }
    }

    if !resolved.is_empty() {
        // The log is about to say these alerts were notified resolved: the alerts on disk
        // must not be older than that, or a crash would restore them firing.
        inner.sync_alerts(ctx.alerts_version).await;
    }
    let version = inner.lock_nflog().log(
        &key,
        &ctx.group_key,
        firing,
        resolved,
        2 * ctx.repeat_interval_ms,
        inner.clock.now_ms(),
    );
    inner.sync_nflog(version).await;
    true
}

/// Sends with retries until success, a non-retryable error or the flush deadline; returns the
/// number of attempts and the outcome.
async fn deliver(
    inner: &Inner,
    integration: &dyn Integration,
    key: &ReceiverKey,
    ctx: &FlushContext,
    notification: &Notification,
) -> (u32, Result<(), String>) {
    let label = integration_label(integration.name());
    let mut backoff = Backoff::new(BACKOFF_MIN, BACKOFF_MAX);
    let mut attempts = 0u32;
    let mut last_error: Option<String> = None;
    loop {
        let now = Instant::now();
        if now >= ctx.deadline {
            let error =
                last_error.unwrap_or_else(|| "flush deadline passed before the first attempt".to_string());
            return (attempts, Err(format!("{error} (gave up after {attempts} attempts)")));
        }
        attempts += 1;
        let outcome = tokio::time::timeout_at(ctx.deadline, integration.notify(notification)).await;
        inner.metrics.notification_latency.get_or_create(&label).observe(now.elapsed().as_secs_f64());
        inner.metrics.notification_requests.get_or_create(&label).inc();
        let (error, retry_after) = match outcome {
            Ok(Ok(())) => {
                if attempts > 1 {
                    tracing::info!(receiver = %ctx.receiver, integration = %key.integration, attempts, "notify success");
                }
                return (attempts, Ok(()));
            }
            Ok(Err(e)) if !e.retryable => {
                inner.metrics.notification_requests_failed.get_or_create(&label).inc();
                return (attempts, Err(format!("{} (not retryable)", e.message)));
            }
            Ok(Err(e)) => (e.message, e.retry_after),
            Err(_) => {
                inner.metrics.notification_requests_failed.get_or_create(&label).inc();
                let error = format!("no answer before the flush deadline ({:?})", ctx.flush_timeout);
                return (attempts, Err(format!("{error} (gave up after {attempts} attempts)")));
            }
        };
        inner.metrics.notification_requests_failed.get_or_create(&label).inc();
        if last_error.as_deref() != Some(error.as_str()) {
            tracing::warn!(
                receiver = %ctx.receiver, integration = %format!("{}[{}]", key.integration, key.index),
                attempts, %error, "notify attempt failed, will retry"
            );
        }
        last_error = Some(error);
        let delay = backoff.next_delay_with_retry_after(retry_after, ctx.flush_timeout);
        if Instant::now() + delay >= ctx.deadline {
            let error = last_error.unwrap_or_default();
            return (attempts, Err(format!("{error} (gave up after {attempts} attempts: flush deadline)")));
        }
        tokio::time::sleep(delay).await;
    }
}
