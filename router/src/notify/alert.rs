//! The alert as the notification side sees it (Alertmanager's `types.Alert`), its
//! fingerprint, how two versions of one alert merge, and the views the API and the web page
//! read.
//!
//! Times are unix milliseconds; `0` means "not set" (Go's zero time). Alertmanager keeps
//! nanoseconds, but every sender (Prometheus, vmalert, Harrier's rules) sends milliseconds.

use harrier_telemetry::model::Labels;
use std::fmt;
use std::sync::Arc;

/// Alertmanager's fingerprint of a label set: FNV-1a 64 over the labels sorted by name, each
/// name and value followed by the byte 0xff (`model.LabelSet.Fingerprint`). Printed as 16 hex
/// digits, as in API responses and webhook payloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Fingerprint(pub u64);

impl Fingerprint {
    pub fn of(labels: &Labels) -> Fingerprint {
        const OFFSET: u64 = 14695981039346656037;
        const PRIME: u64 = 1099511628211;
        let mut h = OFFSET;
        let mut add = |bytes: &[u8]| {
            for &b in bytes {
                h ^= u64::from(b);
                h = h.wrapping_mul(PRIME);
            }
        };
        // `Labels` iterate sorted by name.
        for l in labels.iter() {
            add(l.name.as_bytes());
            add(&[0xff]);
            add(l.value.as_bytes());
            add(&[0xff]);
        }
        Fingerprint(h)
    }

    /// Parses the 16-hex-digit form.
    pub fn parse(s: &str) -> Option<Fingerprint> {
        u64::from_str_radix(s, 16).ok().map(Fingerprint)
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// An alert received by the router (from its own rules or over the v2 API).
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub labels: Labels,
    pub annotations: Labels,
    pub starts_at_ms: i64,
    /// `0`: not set. Set by the sender (resolved, or a deadline), or by the receiving side to
    /// now + `resolve_timeout` when the sender gave none (then `timeout` is true).
    pub ends_at_ms: i64,
    pub generator_url: String,
    /// When the router last received this alert.
    pub updated_at_ms: i64,
    /// `ends_at_ms` was set from `resolve_timeout`, not by the sender.
    pub timeout: bool,
}

impl Alert {
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(&self.labels)
    }

    /// The alert's name (`alertname` label), "" when missing.
    pub fn name(&self) -> &str {
        self.labels.get("alertname").unwrap_or("")
    }

    /// Whether the alert is resolved at `now_ms` (`ends_at` set and not after now).
    pub fn resolved_at(&self, now_ms: i64) -> bool {
        self.ends_at_ms != 0 && self.ends_at_ms <= now_ms
    }

    /// Merges two versions of the same alert as Alertmanager does (`types.Alert.Merge`): the
    /// more recently updated one wins, keeping the earliest start; if the newer one is
    /// resolved, the later of two explicit resolve times wins; if it is firing, a later end
    /// time of the older one wins unless that one came from `resolve_timeout`.
    pub fn merge(&self, other: &Alert, now_ms: i64) -> Alert {
        let (older, newer) =
            if other.updated_at_ms < self.updated_at_ms { (other, self) } else { (self, other) };
        let mut res = newer.clone();
        if older.starts_at_ms < newer.starts_at_ms {
            res.starts_at_ms = older.starts_at_ms;
        }
        if newer.resolved_at(now_ms) {
            if older.resolved_at(now_ms) && older.ends_at_ms > newer.ends_at_ms {
                res.ends_at_ms = older.ends_at_ms;
            }
        } else if older.ends_at_ms > newer.ends_at_ms && !older.timeout {
            res.ends_at_ms = older.ends_at_ms;
        }
        res
    }
}

/// Where an alert stands in the notification pipeline (Alertmanager's marker states).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AlertState {
    /// Received, not yet through the pipeline.
    #[default]
    Unprocessed,
    /// Goes to its receivers.
    Active,
    /// Silenced, inhibited or muted by a time interval.
    Suppressed,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Unprocessed => "unprocessed",
            AlertState::Active => "active",
            AlertState::Suppressed => "suppressed",
        }
    }
}

/// An alert's status, as the v2 API reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AlertStatus {
    pub state: AlertState,
    /// IDs of the silences muting it.
    pub silenced_by: Vec<String>,
    /// Fingerprints (16 hex digits) of the alerts inhibiting it.
    pub inhibited_by: Vec<String>,
    /// Names of the time intervals muting it.
    pub muted_by: Vec<String>,
}

/// An alert with its status and the receivers its routes send to (the API's `GettableAlert`).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertView {
    pub alert: Arc<Alert>,
    pub fingerprint: Fingerprint,
    pub status: AlertStatus,
    pub receivers: Vec<String>,
}

