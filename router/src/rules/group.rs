//! Rule groups (Prometheus's `rules/group.go`): rules evaluated in order at one timestamp,
//! each rule's output stored before the next rule runs, so a recording rule's output is
//! visible to later rules of the group.
//!
//! Per rule the group remembers the series it wrote at the previous evaluation; a series that
//! is no longer produced gets a staleness marker, as Prometheus does, so `ALERTS` and recorded
//! series end cleanly instead of lingering for the lookback window. A rule that fails keeps its
//! previous series and state (no markers, no notifications) and reports the error as its
//! health.
//!
//! Scheduling is the caller's ([`super::manager`] in the router, the test runner in
//! `harrier rules test`): [`Group::eval_timestamp`] gives the aligned evaluation times and
//! [`Group::eval`] runs one.

use super::alerting::{AlertingRule, table_link};
use super::eval::{EvalContext, RuleAppender, RuleEvalError, RuleSample};
use super::file::LoadedRuleFile;
use super::recording::RecordingRule;
use crate::alerts::Alert;
use harrier_telemetry::model::{Labels, stale_nan};
use std::collections::HashSet;

/// A rule of a group.
#[derive(Debug, Clone)]
pub enum RuleKind {
    Recording(RecordingRule),
    Alerting(AlertingRule),
}

impl RuleKind {
    pub fn name(&self) -> &str {
        match self {
            RuleKind::Recording(r) => r.name(),
            RuleKind::Alerting(r) => r.name(),
        }
    }
    pub fn expr(&self) -> &str {
        match self {
            RuleKind::Recording(r) => r.expr(),
            RuleKind::Alerting(r) => r.expr(),
        }
    }
    pub fn labels(&self) -> &[(String, String)] {
        match self {
            RuleKind::Recording(r) => r.labels(),
            RuleKind::Alerting(r) => r.labels(),
        }
    }
}

/// The outcome of a rule's last evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleHealth {
    Unknown,
    Ok,
    Err,
}

impl RuleHealth {
    /// Prometheus's JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleHealth::Unknown => "unknown",
            RuleHealth::Ok => "ok",
            RuleHealth::Err => "err",
        }
    }
}

/// A rule with its evaluation bookkeeping.
#[derive(Debug, Clone)]
pub struct GroupRule {
    pub rule: RuleKind,
    pub health: RuleHealth,
    pub last_error: Option<String>,
    /// Unix ms of the last evaluation.
    pub last_eval_ms: Option<i64>,
    pub last_eval_duration_secs: f64,
    /// Series written at the previous successful evaluation (for staleness markers).
    previous_series: HashSet<Labels>,
}

impl GroupRule {
    /// Sets the series this rule wrote last time (their staleness markers follow when it stops
    /// producing them): used when alert state is restored from disk.
    pub fn set_previous_series(&mut self, series: impl IntoIterator<Item = Labels>) {
        self.previous_series = series.into_iter().collect();
    }

    pub fn new(rule: RuleKind) -> Self {
        GroupRule {
            rule,
            health: RuleHealth::Unknown,
            last_error: None,
            last_eval_ms: None,
            last_eval_duration_secs: 0.0,
            previous_series: HashSet::new(),
        }
    }
}

/// What one group evaluation did.
#[derive(Debug, Default)]
pub struct GroupEvalOutcome {
    /// Alerts to hand to the notifier, in rule order.
    pub alerts: Vec<Alert>,
    /// Rules that failed.
    pub failures: usize,
    /// Samples the appender rejected.
    pub rejected_samples: usize,
    /// Samples written (including staleness markers).
    pub samples_written: usize,
}

/// Settings of a group.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSettings {
    pub name: String,
    /// The file the group came from.
    pub file: String,
    pub interval_ms: i64,
    pub query_offset_ms: i64,
    /// 0: no limit.
    pub limit: usize,
}

/// A rule group and the state of its rules.
#[derive(Debug, Clone)]
pub struct Group {
    pub settings: GroupSettings,
    pub rules: Vec<GroupRule>,
    /// Unix ms of the last evaluation.
    pub last_eval_ms: Option<i64>,
    pub last_eval_duration_secs: f64,
    /// Series of rules removed by a reload, marked stale at the next evaluation.
    stale_series: Vec<Labels>,
}

impl Group {
    pub fn new(settings: GroupSettings, rules: Vec<RuleKind>) -> Self {
        Group {
            settings,
            rules: rules.into_iter().map(GroupRule::new).collect(),
            last_eval_ms: None,
            last_eval_duration_secs: 0.0,
            stale_series: Vec::new(),
        }
    }

