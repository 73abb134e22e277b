//! Group evaluation on the real engine and store: rule order, staleness markers, state carried
//! over a reload, evaluation phase.

use super::*;
use crate::promql::{Engine, EngineOptions};
use crate::rules::eval::{EngineQuerier, EvalContext};
use crate::rules::file::load_str;
use crate::store::{Queryable, Store};
use harrier_telemetry::model::{Sample, Series, is_stale_nan};
use std::sync::Arc;

const M: i64 = 60_000;

const RULES: &str = r#"
groups:
  - name: node
    interval: 1m
    labels: {team: infra}
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
      - alert: JobDown
        expr: job:up:sum == 0
        for: 1m
        labels: {severity: page}
"#;

fn groups() -> Vec<Group> {
    let loaded = load_str(RULES.to_string(), "rules.yml", false).unwrap();
    build_groups(&loaded, 60_000, 0)
}

fn store_with_up(values: &[(i64, f64)]) -> Arc<Store> {
    let store = Arc::new(Store::in_memory());
    let labels = Labels::from_pairs([("__name__", "up"), ("instance", "a"), ("job", "node")]);
    let samples = values.iter().map(|&(t, v)| Sample { timestamp_ms: t, value: v }).collect();
    store.append(&[Series::new(labels, samples)]).unwrap();
    store
}

fn series_at(store: &Store, name: &str, t: i64) -> Vec<(Labels, f64)> {
    let m = crate::store::Matcher::new(promql_parser::label::MatchOp::Equal, "__name__", name);
    store
        .select(&[m], t, t)
        .unwrap()
        .into_iter()
        .filter_map(|s| s.samples.first().map(|x| (s.labels.clone(), x.value)))
        .collect()
}

#[test]
fn build_groups_merges_group_labels_and_defaults() {
    let g = &groups()[0];
    assert_eq!(g.settings.interval_ms, M);
    assert_eq!(g.key(), "rules.yml;node");
    assert_eq!(g.rules[0].rule.labels(), &[("team".to_string(), "infra".to_string())]);
    assert_eq!(
        g.rules[1].rule.labels(),
        &[("severity".to_string(), "page".to_string()), ("team".to_string(), "infra".to_string())]
    );
}

#[test]
fn recording_output_is_visible_to_later_rules_and_alerts_series_go_stale() {
    // up is 0 at minutes 0..=2, then 1.
    let store = store_with_up(&[(0, 0.0), (M, 0.0), (2 * M, 0.0), (3 * M, 1.0), (4 * M, 1.0)]);
    let querier = EngineQuerier {
        engine: Engine::new(EngineOptions::default()),
        storage: store.clone() as Arc<dyn Queryable>,
    };
    let external = Labels::from_pairs([("cluster", "eu1")]);
    let ctx = EvalContext { querier: &querier, external_labels: &external, external_url: "http://r" };
    let mut group = groups().remove(0);

    let out = group.eval(0, &ctx, store.as_ref(), M);
    assert_eq!(out.failures, 0);
    // The alert saw the recorded series in the same evaluation.
    let recorded = series_at(&store, "job:up:sum", 0);
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].0.to_string(), r#"job:up:sum{job="node", team="infra"}"#);
    let alerts = series_at(&store, "ALERTS", 0);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].0.get("alertstate"), Some("pending"));

    let out = group.eval(M, &ctx, store.as_ref(), M);
    assert_eq!(out.alerts.len(), 1, "fires after 1m and is sent");
    assert_eq!(out.alerts[0].generator_url, "http://r/graph?g0.expr=job%3Aup%3Asum+%3D%3D+0&g0.tab=1");
    assert_eq!(series_at(&store, "ALERTS", M)[0].0.get("alertstate"), Some("firing"));

    group.eval(2 * M, &ctx, store.as_ref(), M);
    let out = group.eval(3 * M, &ctx, store.as_ref(), M);
    assert_eq!(out.alerts.len(), 1, "the resolution is sent");
    assert_eq!(out.alerts[0].ends_at_ms, Some(3 * M));
    // ALERTS{firing} ends with a staleness marker at the resolve time.
    let at3 = series_at(&store, "ALERTS", 3 * M);
    assert_eq!(at3.len(), 1);
    assert!(is_stale_nan(at3[0].1));
    assert_eq!(group.rules[1].health, RuleHealth::Ok);
}