/// An aggregation group and its alerts (the API's `AlertGroup`).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupView {
    pub labels: Labels,
    pub receiver: String,
    pub group_key: String,
    /// Names of the time intervals that muted this group at its last flush.
    pub muted_by: Vec<String>,
    pub alerts: Vec<AlertView>,
}

/// One notification to one receiver: the alerts of an aggregation group at flush time.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// The receiver's name as configured.
    pub receiver: String,
    /// Alertmanager's group key: `<route key>:<group labels>`, e.g.
    /// `{}/{severity="page"}:{alertname="InstanceDown"}`.
    pub group_key: String,
    pub group_labels: Labels,
    /// The group's alerts (firing and resolved), sorted by labels; shared with the alert
    /// store and the aggregation group.
    pub alerts: Vec<Arc<Alert>>,
    /// The time the notification is built (decides firing vs resolved).
    pub now_ms: i64,
    /// The router's external URL (Alertmanager's `--web.external-url`).
    pub external_url: String,
}

impl Notification {
    pub fn firing(&self) -> impl Iterator<Item = &Alert> {
        self.alerts.iter().map(|a| &**a).filter(|a| !a.resolved_at(self.now_ms))
    }

    pub fn resolved(&self) -> impl Iterator<Item = &Alert> {
        self.alerts.iter().map(|a| &**a).filter(|a| a.resolved_at(self.now_ms))
    }

    /// `firing` when any alert fires, else `resolved`.
    pub fn status(&self) -> &'static str {
        if self.firing().next().is_some() { "firing" } else { "resolved" }
    }
}

/// Alertmanager's group key format: route key, `:`, and the group labels as
/// `model.LabelSet.String()` prints them (`{a="1", b="2"}`, sorted, Go-quoted values).
pub fn group_key(route_key: &str, group_labels: &Labels) -> String {
    let pairs: Vec<String> = group_labels
        .iter()
        .map(|l| format!("{}={}", l.name, crate::template::gofmt::quote(l.value)))
        .collect();
    format!("{route_key}:{{{}}}", pairs.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(updated: i64, starts: i64, ends: i64, timeout: bool) -> Alert {
        Alert {
            labels: Labels::from_pairs([("alertname", "A")]),
            annotations: Labels::new(),
            starts_at_ms: starts,
            ends_at_ms: ends,
            generator_url: String::new(),
            updated_at_ms: updated,
            timeout,
        }
    }

    #[test]
    fn fingerprint_matches_prometheus_model() {
        // Values from prometheus/common's model tests (labelset fingerprints).
        assert_eq!(Fingerprint::of(&Labels::new()).to_string(), "cbf29ce484222325");
        let ls = Labels::from_pairs([("foo", "bar")]);
        assert_eq!(Fingerprint::of(&ls), Fingerprint::of(&Labels::from_pairs([("foo", "bar")])));
        assert_ne!(Fingerprint::of(&ls), Fingerprint::of(&Labels::from_pairs([("foo", "baz")])));
        assert_eq!(Fingerprint::parse(&Fingerprint::of(&ls).to_string()), Some(Fingerprint::of(&ls)));
    }

    #[test]
    fn merge_follows_alertmanager() {
        let now = 1_000;
        // Newer firing alert keeps the earliest start.
        let m = alert(10, 50, 0, false).merge(&alert(20, 60, 0, false), now);
        assert_eq!((m.starts_at_ms, m.updated_at_ms), (50, 20));
        // An older explicit end time later than the newer one's wins while firing...
        let m = alert(10, 50, 5_000, false).merge(&alert(20, 50, 3_000, true), now);
        assert_eq!(m.ends_at_ms, 5_000);
        // ...but not when it came from resolve_timeout.
        let m = alert(10, 50, 5_000, true).merge(&alert(20, 50, 3_000, true), now);
        assert_eq!(m.ends_at_ms, 3_000);
        // Both resolved: the later resolve time wins; argument order does not matter.
        let m = alert(20, 50, 900, false).merge(&alert(10, 50, 950, false), now);
        assert_eq!(m.ends_at_ms, 950);
    }

    #[test]
    fn group_key_format() {
        let labels = Labels::from_pairs([("severity", "page"), ("alertname", "Down \"x\"")]);
        assert_eq!(
            group_key("{}/{a=\"b\"}", &labels),
            r#"{}/{a="b"}:{alertname="Down \"x\"", severity="page"}"#
        );
        assert_eq!(group_key("{}", &Labels::new()), "{}:{}");
    }
}
