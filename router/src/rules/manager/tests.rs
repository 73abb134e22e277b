//! The manager in real time with short intervals: scheduling, output, reload (good and bad
//! files), state files and restore by a new manager.

use super::*;
use crate::alerts::Alert;
use crate::datasource::EmbeddedDatasource;
use crate::promql::EngineOptions;
use crate::rules::alerting::AlertState;
use crate::rules::group::RuleKind;
use crate::store::{Queryable, Store};
use harrier_telemetry::model::{Sample, Series};
use std::time::Duration;

#[derive(Default)]
struct Collect(Mutex<Vec<Alert>>);

impl AlertSink for Collect {
    fn send(&self, alerts: Vec<Alert>) {
        self.0.lock().unwrap().extend(alerts);
    }
}

const RULES: &str = "groups:\n  - name: g\n    interval: 100ms\n    rules:\n      - record: up:sum\n        expr: sum(up)\n      - alert: AllDown\n        expr: up:sum == 0\n        for: 300ms\n        annotations: {summary: all down}\n";

struct Fixture {
    dir: tempfile::TempDir,
    store: Arc<Store>,
    sink: Arc<Collect>,
}

impl Fixture {
    fn new() -> Self {
        let store = Arc::new(Store::in_memory());
        Fixture { dir: tempfile::tempdir().unwrap(), store, sink: Arc::new(Collect::default()) }
    }

    /// Keeps `up` at 0 with fresh samples.
    fn feed_up(&self) -> tokio::task::JoinHandle<()> {
        let store = Arc::clone(&self.store);
        tokio::spawn(async move {
            let labels = Labels::from_pairs([("__name__", "up"), ("job", "x")]);
            loop {
                let now = harrier_telemetry::model::now_ms();
                let _ = store
                    .append(&[Series::new(labels.clone(), vec![Sample { timestamp_ms: now, value: 0.0 }])]);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    }

    fn write_rules(&self, text: &str) -> PathBuf {
        let path = self.dir.path().join("rules.yml");
        std::fs::write(&path, text).unwrap();
        path
    }

    fn manager(&self) -> RuleManager {
        let ds = EmbeddedDatasource::new(
            Arc::clone(&self.store) as Arc<dyn Queryable>,
            EngineOptions::default(),
            4,
        );
        RuleManager::new(
            ManagerOptions { resend_delay_ms: 60_000, ..ManagerOptions::default() },
            Arc::new(ds),
            Arc::clone(&self.store) as Arc<dyn RuleAppender>,
            Arc::clone(&self.sink) as Arc<dyn AlertSink>,
            Some(self.dir.path().join("state")),
            RuleMetrics::default(),
        )
        .unwrap()
    }
}

fn alert_state(m: &RuleManager) -> Option<(AlertState, i64)> {
    m.groups().iter().flat_map(|g| g.rules.iter()).find_map(|r| match &r.rule {
        RuleKind::Alerting(a) => a.alerts().first().map(|x| (x.state, x.active_at)),
        _ => None,
    })
}

async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..200 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_run_on_their_interval_fire_and_survive_reloads_and_restarts() {
    let f = Fixture::new();
    let feeder = f.feed_up();
    let path = f.write_rules(RULES);
    let m = f.manager();
    m.update(std::slice::from_ref(&path)).await.unwrap();

    wait_for("the alert to fire", || matches!(alert_state(&m), Some((AlertState::Firing, _)))).await;
    let (_, active_at) = alert_state(&m).unwrap();
    // The firing alert is sent after the evaluation is published and its state saved.
    wait_for("the notification", || !f.sink.0.lock().unwrap().is_empty()).await;
    {
        let sent = f.sink.0.lock().unwrap();
        assert_eq!(sent.len(), 1, "one notification: {sent:?}");
        assert_eq!(sent[0].annotations.get("summary"), Some("all down"));
    }
    let g = &m.groups()[0];
    assert!(g.rules.iter().all(|r| r.health == crate::rules::group::RuleHealth::Ok));
    let recorded = f.store.series(
        &[crate::store::Matcher::new(promql_parser::label::MatchOp::Equal, "__name__", "up:sum")],
        0,
        i64::MAX,
    );
    assert_eq!(recorded.unwrap().len(), 1);

    // A broken file on reload: error, old rules keep running with their state.
    std::fs::write(&path, "groups:\n  - name: g\n    rules:\n      - alert: X\n        expr: 'up =='\n")
        .unwrap();
    let err = m.update(std::slice::from_ref(&path)).await.unwrap_err();
    assert!(err.to_string().contains("rules.yml"), "{err}");
    assert_eq!(alert_state(&m).map(|s| s.1), Some(active_at));
    assert_eq!(m.groups()[0].rules.len(), 2);

    // A changed file (annotation text) keeps the alert's state: same active_at, still firing.
    std::fs::write(&path, RULES.replace("all down", "everything down")).unwrap();
    m.update(std::slice::from_ref(&path)).await.unwrap();
    assert_eq!(alert_state(&m), Some((AlertState::Firing, active_at)));
    wait_for("the new annotation", || {
        m.groups()[0].rules.iter().any(|r| match &r.rule {
            RuleKind::Alerting(a) => {
                a.alerts().first().is_some_and(|x| x.annotations.get("summary") == Some("everything down"))
            }
            _ => false,
        })
    })
    .await;
    m.stop().await;
    assert_eq!(f.sink.0.lock().unwrap().len(), 1, "no re-send within the resend delay");

    // A new manager (a restart) restores the firing alert from disk: no new notification.
    let m2 = f.manager();
    m2.update(std::slice::from_ref(&path)).await.unwrap();
    assert_eq!(alert_state(&m2), Some((AlertState::Firing, active_at)));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(alert_state(&m2), Some((AlertState::Firing, active_at)));
    assert_eq!(f.sink.0.lock().unwrap().len(), 1, "no duplicate notification after the restart");

    // Removing the group ends its series and deletes its state file.
    std::fs::write(&path, "groups: []\n").unwrap();
    m2.update(std::slice::from_ref(&path)).await.unwrap();
    assert!(m2.groups().is_empty());
    assert_eq!(std::fs::read_dir(f.dir.path().join("state")).unwrap().count(), 0);
    m2.stop().await;
    feeder.abort();
}