    /// Identifies the group across reloads: file and name (Prometheus's `GroupKey`).
    pub fn key(&self) -> String {
        group_key(&self.settings.file, &self.settings.name)
    }

    /// The evaluation time slot at or before `now_ms`: groups are spread over their interval
    /// by a hash of their key, and every evaluation of a group lands on the same phase
    /// (Prometheus's `EvalTimestamp`).
    pub fn eval_timestamp(&self, now_ms: i64) -> i64 {
        let interval = self.settings.interval_ms.max(1);
        let offset = (key_hash(&self.key()) % interval as u64) as i64;
        let adjusted = now_ms - offset;
        adjusted - adjusted.rem_euclid(interval) + offset
    }

    /// Evaluates every rule at `ts` in order. Each rule's output (and staleness markers for
    /// series it no longer produces) goes to `appender` before the next rule runs. Alerting
    /// rules' notifications are returned in the outcome.
    pub fn eval(
        &mut self,
        ts: i64,
        ctx: &EvalContext<'_>,
        appender: &dyn RuleAppender,
        resend_delay_ms: i64,
    ) -> GroupEvalOutcome {
        let started = std::time::Instant::now();
        let mut outcome = GroupEvalOutcome::default();
        let settings = &self.settings;
        if !self.stale_series.is_empty() {
            let t = ts - settings.query_offset_ms;
            let markers: Vec<RuleSample> = std::mem::take(&mut self.stale_series)
                .into_iter()
                .map(|labels| RuleSample { labels, t, v: stale_nan(), h: None })
                .collect();
            match appender.append(&markers) {
                Ok(rejected) => {
                    outcome.samples_written += markers.len();
                    outcome.rejected_samples += rejected;
                }
                Err(e) => {
                    tracing::warn!(group = %settings.name, error = %e, "cannot write staleness markers")
                }
            }
        }
        for rule in &mut self.rules {
            let rule_started = std::time::Instant::now();
            rule.last_eval_ms = Some(ts);
            let result = match &mut rule.rule {
                RuleKind::Recording(r) => r.eval(ts, settings.query_offset_ms, settings.limit, ctx),
                RuleKind::Alerting(r) => r.eval(ts, settings.query_offset_ms, settings.limit, ctx),
            };
            // Alerts go out before the output is written (as Prometheus), so a storage
            // problem cannot silence them.
            if result.is_ok()
                && let RuleKind::Alerting(r) = &mut rule.rule
            {
                let url = format!("{}{}", ctx.external_url, table_link(r.expr()));
                outcome.alerts.extend(r.alerts_to_send(ts, resend_delay_ms, settings.interval_ms, &url));
            }
            match result.and_then(|samples| {
                write_with_staleness(rule, samples, ts - settings.query_offset_ms, appender)
            }) {
                Ok((written, rejected)) => {
                    rule.health = RuleHealth::Ok;
                    rule.last_error = None;
                    outcome.samples_written += written;
                    outcome.rejected_samples += rejected;
                }
                Err(e) => {
                    tracing::warn!(group = %settings.name, rule = %rule.rule.name(), error = %e, "rule evaluation failed");
                    rule.health = RuleHealth::Err;
                    rule.last_error = Some(e.to_string());
                    outcome.failures += 1;
                }
            }
            rule.last_eval_duration_secs = rule_started.elapsed().as_secs_f64();
        }
        // One durable write for the whole group's output.
        if let Err(e) = appender.flush() {
            tracing::warn!(group = %settings.name, error = %e, "rule output not durable");
        }
        self.last_eval_ms = Some(ts);
        self.last_eval_duration_secs = started.elapsed().as_secs_f64();
        outcome
    }

    /// Staleness markers at `ts` for every series the group's rules wrote last time: for a
    /// group that is removed on reload, or whose rule changed, as Prometheus marks them.
    pub fn stale_markers(&self, ts: i64) -> Vec<RuleSample> {
        self.rules
            .iter()
            .flat_map(|r| r.previous_series.iter())
            .chain(self.stale_series.iter())
            .map(|labels| RuleSample { labels: labels.clone(), t: ts, v: stale_nan(), h: None })
            .collect()
    }

