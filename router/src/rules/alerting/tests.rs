//! Alert timing in virtual time: every evaluation timestamp is chosen by the test. The
//! expected tables follow Prometheus's `rules/alerting.go` (state transitions, `for`,
//! `keep_firing_for`, the 15 m resolved retention) and `sendAlerts`/`needsSending` (resend
//! when `last_sent + resend_delay` is strictly before now; `endsAt` = now + 4 x max(resend
//! delay, interval) while firing, the resolve time once resolved).

use super::*;
use crate::rules::eval::{EvalContext, RuleEvalError, RuleQuerier, RuleSample};
use std::collections::BTreeMap;
use std::sync::Mutex;

const M: i64 = 60_000;

/// Answers each query from a script: at time t, the label sets (and values) that are "true".
struct Script {
    /// t -> returned samples; times not listed return nothing.
    answers: BTreeMap<i64, Vec<(Labels, f64)>>,
    queried: Mutex<Vec<i64>>,
}

impl Script {
    fn new(answers: impl IntoIterator<Item = (i64, Vec<(Labels, f64)>)>) -> Self {
        Script { answers: answers.into_iter().collect(), queried: Mutex::new(Vec::new()) }
    }
    /// One series, true (value 1) at every listed minute.
    fn minutes(labels: &Labels, minutes: &[i64]) -> Self {
        Script::new(minutes.iter().map(|m| (m * M, vec![(labels.clone(), 1.0)])))
    }
}

impl RuleQuerier for Script {
    fn query(&self, _expr: &str, t_ms: i64) -> Result<Vec<RuleSample>, RuleEvalError> {
        self.queried.lock().unwrap().push(t_ms);
        Ok(self
            .answers
            .get(&t_ms)
            .map(|v| {
                v.iter().map(|(l, v)| RuleSample { labels: l.clone(), t: t_ms, v: *v, h: None }).collect()
            })
            .unwrap_or_default())
    }
}

fn series() -> Labels {
    Labels::from_pairs([("__name__", "up"), ("instance", "a"), ("job", "node")])
}

/// One row of a timing table: after evaluating at `minute`, the alert's state (None: gone),
/// and what was sent (None: nothing; Some((startsAt, endsAt)) in minutes).
type Row = (i64, Option<AlertState>, Option<(i64, i64)>);

/// Evaluates `rule` every minute from 0 to the last row's minute and checks every row.
fn run_table(mut rule: AlertingRule, script: &Script, rows: &[Row]) {
    let external = Labels::new();
    let ctx = EvalContext { querier: script, external_labels: &external, external_url: "http://router" };
    let last = rows.last().map_or(0, |r| r.0);
    let mut expected = rows.iter().peekable();
    for minute in 0..=last {
        let ts = minute * M;
        let output = rule.eval(ts, 0, 0, &ctx).expect("eval");
        let sent = rule.alerts_to_send(ts, M, M, "http://router/graph");
        let state = rule.alerts().first().map(|a| a.state);
        // ALERTS and ALERTS_FOR_STATE exist exactly while the alert is pending or firing.
        let active = matches!(state, Some(AlertState::Pending | AlertState::Firing));
        assert_eq!(output.len(), if active { 2 } else { 0 }, "minute {minute}: output {output:?}");
        if let Some(&&(m, want_state, want_sent)) = expected.peek()
            && m == minute
        {
            expected.next();
            assert_eq!(state, want_state, "minute {minute}: state");
            let got =
                sent.first().map(|a| (a.starts_at_ms.unwrap_or(-1) / M, a.ends_at_ms.unwrap_or(-1) / M));
            assert_eq!(got, want_sent, "minute {minute}: sent {sent:?}");
        }
    }
}

fn rule(hold: i64, keep_firing_for: i64) -> AlertingRule {
    AlertingRule::new(
        "InstanceDown",
        "up == 0",
        hold,
        keep_firing_for,
        vec![("severity".into(), "page".into())],
        vec![("summary".into(), "down".into())],
    )
}

#[test]
fn pending_then_firing_after_for_then_resolved_and_resent_for_15_minutes() {
    use AlertState::*;
    let script = Script::minutes(&series(), &[0, 1, 2, 3, 4]);
    let rows: &[Row] = &[
        (0, Some(Pending), None),
        (1, Some(Pending), None),
        (2, Some(Firing), Some((2, 6))),
        (3, Some(Firing), None),
        (4, Some(Firing), Some((2, 8))),
        (5, Some(Inactive), Some((2, 5))),
        (6, Some(Inactive), None),
        (7, Some(Inactive), Some((2, 5))),
        (8, Some(Inactive), None),
        (9, Some(Inactive), Some((2, 5))),
        (20, Some(Inactive), None),
        (21, None, None),
    ];
    run_table(rule(2 * M, 0), &script, rows);
}

#[test]
fn no_for_fires_on_first_evaluation() {
    use AlertState::*;
    let script = Script::minutes(&series(), &[0]);
    run_table(rule(0, 0), &script, &[(0, Some(Firing), Some((0, 4))), (1, Some(Inactive), Some((0, 1)))]);
}