#[test]
fn a_failing_rule_reports_its_error_and_keeps_its_series() {
    let store = store_with_up(&[(0, 0.0)]);
    let querier = EngineQuerier {
        engine: Engine::new(EngineOptions::default()),
        storage: store.clone() as Arc<dyn Queryable>,
    };
    let external = Labels::new();
    let ctx = EvalContext { querier: &querier, external_labels: &external, external_url: "" };
    let loaded = load_str(
        "groups:\n  - name: g\n    rules:\n      - record: r\n        expr: up\n      - record: bad\n        expr: 'label_replace(up, \"x\", \"$1\", \"job\", \"(\")'\n".into(),
        "f.yml",
        false,
    )
    .unwrap();
    // An invalid regex in label_replace only fails at evaluation.
    let mut group = build_groups(&loaded, M, 0).remove(0);
    let out = group.eval(0, &ctx, store.as_ref(), M);
    assert_eq!(out.failures, 1);
    assert_eq!(group.rules[0].health, RuleHealth::Ok);
    assert_eq!(group.rules[1].health, RuleHealth::Err);
    assert!(
        group.rules[1].last_error.as_deref().unwrap_or("").contains("invalid regular expression"),
        "{:?}",
        group.rules[1].last_error
    );
}

#[test]
fn reload_carries_alert_state_and_written_series() {
    let store = store_with_up(&[(0, 0.0), (M, 0.0)]);
    let querier = EngineQuerier {
        engine: Engine::new(EngineOptions::default()),
        storage: store.clone() as Arc<dyn Queryable>,
    };
    let external = Labels::new();
    let ctx = EvalContext { querier: &querier, external_labels: &external, external_url: "" };
    let mut old = groups().remove(0);
    old.eval(0, &ctx, store.as_ref(), M);
    let mut new = groups().remove(0);
    new.copy_state_from(&old);
    let RuleKind::Alerting(a) = &new.rules[1].rule else { panic!("alerting rule expected") };
    assert_eq!(a.alerts().len(), 1);
    assert_eq!(a.alerts()[0].active_at, 0);
    assert_eq!(new.last_eval_ms, Some(0));
    // Evaluating the new group at 1m fires the carried-over alert (its `for` kept running).
    let out = new.eval(M, &ctx, store.as_ref(), M);
    assert_eq!(out.alerts.len(), 1);
    assert_eq!(out.alerts[0].starts_at_ms, Some(M));
    // A removed group ends every series it wrote.
    let markers = new.stale_markers(2 * M);
    assert_eq!(markers.len(), 3, "{markers:?}"); // job:up:sum, ALERTS, ALERTS_FOR_STATE
    assert!(markers.iter().all(|s| is_stale_nan(s.v) && s.t == 2 * M));
}

#[test]
fn evaluation_slots_have_a_fixed_phase_per_group() {
    let g = groups().remove(0);
    let t0 = g.eval_timestamp(1_700_000_000_000);
    assert!(t0 <= 1_700_000_000_000 && 1_700_000_000_000 - t0 < M);
    for k in 1..5 {
        assert_eq!(g.eval_timestamp(1_700_000_000_000 + k * M), t0 + k * M);
    }
    assert_eq!(g.eval_timestamp(t0 + 1), t0);
}

#[test]
fn reload_pairs_same_named_rules_by_labels_and_stales_removed_rules() {
    let two = "groups:\n  - name: g\n    rules:\n      - alert: X\n        expr: up == 0\n        labels: {severity: warning}\n      - alert: X\n        expr: up == 0\n        labels: {severity: critical}\n      - record: gone\n        expr: up\n";
    let store = store_with_up(&[(0, 0.0), (M, 0.0)]);
    let querier = EngineQuerier {
        engine: Engine::new(EngineOptions::default()),
        storage: store.clone() as Arc<dyn Queryable>,
    };
    let external = Labels::new();
    let ctx = EvalContext { querier: &querier, external_labels: &external, external_url: "" };
    let mut old = build_groups(&load_str(two.into(), "f.yml", false).unwrap(), M, 0).remove(0);
    old.eval(0, &ctx, store.as_ref(), M);
    // The warning rule is deleted (and the recording rule too): the critical one keeps its
    // alert, the removed rules' series get staleness markers at the next evaluation.
    let one = "groups:\n  - name: g\n    rules:\n      - alert: X\n        expr: up == 0\n        labels: {severity: critical}\n";
    let mut new = build_groups(&load_str(one.into(), "f.yml", false).unwrap(), M, 0).remove(0);
    new.copy_state_from(&old);
    let RuleKind::Alerting(a) = &new.rules[0].rule else { panic!("alerting rule expected") };
    assert_eq!(a.alerts().len(), 1);
    assert_eq!(a.alerts()[0].labels.get("severity"), Some("critical"));
    assert_eq!(a.alerts()[0].state, crate::rules::alerting::AlertState::Firing);
    new.eval(M, &ctx, store.as_ref(), M);
    let gone = series_at(&store, "gone", M);
    assert!(gone.len() == 1 && is_stale_nan(gone[0].1), "{gone:?}");
    let warning: Vec<_> = series_at(&store, "ALERTS", M)
        .into_iter()
        .filter(|(l, _)| l.get("severity") == Some("warning"))
        .collect();
    assert!(warning.len() == 1 && is_stale_nan(warning[0].1), "{warning:?}");
}
