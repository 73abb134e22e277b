//! The v2 API's JSON shapes (`api/v2/openapi.yaml`), written with the key order go-swagger
//! produces (each `allOf` part in turn, keys sorted within a part), and the request bodies it
//! reads, with go-swagger's error bodies.
//!
//! Times are written as go-openapi's `strfmt.DateTime` does: RFC 3339 with milliseconds, here
//! always UTC (`2026-01-02T03:04:05.678Z`); an unset time (`0` inside the router) is Go's zero
//! time `0001-01-01T00:00:00.000Z`. Times are read in RFC 3339 with any offset and precision;
//! Go's zero time reads as unset.

use crate::notify::{AlertState, AlertView, Silence, SilenceState};
use crate::promql::functions::time::civil_from_days;
use crate::route::matchers::MatchType;
use harrier_telemetry::model::Labels;
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use std::collections::BTreeMap;

/// Go's zero time (`0001-01-01T00:00:00Z`) in unix milliseconds.
pub const GO_ZERO_TIME_MS: i64 = -62_135_596_800_000;

/// Formats unix milliseconds as go-openapi's `strfmt.DateTime` marshals a UTC time (Go's
/// `RFC3339Millis`, `2006-01-02T15:04:05.000Z07:00`): always three fractional digits, and the
/// year as Go's `2006` writes it (at least four digits, a minus sign before the padding). The
/// one formatter of this format: the v2 API here and the Prometheus-style notifier
/// (`alerts::wire`) use it.
pub fn format_date_time(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let ms_of_day = ms.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    let secs = ms_of_day / 1000;
    let millis = ms_of_day % 1000;
    let (hour, minute, second) = (secs / 3600, secs / 60 % 60, secs % 60);
    let year = if year < 0 { format!("-{:04}", -year) } else { format!("{year:04}") };
    format!("{year}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{millis:03}Z")
}

/// A router time (unix milliseconds, `0` = unset) as the API writes it: unset is Go's zero
/// time.
pub fn format_time(ms: i64) -> String {
    format_date_time(if ms == 0 { GO_ZERO_TIME_MS } else { ms })
}

/// Parses an RFC 3339 time to unix milliseconds (truncated); Go's zero time is `0` (unset).
pub fn parse_time(s: &str) -> Result<i64, String> {
    let t = chrono::DateTime::parse_from_rfc3339(s).map_err(|e| format!("parsing time {s:?}: {e}"))?;
    let ms = t.timestamp_millis();
    Ok(if ms == GO_ZERO_TIME_MS { 0 } else { ms })
}

/// A label set as a JSON object with sorted keys (Go's map encoding).
pub struct LabelsJson<'a>(pub &'a Labels);

impl Serialize for LabelsJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for l in self.0.iter() {
            map.serialize_entry(l.name, l.value)?;
        }
        map.end()
    }
}

#[derive(Serialize)]
pub struct ReceiverJson<'a> {
    pub name: &'a str,
}

#[derive(Serialize)]
pub struct AlertStatusJson<'a> {
    #[serde(rename = "inhibitedBy")]
    pub inhibited_by: &'a [String],
    #[serde(rename = "mutedBy")]
    pub muted_by: &'a [String],
    #[serde(rename = "silencedBy")]
    pub silenced_by: &'a [String],
    pub state: &'static str,
}

/// `gettableAlert`.
#[derive(Serialize)]
pub struct GettableAlert<'a> {
    pub annotations: LabelsJson<'a>,
    #[serde(rename = "endsAt")]
    pub ends_at: String,
    pub fingerprint: String,
    pub receivers: Vec<ReceiverJson<'a>>,
    #[serde(rename = "startsAt")]
    pub starts_at: String,
    pub status: AlertStatusJson<'a>,
    #[serde(rename = "updatedAt")]
    pub updated_at: String,
    #[serde(rename = "generatorURL", skip_serializing_if = "str::is_empty")]
    pub generator_url: &'a str,
    pub labels: LabelsJson<'a>,
}

impl<'a> GettableAlert<'a> {
    /// The alert with its status as the view has it (`GET /alerts`).
    pub fn new(view: &'a AlertView) -> Self {
        GettableAlert::with_status(view, view.status.state, &view.status.muted_by)
    }

    /// The alert inside an aggregation group that time intervals `group_muted_by` muted
    /// (`GET /alerts/groups`): upstream's `AlertToOpenAPIAlert` with the group's mutedBy,
    /// which reports a muted alert `suppressed`.
    pub fn in_group(view: &'a AlertView, group_muted_by: &'a [String]) -> Self {
        let state = if group_muted_by.is_empty() { view.status.state } else { AlertState::Suppressed };
        GettableAlert::with_status(view, state, group_muted_by)
    }