#[test]
fn pending_alert_that_disappears_is_dropped_without_notification() {
    use AlertState::*;
    let script = Script::minutes(&series(), &[0, 1, 3]);
    run_table(
        rule(5 * M, 0),
        &script,
        &[(0, Some(Pending), None), (1, Some(Pending), None), (2, None, None), (3, Some(Pending), None)],
    );
    // A new pending period starts from scratch: active since minute 3.
    let mut r = rule(5 * M, 0);
    let external = Labels::new();
    let ctx = EvalContext { querier: &script, external_labels: &external, external_url: "" };
    for m in 0..=3 {
        r.eval(m * M, 0, 0, &ctx).unwrap();
    }
    assert_eq!(r.alerts()[0].active_at, 3 * M);
}

#[test]
fn keep_firing_for_holds_the_alert_after_the_condition_clears() {
    use AlertState::*;
    // True at 0 and 1; keep_firing_for 3m: firing through minute 4, resolved at 5.
    let script = Script::minutes(&series(), &[0, 1]);
    let rows: &[Row] = &[
        (0, Some(Firing), Some((0, 4))),
        (1, Some(Firing), None),
        (2, Some(Firing), Some((0, 6))),
        (3, Some(Firing), None),
        (4, Some(Firing), Some((0, 8))),
        (5, Some(Inactive), Some((0, 5))),
    ];
    run_table(rule(0, 3 * M), &script, rows);
}

#[test]
fn keep_firing_countdown_restarts_when_the_condition_returns() {
    use AlertState::*;
    // Missing at 2, back at 3 (countdown cancelled), missing from 4: resolved at 4 + 3 = 7.
    let script = Script::minutes(&series(), &[0, 1, 3]);
    let rows: &[Row] = &[
        (2, Some(Firing), Some((0, 6))),
        (3, Some(Firing), None),
        (6, Some(Firing), Some((0, 10))),
        (7, Some(Inactive), Some((0, 7))),
    ];
    let mut r = rule(0, 3 * M);
    run_table(r.clone(), &script, rows);
    let external = Labels::new();
    let ctx = EvalContext { querier: &script, external_labels: &external, external_url: "" };
    for m in 0..=4 {
        r.eval(m * M, 0, 0, &ctx).unwrap();
    }
    assert_eq!(r.alerts()[0].keep_firing_since, Some(4 * M));
}

#[test]
fn a_resolved_alert_that_returns_starts_a_new_pending_period() {
    use AlertState::*;
    let script = Script::minutes(&series(), &[0, 1, 2, 4, 5, 6]);
    let rows: &[Row] = &[
        (1, Some(Firing), Some((1, 5))),
        (3, Some(Inactive), Some((1, 3))),
        (4, Some(Pending), None),
        (5, Some(Firing), Some((5, 9))),
    ];
    run_table(rule(M, 0), &script, rows);
}

#[test]
fn alerts_series_carry_state_and_for_state_carries_active_at() {
    let script = Script::minutes(&series(), &[0, 1, 2]);
    let mut r = rule(2 * M, 0);
    let external = Labels::new();
    let ctx = EvalContext { querier: &script, external_labels: &external, external_url: "" };
    r.eval(0, 0, 0, &ctx).unwrap();
    let out = r.eval(M, 0, 0, &ctx).unwrap();
    let alerts = out.iter().find(|s| s.labels.metric_name() == Some("ALERTS")).unwrap();
    assert_eq!(
        alerts.labels.to_string(),
        r#"ALERTS{alertname="InstanceDown", alertstate="pending", instance="a", job="node", severity="page"}"#
    );
    assert_eq!((alerts.t, alerts.v), (M, 1.0));
    let for_state = out.iter().find(|s| s.labels.metric_name() == Some("ALERTS_FOR_STATE")).unwrap();
    assert_eq!(for_state.v, 0.0);
    assert!(for_state.labels.get("alertstate").is_none());
    // With a query offset, the query and the output move back by the offset.
    let out = r.eval(2 * M + 30_000, 30_000, 0, &ctx).unwrap();
    assert!(out.iter().all(|s| s.t == 2 * M));
    assert!(out.iter().any(|s| s.labels.get("alertstate") == Some("firing")));
    assert_eq!(script.queried.lock().unwrap().last(), Some(&(2 * M)));
}

#[test]
fn limit_and_duplicate_label_sets_fail_the_evaluation() {
    let two = Script::new([(
        0,
        vec![
            (Labels::from_pairs([("__name__", "up"), ("instance", "a")]), 0.0),
            (Labels::from_pairs([("__name__", "up"), ("instance", "b")]), 0.0),
        ],
    )]);
    let external = Labels::new();
    let ctx = EvalContext { querier: &two, external_labels: &external, external_url: "" };
    let mut r = rule(0, 0);
    assert_eq!(r.eval(0, 0, 1, &ctx).unwrap_err(), RuleEvalError::AlertLimit { limit: 1, count: 2 });
    assert!(r.alerts().is_empty());
    assert_eq!(r.eval(0, 0, 2, &ctx).unwrap().len(), 4);
    // Two series that differ only in __name__ collide once the name is dropped.
    let clash = Script::new([(
        0,
        vec![
            (Labels::from_pairs([("__name__", "a"), ("instance", "x")]), 0.0),
            (Labels::from_pairs([("__name__", "b"), ("instance", "x")]), 0.0),
        ],
    )]);
    let ctx = EvalContext { querier: &clash, external_labels: &external, external_url: "" };
    assert_eq!(rule(0, 0).eval(0, 0, 0, &ctx).unwrap_err(), RuleEvalError::DuplicateAlertLabels);
}

#[test]
fn generator_url_links_the_expression() {
    assert_eq!(table_link("up == 0"), "/graph?g0.expr=up+%3D%3D+0&g0.tab=1");
}
