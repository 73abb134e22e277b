//! Alerting rules: Prometheus's alert state machine (`rules/alerting.go`), timestamps in
//! milliseconds so tests drive it in virtual time.
//!
//! Each evaluation runs the expression; every result sample becomes an alert identified by its
//! labels (without `__name__`, plus the rule's templated labels and `alertname`). Then, per
//! alert:
//!
//! - new: **pending**, `active_at` = now (or **firing** at once when `for` is 0);
//! - still returned: value and annotations refreshed; pending for at least `for` -> **firing**
//!   (`fired_at` = now); a `keep_firing_for` countdown is cancelled;
//! - no longer returned: a pending alert is dropped; a firing alert with `keep_firing_for`
//!   keeps firing until `keep_firing_for` has passed since it was first missing; otherwise it
//!   becomes **inactive** (`resolved_at` = now) and is kept for 15 minutes so the resolution is
//!   re-sent (Prometheus's `resolvedRetention`).
//!
//! Output per evaluation: an `ALERTS{alertstate="pending"|"firing"}` sample of 1 and an
//! `ALERTS_FOR_STATE` sample holding `active_at` in seconds, for every pending or firing alert,
//! at the evaluation time minus the query offset.
//!
//! Sending ([`AlertingRule::alerts_to_send`]): pending alerts never; a resolved alert once
//! after it resolved, then every resend delay while retained; a firing alert when the resend
//! delay has passed since it was last sent. `startsAt` is `fired_at`; `endsAt` is `resolved_at`
//! for a resolved alert, otherwise now + 4 x max(resend delay, group interval) (so Alertmanager
//! resolves it by itself if two evaluations or sends in a row fail).

use super::eval::{EvalContext, RuleEvalError, RuleQuerier, RuleSample};
use crate::alerts::Alert;
use crate::template::prometheus::{AlertTemplateData, QuerySample, TemplateQuerier, expand_alert_template};
use harrier_telemetry::model::Labels;
use std::collections::{BTreeMap, HashMap};

/// How long a resolved alert is kept (and its resolution re-sent).
pub const RESOLVED_RETENTION_MS: i64 = 15 * 60 * 1000;

/// Prometheus's alert states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    Inactive,
    Pending,
    Firing,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// One alert of a rule (Prometheus's `rules.Alert`). Times are unix milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveAlert {
    pub state: AlertState,
    pub labels: Labels,
    pub annotations: Labels,
    /// The last value of the expression for this alert.
    pub value: f64,
    /// When it became pending (or firing, with no `for`).
    pub active_at: i64,
    pub fired_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub last_sent_at: Option<i64>,
    pub valid_until: Option<i64>,
    /// When the expression stopped returning it while it was firing with `keep_firing_for`.
    pub keep_firing_since: Option<i64>,
}

impl ActiveAlert {
    /// Prometheus's `needsSending`.
    pub fn needs_sending(&self, ts: i64, resend_delay_ms: i64) -> bool {
        if self.state == AlertState::Pending {
            return false;
        }
        let last_sent = self.last_sent_at.unwrap_or(i64::MIN);
        if self.resolved_at.is_some_and(|r| r > last_sent) {
            return true;
        }
        self.last_sent_at.is_none_or(|l| l.saturating_add(resend_delay_ms) < ts)
    }
}

/// An alerting rule with its alerts.
#[derive(Debug, Clone)]
pub struct AlertingRule {
    name: String,
    expr: String,
    hold_ms: i64,
    keep_firing_for_ms: i64,
    /// Label templates (group labels merged in, rule labels winning), sorted by name.
    labels: Vec<(String, String)>,
    annotations: Vec<(String, String)>,
    /// Alerts by their label set.
    active: HashMap<Labels, ActiveAlert>,
}

/// Feeds `query` in templates from the rule's querier.
struct TemplateQueryAdapter<'a>(&'a dyn RuleQuerier);

impl TemplateQuerier for TemplateQueryAdapter<'_> {
    fn query(&self, expr: &str, t_ms: i64) -> Result<Vec<QuerySample>, String> {
        let samples = self.0.query(expr, t_ms).map_err(|e| e.to_string())?;
        Ok(samples
            .into_iter()
            .map(|s| QuerySample {
                labels: s.labels.iter().map(|l| (l.name.to_string(), l.value.to_string())).collect(),
                value: s.v,
            })
            .collect())
    }
}

