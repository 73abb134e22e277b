//! `/api/v1/rules` and `/api/v1/alerts` in Prometheus's JSON shape (`web/api/v1/api.go`), so
//! Grafana's rule and alert views and scripts written for Prometheus read the router's rules.
//!
//! `/api/v1/rules` takes Prometheus's filters: `type` (`alert` or `record`), `rule_name[]`,
//! `rule_group[]`, `file[]` and `exclude_alerts`. Alerts list pending and firing alerts (not
//! resolved ones). Values are written as Go's `strconv.FormatFloat(v, 'e', -1, 64)`
//! (`1e+00`), times as Go's RFC 3339 with trimmed nanoseconds, durations in seconds.

use super::json::ErrorType;
use super::params::Form;
use super::{ApiState, json_response};
use crate::rules::alerting::{ActiveAlert, AlertState};
use crate::rules::group::{Group, RuleKind};
use axum::extract::{RawQuery, State};
use axum::response::Response;
use harrier_telemetry::model::Labels;
use serde_json::{Map, Value, json};

/// `GET /api/v1/rules`.
pub async fn rules(State(state): State<ApiState>, RawQuery(query): RawQuery) -> Response {
    let form = Form::parse(query.as_deref(), None);
    let kind = form.value("type");
    let (want_alerts, want_records) = match kind {
        "" => (true, true),
        "alert" => (true, false),
        "record" => (false, true),
        other => {
            return json_response(
                400,
                super::json::error(ErrorType::BadData, &format!("invalid query parameter type='{other}'")),
            );
        }
    };
    let exclude_alerts = match form.value("exclude_alerts") {
        "" | "false" => false,
        "true" => true,
        other => {
            return json_response(
                400,
                super::json::error(
                    ErrorType::BadData,
                    &format!("parsing exclude_alerts: strconv.ParseBool: parsing {other:?}: invalid syntax"),
                ),
            );
        }
    };
    let names = form.all("rule_name[]");
    let group_names = form.all("rule_group[]");
    let files = form.all("file[]");
    let groups = state.rules.as_ref().map(|m| m.groups()).unwrap_or_default();
    let mut out = Vec::new();
    for group in &groups {
        if (!group_names.is_empty() && !group_names.contains(&group.settings.name.as_str()))
            || (!files.is_empty() && !files.contains(&group.settings.file.as_str()))
        {
            continue;
        }
        let mut rules = Vec::new();
        for rule in &group.rules {
            if !names.is_empty() && !names.contains(&rule.rule.name()) {
                continue;
            }
            let mut obj = Map::new();
            match &rule.rule {
                RuleKind::Alerting(a) => {
                    if !want_alerts {
                        continue;
                    }
                    // Prometheus 3 reports `unknown` until the first evaluation.
                    let state = if rule.last_eval_ms.is_none() { "unknown" } else { a.state().as_str() };
                    obj.insert("state".into(), json!(state));
                    obj.insert("name".into(), json!(a.name()));
                    obj.insert("query".into(), json!(a.expr()));
                    obj.insert("duration".into(), json!(a.hold_ms() as f64 / 1000.0));
                    obj.insert("keepFiringFor".into(), json!(a.keep_firing_for_ms() as f64 / 1000.0));
                    obj.insert("labels".into(), pairs_json(a.labels()));
                    obj.insert("annotations".into(), pairs_json(a.annotations()));
                    if !exclude_alerts {
                        let alerts: Vec<Value> =
                            a.alerts().into_iter().filter(|x| is_active(x)).map(alert_json).collect();
                        obj.insert("alerts".into(), Value::Array(alerts));
                    }
                }
                RuleKind::Recording(r) => {
                    if !want_records {
                        continue;
                    }
                    obj.insert("name".into(), json!(r.name()));
                    obj.insert("query".into(), json!(r.expr()));
                    obj.insert("labels".into(), pairs_json(r.labels()));
                }
            }
            obj.insert("health".into(), json!(rule.health.as_str()));
            if let Some(e) = &rule.last_error {
                obj.insert("lastError".into(), json!(e));
            }
            obj.insert("evaluationTime".into(), json!(rule.last_eval_duration_secs));
            obj.insert("lastEvaluation".into(), json!(go_time(rule.last_eval_ms)));
            obj.insert(
                "type".into(),
                json!(if matches!(rule.rule, RuleKind::Alerting(_)) { "alerting" } else { "recording" }),
            );
            rules.push(Value::Object(obj));
        }
        if rules.is_empty() && (!names.is_empty() || !kind.is_empty()) {
            continue;
        }
        out.push(group_json(group, rules));
    }
    let data = json!({ "groups": out });
    json_response(200, super::json::success(&data.to_string(), &Default::default()))
}

/// `GET /api/v1/alerts`.
pub async fn alerts(State(state): State<ApiState>) -> Response {
    let groups = state.rules.as_ref().map(|m| m.groups()).unwrap_or_default();
    let mut alerts = Vec::new();
    for group in &groups {
        for rule in &group.rules {
            if let RuleKind::Alerting(a) = &rule.rule {
                alerts.extend(a.alerts().into_iter().filter(|x| is_active(x)).map(alert_json));
            }
        }
    }
    let data = json!({ "alerts": alerts });
    json_response(200, super::json::success(&data.to_string(), &Default::default()))
}

fn is_active(alert: &ActiveAlert) -> bool {
    alert.state != AlertState::Inactive
}

fn group_json(group: &Group, rules: Vec<Value>) -> Value {
    json!({
        "name": group.settings.name,
        "file": group.settings.file,
        "rules": rules,
        "interval": group.settings.interval_ms as f64 / 1000.0,
        "limit": group.settings.limit,
        "evaluationTime": group.last_eval_duration_secs,
        "lastEvaluation": go_time(group.last_eval_ms),
    })
}

fn alert_json(alert: &ActiveAlert) -> Value {
    let mut obj = Map::new();
    obj.insert("labels".into(), labels_json(&alert.labels));
    obj.insert("annotations".into(), labels_json(&alert.annotations));
    obj.insert("state".into(), json!(alert.state.as_str()));
    obj.insert("activeAt".into(), json!(go_time(Some(alert.active_at))));
    if let Some(since) = alert.keep_firing_since {
        obj.insert("keepFiringSince".into(), json!(go_time(Some(since))));
    }
    obj.insert("value".into(), json!(go_float_e(alert.value)));
    Value::Object(obj)
}

fn labels_json(labels: &Labels) -> Value {
    Value::Object(labels.iter().map(|l| (l.name.to_string(), json!(l.value))).collect())
}

fn pairs_json(pairs: &[(String, String)]) -> Value {
    Value::Object(pairs.iter().map(|(k, v)| (k.clone(), json!(v))).collect())
}

/// Go's `time.Time` JSON form in UTC (RFC 3339, the fraction's trailing zeros trimmed);
/// `None` is Go's zero time. One implementation with the webhook payload's times.
pub use crate::notify::template::json_time as go_time;

/// Go's `strconv.FormatFloat(v, 'e', -1, 64)`: the shortest mantissa, a sign and at least
/// two exponent digits (`1e+00`, `1.5e-07`, `+Inf`, `NaN`).
pub fn go_float_e(v: f64) -> String {
    crate::template::gofmt::format_float(v, 'e', -1)
}
