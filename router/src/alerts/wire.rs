//! The body of `POST /api/v2/alerts`, byte for byte what Prometheus's notifier sends (up to
//! JSON string escaping: Go escapes `<`, `>` and `&` as `\u003c`…, serde_json does not; both
//! decode to the same strings).
//!
//! Prometheus converts each alert to Alertmanager's `models.PostableAlert` and marshals it;
//! the generated model concatenates two objects, so the keys come out in this order:
//! `annotations` (omitted when empty: `omitempty` on a map), `endsAt`, `startsAt`,
//! `generatorURL` (omitted when empty), `labels` (always, `{}` when empty). Maps are sorted by
//! key, as Go's `encoding/json` writes them and as [`Labels`] iterates.
//!
//! Times are `strfmt.DateTime`, which marshals with `RFC3339Millis`
//! (`2006-01-02T15:04:05.000Z07:00`): always three fractional digits, not Go's trimmed
//! `time.Time` form. A time that is not set is Go's zero `time.Time`, which `omitempty` does not
//! omit (it is a struct): `0001-01-01T00:00:00.000Z`. Alertmanager reads that as "not set".

use super::Alert;
use crate::api::alertmanager::json::{GO_ZERO_TIME_MS, format_date_time};
use harrier_telemetry::model::Labels;
use serde::ser::{Serialize, SerializeMap, Serializer};

/// Formats unix milliseconds as `strfmt.DateTime` does (UTC, `RFC3339Millis`); `None` is Go's
/// zero time.
pub(super) fn format_time(ms: Option<i64>) -> String {
    format_date_time(ms.unwrap_or(GO_ZERO_TIME_MS))
}

/// A label set as a JSON object.
struct LabelMap<'a>(&'a Labels);

impl Serialize for LabelMap<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for label in self.0 {
            map.serialize_entry(label.name, label.value)?;
        }
        map.end()
    }
}

/// One `PostableAlert`.
struct WireAlert<'a>(&'a Alert);

impl Serialize for WireAlert<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let a = self.0;
        let mut map = s.serialize_map(None)?;
        if !a.annotations.is_empty() {
            map.serialize_entry("annotations", &LabelMap(&a.annotations))?;
        }
        map.serialize_entry("endsAt", &format_time(a.ends_at_ms))?;
        map.serialize_entry("startsAt", &format_time(a.starts_at_ms))?;
        if !a.generator_url.is_empty() {
            map.serialize_entry("generatorURL", &a.generator_url)?;
        }
        map.serialize_entry("labels", &LabelMap(&a.labels))?;
        map.end()
    }
}

/// The JSON array of `PostableAlert`s for `alerts`.
pub(super) fn encode_alerts(alerts: &[Alert]) -> Result<Vec<u8>, serde_json::Error> {
    let wire: Vec<WireAlert<'_>> = alerts.iter().map(WireAlert).collect();
    serde_json::to_vec(&wire)
}