    fn with_status(view: &'a AlertView, state: AlertState, muted_by: &'a [String]) -> Self {
        let a = &view.alert;
        GettableAlert {
            annotations: LabelsJson(&a.annotations),
            ends_at: format_time(a.ends_at_ms),
            fingerprint: view.fingerprint.to_string(),
            receivers: view.receivers.iter().map(|r| ReceiverJson { name: r }).collect(),
            starts_at: format_time(a.starts_at_ms),
            status: AlertStatusJson {
                inhibited_by: &view.status.inhibited_by,
                muted_by,
                silenced_by: &view.status.silenced_by,
                state: state.as_str(),
            },
            updated_at: format_time(a.updated_at_ms),
            generator_url: &a.generator_url,
            labels: LabelsJson(&a.labels),
        }
    }
}

/// `alertGroup`.
#[derive(Serialize)]
pub struct AlertGroupJson<'a> {
    pub alerts: Vec<GettableAlert<'a>>,
    pub labels: LabelsJson<'a>,
    pub receiver: ReceiverJson<'a>,
}

/// `matcher`.
#[derive(Serialize)]
pub struct MatcherJson<'a> {
    #[serde(rename = "isEqual")]
    pub is_equal: bool,
    #[serde(rename = "isRegex")]
    pub is_regex: bool,
    pub name: &'a str,
    pub value: &'a str,
}

#[derive(Serialize)]
pub struct SilenceStatusJson {
    pub state: &'static str,
}

/// `gettableSilence`.
#[derive(Serialize)]
pub struct GettableSilence<'a> {
    pub id: &'a str,
    pub status: SilenceStatusJson,
    #[serde(rename = "updatedAt")]
    pub updated_at: String,
    pub comment: &'a str,
    #[serde(rename = "createdBy")]
    pub created_by: &'a str,
    #[serde(rename = "endsAt")]
    pub ends_at: String,
    pub matchers: Vec<MatcherJson<'a>>,
    #[serde(rename = "startsAt")]
    pub starts_at: String,
}

impl<'a> GettableSilence<'a> {
    pub fn new(s: &'a Silence, state: SilenceState) -> Self {
        GettableSilence {
            id: &s.id,
            status: SilenceStatusJson { state: state.as_str() },
            updated_at: format_time(s.updated_at_ms),
            comment: &s.comment,
            created_by: &s.created_by,
            ends_at: format_time(s.ends_at_ms),
            matchers: s
                .matchers
                .iter()
                .map(|m| MatcherJson {
                    is_equal: matches!(m.op, MatchType::Equal | MatchType::Regexp),
                    is_regex: matches!(m.op, MatchType::Regexp | MatchType::NotRegexp),
                    name: &m.name,
                    value: &m.value,
                })
                .collect(),
            starts_at: format_time(s.starts_at_ms),
        }
    }
}

/// `alertmanagerStatus`.
#[derive(Serialize)]
pub struct StatusJson<'a> {
    pub cluster: ClusterStatusJson,
    pub config: ConfigJson<'a>,
    pub uptime: String,
    #[serde(rename = "versionInfo")]
    pub version_info: VersionInfoJson<'a>,
}

#[derive(Serialize)]
pub struct ClusterStatusJson {
    pub peers: [(); 0],
    pub status: &'static str,
}

#[derive(Serialize)]
pub struct ConfigJson<'a> {
    pub original: &'a str,
}

#[derive(Serialize)]
pub struct VersionInfoJson<'a> {
    pub branch: &'a str,
    #[serde(rename = "buildDate")]
    pub build_date: &'a str,
    #[serde(rename = "buildUser")]
    pub build_user: &'a str,
    #[serde(rename = "goVersion")]
    pub go_version: &'a str,
    pub revision: &'a str,
    pub version: &'a str,
}

/// `postableAlert` as sent; every field optional here so that missing ones get go-swagger's
/// messages.
#[derive(Debug, Deserialize)]
pub struct PostableAlert {
    pub labels: Option<BTreeMap<String, String>>,
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(rename = "startsAt")]
    pub starts_at: Option<String>,
    #[serde(rename = "endsAt")]
    pub ends_at: Option<String>,
    #[serde(rename = "generatorURL")]
    pub generator_url: Option<String>,
}

/// `postableSilence` as sent.
#[derive(Debug, Deserialize)]
pub struct PostableSilence {
    pub id: Option<String>,
    pub matchers: Option<Vec<PostableMatcher>>,
    #[serde(rename = "startsAt")]
    pub starts_at: Option<String>,
    #[serde(rename = "endsAt")]
    pub ends_at: Option<String>,
    #[serde(rename = "createdBy")]
    pub created_by: Option<String>,
    pub comment: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct PostableMatcher {
    pub name: Option<String>,
    pub value: Option<String>,
    #[serde(rename = "isRegex")]
    pub is_regex: Option<bool>,
    #[serde(rename = "isEqual")]
    pub is_equal: Option<bool>,
}

/// go-swagger's error body: `{"code":N,"message":"..."}` (400 for unparsable bodies, 6xx
/// validation codes with status 422).
pub fn swagger_error(code: u16, message: &str) -> String {
    #[derive(Serialize)]
    struct ErrorJson<'a> {
        code: u16,
        message: &'a str,
    }
    serde_json::to_string(&ErrorJson { code, message }).unwrap_or_default()
}

/// A JSON string (how the API's `type: string` error payloads are written).
pub fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}