    /// Takes over what can carry over from the same group before a reload (Prometheus's
    /// `CopyState`): the last evaluation time, and for each rule matched by kind, name and
    /// labels (in order of appearance, so two rules of the same name with different labels
    /// pair up correctly) its written series, health and alerts. The series of old rules that
    /// found no match get staleness markers at the next evaluation.
    pub fn copy_state_from(&mut self, old: &Group) {
        self.last_eval_ms = old.last_eval_ms;
        self.last_eval_duration_secs = old.last_eval_duration_secs;
        let mut used = vec![false; old.rules.len()];
        for rule in &mut self.rules {
            let found = old.rules.iter().enumerate().find(|(i, o)| {
                !used[*i]
                    && o.rule.name() == rule.rule.name()
                    && o.rule.labels() == rule.rule.labels()
                    && same_kind(&o.rule, &rule.rule)
            });
            let Some((i, old_rule)) = found else { continue };
            used[i] = true;
            rule.previous_series = old_rule.previous_series.clone();
            rule.health = old_rule.health;
            rule.last_error = old_rule.last_error.clone();
            rule.last_eval_ms = old_rule.last_eval_ms;
            rule.last_eval_duration_secs = old_rule.last_eval_duration_secs;
            if let (RuleKind::Alerting(new), RuleKind::Alerting(prev)) = (&mut rule.rule, &old_rule.rule) {
                new.set_alerts(prev.alerts().into_iter().cloned());
            }
        }
        self.stale_series = old.stale_series.clone();
        for (i, old_rule) in old.rules.iter().enumerate() {
            if !used[i] {
                self.stale_series.extend(old_rule.previous_series.iter().cloned());
            }
        }
        // A series a matched rule still writes is not stale.
        let kept: HashSet<&Labels> = self.rules.iter().flat_map(|r| r.previous_series.iter()).collect();
        self.stale_series.retain(|l| !kept.contains(l));
    }
}

/// The groups of a validated rule file; `interval` and `query_offset` default to the given
/// values, group labels are merged into every rule's labels (rule labels win).
pub fn build_groups(
    loaded: &LoadedRuleFile,
    default_interval_ms: i64,
    default_query_offset_ms: i64,
) -> Vec<Group> {
    loaded
        .file
        .groups
        .iter()
        .map(|g| {
            let settings = GroupSettings {
                name: g.name.clone(),
                file: loaded.origin.clone(),
                interval_ms: g.interval.map_or(default_interval_ms, |d| d.as_millis()).max(1),
                query_offset_ms: g.query_offset.map_or(default_query_offset_ms, |d| d.as_millis()),
                limit: g.limit.max(0) as usize,
            };
            let rules = g
                .rules
                .iter()
                .map(|r| {
                    let mut labels: std::collections::BTreeMap<String, String> =
                        g.labels.iter().map(|(k, v)| (k.clone(), v.to_string())).collect();
                    labels.extend(r.labels.iter().map(|(k, v)| (k.clone(), v.to_string())));
                    let labels: Vec<(String, String)> = labels.into_iter().collect();
                    match r.alert_name() {
                        Some(name) => RuleKind::Alerting(AlertingRule::new(
                            name,
                            r.expr_text(),
                            r.for_duration.map_or(0, |d| d.as_millis()),
                            r.keep_firing_for.map_or(0, |d| d.as_millis()),
                            labels,
                            r.annotations.iter().map(|(k, v)| (k.clone(), v.to_string())).collect(),
                        )),
                        None => RuleKind::Recording(RecordingRule::new(
                            r.record_name().unwrap_or_default(),
                            r.expr_text(),
                            labels,
                        )),
                    }
                })
                .collect();
            Group::new(settings, rules)
        })
        .collect()
}

fn same_kind(a: &RuleKind, b: &RuleKind) -> bool {
    matches!(
        (a, b),
        (RuleKind::Recording(_), RuleKind::Recording(_)) | (RuleKind::Alerting(_), RuleKind::Alerting(_))
    )
}

/// Writes a rule's output and staleness markers for the series it no longer produces.
fn write_with_staleness(
    rule: &mut GroupRule,
    samples: Vec<RuleSample>,
    marker_ts: i64,
    appender: &dyn RuleAppender,
) -> Result<(usize, usize), RuleEvalError> {
    let returned: HashSet<Labels> = samples.iter().map(|s| s.labels.clone()).collect();
    let mut batch = samples;
    for labels in &rule.previous_series {
        if !returned.contains(labels) {
            batch.push(RuleSample { labels: labels.clone(), t: marker_ts, v: stale_nan(), h: None });
        }
    }
    let rejected = if batch.is_empty() { 0 } else { appender.append(&batch)? };
    rule.previous_series = returned;
    Ok((batch.len(), rejected))
}

/// `file;name`, Prometheus's group key.
pub fn group_key(file: &str, name: &str) -> String {
    format!("{file};{name}")
}

/// A stable 64-bit hash of a group key (FNV-1a: the same on every run and every machine).
pub(crate) fn key_hash(key: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests;
