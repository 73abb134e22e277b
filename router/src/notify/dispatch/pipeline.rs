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
//!      non-retryable error stops at once. Each attempt is also bounded by the attempt
//!      timeout, so a receiver that never answers is retried rather than holding the flush;
//!    - **set notifies**: a success writes the log entry (firing and resolved alerts, expiring
//!      after twice the repeat interval) and, with a data directory, syncs the log to disk
//!      before the flush completes. A failure leaves the log as it was, so the next flush
//!      tries again.
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
}

/// Runs the pipeline for a group's batch; `true` when it succeeded.
pub(super) async fn flush(
    inner: &Arc<Inner>,
    generation: &Arc<Generation>,
    id: &GroupId,
    batch: &Batch,
) -> bool {
    let opts = &generation.tree.node(id.0).opts;
    let now_ms = batch.now_ms;
    let flush_timeout = opts.group_interval.max(MIN_FLUSH_TIMEOUT);
    let deadline = Instant::now() + flush_timeout;

    // 1. Inhibition.
    let (alerts, group_key, group_labels) = {
        let state = inner.lock_state();
        let alerts: Vec<Alert> = batch
            .alerts
            .iter()
            .filter(|a| {
                state.inhibitor.is_empty() || state.inhibitor.inhibited_by(&a.labels, now_ms).is_empty()
            })
            .cloned()
            .collect();
        let Some(group) = state.groups.get(id) else { return true };
        (alerts, group.key.clone(), group.labels.clone())
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
        tracing::debug!(group = %group_key, "notifications not sent: the route is muted by a time interval");
        return true;
    }

    // 4. Silences.
    let alerts: Vec<Alert> =
        alerts.into_iter().filter(|a| inner.silences.mutes(&a.labels).is_empty()).collect();
    if alerts.is_empty() {
        return true;
    }

    // 5. Per integration.
    let Some(integrations) = generation.integrations.get(&opts.receiver).filter(|i| !i.is_empty()) else {
        return true;
    };
    let ctx = Arc::new(FlushContext {
        receiver: opts.receiver.clone(),
        group_key,
        group_labels,
        repeat_interval_ms: opts.repeat_interval.as_millis() as i64,
        now_ms,
        deadline,
        flush_timeout,
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
    alerts: Arc<Vec<Alert>>,
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

    let to_send: Vec<Alert> = if send_resolved {
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
        let (attempts, outcome) = deliver(&inner, integration.as_ref(), &key, &ctx, &notification).await;
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

    inner.lock_nflog().log(
        &key,
        &ctx.group_key,
        firing,
        resolved,
        2 * ctx.repeat_interval_ms,
        inner.clock.now_ms(),
    );
    inner.persist_nflog().await;
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
        let limit = (ctx.deadline - now).min(inner.attempt_timeout);
        let outcome = tokio::time::timeout(limit, integration.notify(notification)).await;
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
            Err(_) => (format!("no answer within {limit:?}"), None),
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
