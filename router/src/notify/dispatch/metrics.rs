//! Self-metrics of the notification side, modelled on Alertmanager's (`alertmanager_*`) and
//! exported as `harrier_router_alertmanager_*` (`harrier_router_notifications_*` already
//! names the Prometheus-style notifier's metrics).

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

type Labels = Vec<(String, String)>;

fn latency_histogram() -> Histogram {
    // Alertmanager's buckets for notification latency.
    Histogram::new([1.0, 5.0, 10.0, 15.0, 20.0])
}

/// The dispatcher's metrics. [`DispatchMetrics::default`] is unregistered (tests, embedding).
#[derive(Clone)]
pub struct DispatchMetrics {
    pub(crate) alerts_received: Family<Labels, Counter>,
    pub(crate) alerts_rejected: Counter,
    pub(crate) alerts: Gauge,
    pub(crate) aggregation_groups: Gauge,
    pub(crate) notifications: Family<Labels, Counter>,
    pub(crate) notifications_failed: Family<Labels, Counter>,
    pub(crate) notification_requests: Family<Labels, Counter>,
    pub(crate) notification_requests_failed: Family<Labels, Counter>,
    pub(crate) notification_latency: Family<Labels, Histogram, fn() -> Histogram>,
    pub(crate) nflog_writes: Counter,
    pub(crate) nflog_write_errors: Counter,
    pub(crate) alerts_snapshots: Counter,
    pub(crate) alerts_snapshot_errors: Counter,
    pub(crate) state_load_errors: Counter,
}

impl Default for DispatchMetrics {
    fn default() -> Self {
        DispatchMetrics {
            alerts_received: Family::default(),
            alerts_rejected: Counter::default(),
            alerts: Gauge::default(),
            aggregation_groups: Gauge::default(),
            notifications: Family::default(),
            notifications_failed: Family::default(),
            notification_requests: Family::default(),
            notification_requests_failed: Family::default(),
            notification_latency: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
            nflog_writes: Counter::default(),
            nflog_write_errors: Counter::default(),
            alerts_snapshots: Counter::default(),
            alerts_snapshot_errors: Counter::default(),
            state_load_errors: Counter::default(),
        }
    }
}

pub(crate) fn integration_label(integration: &str) -> Labels {
    vec![("integration".to_string(), integration.to_string())]
}

pub(crate) fn status_label(status: &str) -> Labels {
    vec![("status".to_string(), status.to_string())]
}

impl DispatchMetrics {
    pub fn register(registry: &mut Registry) -> DispatchMetrics {
        let m = DispatchMetrics::default();
        let r = registry.sub_registry_with_prefix("harrier_router_alertmanager");
        r.register(
            "alerts_received",
            "Alerts received, by status (firing or resolved)",
            m.alerts_received.clone(),
        );
        r.register(
            "alerts_rejected",
            "New alerts refused because the alert store was full",
            m.alerts_rejected.clone(),
        );
        r.register("alerts", "Alerts in the store (firing, and resolved until collected)", m.alerts.clone());
        r.register("dispatcher_aggregation_groups", "Aggregation groups", m.aggregation_groups.clone());
        r.register(
            "notifications",
            "Notifications attempted (one per flush and integration, retries included)",
            m.notifications.clone(),
        );
        r.register(
            "notifications_failed",
            "Notifications that failed after their retries",
            m.notifications_failed.clone(),
        );
        r.register(
            "notification_requests",
            "Notification requests (each attempt)",
            m.notification_requests.clone(),
        );
        r.register(
            "notification_requests_failed",
            "Notification requests that failed or timed out",
            m.notification_requests_failed.clone(),
        );
        r.register(
            "notification_latency_seconds",
            "Time each notification request took",
            m.notification_latency.clone(),
        );
        r.register(
            "nflog_writes",
            "Notification log writes to disk (each covers the deliveries logged since the last)",
            m.nflog_writes.clone(),
        );
        r.register(
            "nflog_write_errors",
            "Notification log writes to disk that failed",
            m.nflog_write_errors.clone(),
        );
        r.register("alerts_snapshots", "Alert snapshots written to disk", m.alerts_snapshots.clone());
        r.register(
            "alerts_snapshot_errors",
            "Alert snapshots to disk that failed",
            m.alerts_snapshot_errors.clone(),
        );
        r.register(
            "state_load_errors",
            "State files (notification log, alerts) unreadable or corrupt at start, skipped",
            m.state_load_errors.clone(),
        );
        m
    }
}