impl AlertingRule {
    pub fn new(
        name: impl Into<String>,
        expr: impl Into<String>,
        hold_ms: i64,
        keep_firing_for_ms: i64,
        labels: Vec<(String, String)>,
        annotations: Vec<(String, String)>,
    ) -> Self {
        AlertingRule {
            name: name.into(),
            expr: expr.into(),
            hold_ms: hold_ms.max(0),
            keep_firing_for_ms: keep_firing_for_ms.max(0),
            labels,
            annotations,
            active: HashMap::new(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn expr(&self) -> &str {
        &self.expr
    }
    pub fn hold_ms(&self) -> i64 {
        self.hold_ms
    }
    pub fn keep_firing_for_ms(&self) -> i64 {
        self.keep_firing_for_ms
    }
    pub fn labels(&self) -> &[(String, String)] {
        &self.labels
    }
    pub fn annotations(&self) -> &[(String, String)] {
        &self.annotations
    }

    /// The rule's alerts, sorted by labels.
    pub fn alerts(&self) -> Vec<&ActiveAlert> {
        let mut v: Vec<&ActiveAlert> = self.active.values().collect();
        v.sort_by(|a, b| a.labels.cmp(&b.labels));
        v
    }

    /// Replaces the alerts (state carried over on reload, or restored from disk).
    pub fn set_alerts(&mut self, alerts: impl IntoIterator<Item = ActiveAlert>) {
        self.active = alerts.into_iter().map(|a| (a.labels.clone(), a)).collect();
    }

    /// The `ALERTS` and `ALERTS_FOR_STATE` series its pending and firing alerts produce (what
    /// an evaluation writes), for staleness tracking after a restore.
    pub fn output_series(&self) -> Vec<Labels> {
        self.active
            .values()
            .filter(|a| a.state != AlertState::Inactive)
            .flat_map(|a| [alerts_sample(a, 0).labels, for_state_sample(a, 0).labels])
            .collect()
    }

    /// The most severe state among its alerts (Prometheus's rule `state`).
    pub fn state(&self) -> AlertState {
        let mut state = AlertState::Inactive;
        for a in self.active.values() {
            match a.state {
                AlertState::Firing => return AlertState::Firing,
                AlertState::Pending => state = AlertState::Pending,
                AlertState::Inactive => {}
            }
        }
        state
    }

    /// Expands one label or annotation; `data` is `None` when the rule has no templates.
    fn expand(&self, text: &str, data: Option<&AlertTemplateData>, ts: i64, ctx: &EvalContext<'_>) -> String {
        let Some(data) = data.filter(|_| text.contains("{{")) else {
            return text.to_string();
        };
        let querier = TemplateQueryAdapter(ctx.querier);
        match expand_alert_template(&self.name, text, data, ts, Some(&querier), ctx.external_url) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(alert = %self.name, error = %e, "expanding alert template failed");
                format!("<error expanding template: {e}>")
            }
        }
    }

    /// One evaluation at `ts` (the query runs at `ts - query_offset_ms`); returns the
    /// `ALERTS` and `ALERTS_FOR_STATE` samples. `limit` (0: none) bounds pending and firing
    /// alerts; exceeding it clears the rule's alerts and fails, as Prometheus.
    pub fn eval(
        &mut self,
        ts: i64,
        query_offset_ms: i64,
        limit: usize,
        ctx: &EvalContext<'_>,
    ) -> Result<Vec<RuleSample>, RuleEvalError> {
        let query_ts = ts - query_offset_ms;
        let result = ctx.querier.query(&self.expr, query_ts)?;

        // Template data is built only for rules that have templates: a rule over many series
        // with plain labels and annotations pays nothing for it.
        let templated = self.labels.iter().chain(&self.annotations).any(|(_, t)| t.contains("{{"));
        let external_labels: BTreeMap<String, String> = if templated {
            ctx.external_labels.iter().map(|l| (l.name.to_string(), l.value.to_string())).collect()
        } else {
            BTreeMap::new()
        };
        let mut fresh: HashMap<Labels, ActiveAlert> = HashMap::with_capacity(result.len());
        for sample in result {
            let data = templated.then(|| AlertTemplateData {
                labels: sample.labels.iter().map(|l| (l.name.to_string(), l.value.to_string())).collect(),
                external_labels: external_labels.clone(),
                external_url: ctx.external_url.to_string(),
                value: sample.v,
            });
            let data = data.as_ref();
            let mut labels = sample.labels;
            labels.remove("__name__");
            for (name, template) in &self.labels {
                let value = self.expand(template, data, ts, ctx);
                labels.set(name, value);
            }
            labels.set("alertname", &self.name);
            let annotations = Labels::from_pairs(
                self.annotations
                    .iter()
                    .map(|(name, template)| (name.clone(), self.expand(template, data, ts, ctx))),
            );
            if fresh.contains_key(&labels) {
                return Err(RuleEvalError::DuplicateAlertLabels);
            }
            fresh.insert(
                labels.clone(),
                ActiveAlert {
                    state: AlertState::Pending,
                    labels,
                    annotations,
                    value: sample.v,
                    active_at: ts,
                    fired_at: None,
                    resolved_at: None,
                    last_sent_at: None,
                    valid_until: None,
                    keep_firing_since: None,
                },
            );
        }

        let returned: std::collections::HashSet<Labels> = fresh.keys().cloned().collect();
        for (labels, alert) in fresh {
            match self.active.get_mut(&labels) {
                Some(existing) if existing.state != AlertState::Inactive => {
                    existing.value = alert.value;
                    existing.annotations = alert.annotations;
                }
                _ => {
                    self.active.insert(labels, alert);
                }
            }
        }

        let mut out = Vec::new();
        let mut pending_or_firing = 0usize;
        let mut remove = Vec::new();
        for (labels, alert) in self.active.iter_mut() {
            if !returned.contains(labels) {
                let mut keep_firing = false;
                if alert.state == AlertState::Firing && self.keep_firing_for_ms > 0 {
                    let since = *alert.keep_firing_since.get_or_insert(ts);
                    keep_firing = ts - since < self.keep_firing_for_ms;
                }
                if !keep_firing {
                    if alert.state == AlertState::Pending
                        || alert.resolved_at.is_some_and(|r| ts - r > RESOLVED_RETENTION_MS)
                    {
                        remove.push(labels.clone());
                    }
                    if alert.state != AlertState::Inactive {
                        alert.state = AlertState::Inactive;
                        alert.resolved_at = Some(ts);
                    }
                    continue;
                }
            } else {
                alert.keep_firing_since = None;
            }
            pending_or_firing += 1;
            if alert.state == AlertState::Pending && ts - alert.active_at >= self.hold_ms {
                alert.state = AlertState::Firing;
                alert.fired_at = Some(ts);
            }
            out.push(alerts_sample(alert, query_ts));
            out.push(for_state_sample(alert, query_ts));
        }
        for labels in remove {
            self.active.remove(&labels);
        }
        if limit > 0 && pending_or_firing > limit {
            self.active.clear();
            return Err(RuleEvalError::AlertLimit { limit, count: pending_or_firing });
        }
        Ok(out)
    }

    /// The alerts to send after an evaluation at `ts` (Prometheus's `sendAlerts`), marking
    /// them sent. `generator_url` is the link back to the expression.
    pub fn alerts_to_send(
        &mut self,
        ts: i64,
        resend_delay_ms: i64,
        interval_ms: i64,
        generator_url: &str,
    ) -> Vec<Alert> {
        let delta = resend_delay_ms.max(interval_ms);
        let mut out = Vec::new();
        let mut alerts: Vec<&mut ActiveAlert> = self.active.values_mut().collect();
        alerts.sort_by(|a, b| a.labels.cmp(&b.labels));
        for alert in alerts {
            if !alert.needs_sending(ts, resend_delay_ms) {
                continue;
            }
            alert.last_sent_at = Some(ts);
            alert.valid_until = Some(ts + 4 * delta);
            out.push(Alert {
                labels: alert.labels.clone(),
                annotations: alert.annotations.clone(),
                starts_at_ms: alert.fired_at,
                ends_at_ms: alert.resolved_at.or(alert.valid_until),
                generator_url: generator_url.to_string(),
            });
        }
        out
    }
}

/// `ALERTS{alertname, alertstate, <labels>} 1`.
fn alerts_sample(alert: &ActiveAlert, t: i64) -> RuleSample {
    let mut labels = alert.labels.clone();
    labels.set("__name__", "ALERTS");
    labels.set("alertstate", alert.state.as_str());
    RuleSample { labels, t, v: 1.0, h: None }
}

/// `ALERTS_FOR_STATE{alertname, <labels>} <active_at in seconds>`.
fn for_state_sample(alert: &ActiveAlert, t: i64) -> RuleSample {
    let mut labels = alert.labels.clone();
    labels.set("__name__", "ALERTS_FOR_STATE");
    RuleSample { labels, t, v: (alert.active_at / 1000) as f64, h: None }
}

/// Prometheus's `TableLinkForExpression`: `/graph?g0.expr=<escaped>&g0.tab=1`.
pub fn table_link(expr: &str) -> String {
    let escaped: String = form_urlencoded::byte_serialize(expr.as_bytes()).collect();
    format!("/graph?g0.expr={escaped}&g0.tab=1")
}

#[cfg(test)]
mod tests;
