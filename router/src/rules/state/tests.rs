//! Alert state files and restore semantics.

use super::*;
use crate::rules::file::load_str;
use crate::rules::group::build_groups;

const M: i64 = 60_000;

fn group() -> Group {
    let yaml = "groups:\n  - name: g\n    rules:\n      - alert: Slow\n        expr: up == 0\n        for: 5m\n      - alert: Held\n        expr: up == 0\n        keep_firing_for: 10m\n";
    build_groups(&load_str(yaml.into(), "r.yml", false).unwrap(), M, 0).remove(0)
}

fn alert(state: AlertState, name: &str, active_at: i64) -> ActiveAlert {
    ActiveAlert {
        state,
        labels: Labels::from_pairs([("alertname", name), ("instance", "a")]),
        annotations: Labels::from_pairs([("summary", "s")]),
        value: f64::NAN,
        active_at,
        fired_at: (state == AlertState::Firing).then_some(active_at),
        resolved_at: None,
        last_sent_at: (state == AlertState::Firing).then_some(active_at + M),
        valid_until: None,
        keep_firing_since: None,
    }
}

/// The group at `now` with a pending `Slow` (active since `slow_since`) and a firing `Held`
/// counting down since `held_since`, captured.
fn saved(slow_since: i64, held_since: i64, now: i64) -> GroupState {
    let mut g = group();
    for rule in &mut g.rules {
        if let RuleKind::Alerting(a) = &mut rule.rule {
            let x = if a.name() == "Slow" {
                alert(AlertState::Pending, "Slow", slow_since)
            } else {
                ActiveAlert { keep_firing_since: Some(held_since), ..alert(AlertState::Firing, "Held", 0) }
            };
            a.set_alerts([x]);
        }
    }
    g.last_eval_ms = Some(now);
    capture(&g).unwrap()
}

fn restored(state: &GroupState, now: i64, options: RestoreOptions) -> Vec<ActiveAlert> {
    let mut g = group();
    restore_group(&mut g, state, now, options);
    g.rules
        .iter()
        .flat_map(|r| match &r.rule {
            RuleKind::Alerting(a) => a.alerts().into_iter().cloned().collect(),
            _ => Vec::new(),
        })
        .collect()
}

#[test]
fn save_and_load_round_trip_and_corruption_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let states = StateDir::open(dir.path().join("rules")).unwrap();
    let state = saved(0, 2 * M, 3 * M);
    states.save("r.yml;g", Some(&state)).unwrap();
    let back = states.load("r.yml;g").unwrap().unwrap();
    assert_eq!(back, state);
    assert!(back.rules[0].alerts[0].value == "NaN");
    assert_eq!(states.load("other;g").unwrap(), None);

    // Flip a byte inside the JSON: the checksum catches it.
    let path = states.path_for("r.yml;g");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[10] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();
    assert!(matches!(states.load("r.yml;g"), Err(StateError::Corrupt { .. })));
    // Truncated: also corrupt, not a panic.
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    assert!(matches!(states.load("r.yml;g"), Err(StateError::Corrupt { .. })));
    std::fs::write(&path, b"\xff\xfe").unwrap();
    assert!(matches!(states.load("r.yml;g"), Err(StateError::Corrupt { .. })));

    states.save("r.yml;g", None).unwrap();
    assert!(!path.exists());
    states.save("r.yml;g", None).unwrap();
}

#[test]
fn a_short_restart_resumes_exactly() {
    // Slow pending since 0 (for 5m), saved at 3m; restarted 10 s later.
    let state = saved(0, 2 * M, 3 * M);
    let alerts = restored(&state, 3 * M + 10_000, RestoreOptions::default());
    let slow = alerts.iter().find(|a| a.labels.get("alertname") == Some("Slow")).unwrap();
    assert_eq!(slow.state, AlertState::Pending);
    assert_eq!(slow.active_at, 0, "fires at the original 5 minute mark");
    let held = alerts.iter().find(|a| a.labels.get("alertname") == Some("Held")).unwrap();
    assert_eq!(held.state, AlertState::Firing);
    // Their ALERTS series are tracked again, so they end with staleness markers.
    let mut g = group();
    restore_group(&mut g, &state, 3 * M + 10_000, RestoreOptions::default());
    assert_eq!(g.stale_markers(0).len(), 4);
    assert_eq!(held.keep_firing_since, Some(2 * M), "the keep-firing deadline is unchanged");
    assert_eq!(held.last_sent_at, Some(M), "no immediate re-send");
    assert_eq!(held.fired_at, Some(0), "same startsAt");
}

#[test]
fn unobserved_downtime_delays_firing_up_to_the_grace_period() {
    let options = RestoreOptions { outage_tolerance_ms: 60 * M, for_grace_period_ms: 2 * M };
    // Saved at 3m, back at 10m: the 5m `for` ran out while down; the alert must be seen for
    // min(grace 2m, downtime 7m, for 5m) = 2m more: fires at 12m, so active_at = 7m.
    let alerts = restored(&saved(0, 2 * M, 3 * M), 10 * M, options);
    let slow = alerts.iter().find(|a| a.labels.get("alertname") == Some("Slow")).unwrap();
    assert_eq!(slow.active_at + 5 * M, 12 * M);
    // Down 30 s: the delay is the 30 s not observed; the original mark (5m) is later anyway.
    let alerts = restored(&saved(0, 2 * M, 3 * M), 3 * M + 30_000, options);
    let slow = alerts.iter().find(|a| a.labels.get("alertname") == Some("Slow")).unwrap();
    assert_eq!(slow.active_at, 0);
    // Down 30 s from 4m50s, back at 5m20s: the 5m mark passed while down; the 30 s not observed
    // are observed again after the restart, so it fires at 5m50s.
    let alerts = restored(&saved(0, 2 * M, 4 * M + 50_000), 5 * M + 20_000, options);
    let slow = alerts.iter().find(|a| a.labels.get("alertname") == Some("Slow")).unwrap();
    assert_eq!(slow.active_at + 5 * M, 5 * M + 20_000 + 30_000);
}

#[test]
fn state_older_than_the_outage_tolerance_is_not_restored() {
    let options = RestoreOptions { outage_tolerance_ms: 60 * M, for_grace_period_ms: 10 * M };
    assert!(restored(&saved(0, 2 * M, 3 * M), 64 * M, options).is_empty());
    assert_eq!(restored(&saved(0, 2 * M, 3 * M), 62 * M, options).len(), 2);
}

#[test]
fn a_changed_rule_does_not_take_old_alerts() {
    let mut state = saved(0, 2 * M, 3 * M);
    state.rules[0].labels = vec![("severity".into(), "page".into())];
    let alerts = restored(&state, 3 * M, RestoreOptions::default());
    assert_eq!(alerts.len(), 1);
}
