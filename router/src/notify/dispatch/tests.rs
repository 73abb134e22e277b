//! Dispatcher tests in virtual time, with a recording fake integration. The timing cases are
//! derived from Alertmanager's documented behaviour (group_wait, group_interval,
//! repeat_interval, send_resolved, inhibition, silences, time intervals).

use super::persist::{ALERTS_FILE, NFLOG_FILE, SavedAlerts, SavedNflog};
use super::*;
use crate::notify::alert::{AlertState, Notification};
use crate::notify::receivers::{Integration, NotifyError, NotifyFuture};
use crate::notify::silences::Silence;
use crate::route::load_str;
use crate::route::matchers::parse_matchers;
use crate::state_file;
use harrier_telemetry::model::Labels;
use std::sync::Mutex as StdMutex;

/// 2023-11-14T22:13:20Z.
const T0: i64 = 1_700_000_000_000;
const DAY_MS: i64 = 86_400_000;

#[derive(Debug, Clone)]
enum Step {
    Ok,
    Fail {
        retryable: bool,
        retry_after: Option<Duration>,
    },
    Hang,
    /// Succeeds after this long (a slow receiver); the attempt counts as received at its start.
    Slow(Duration),
}

/// A fake integration: records every attempt and every delivered notification; follows a
/// script of outcomes (then succeeds).
struct Recorder {
    send_resolved: bool,
    clock: Clock,
    script: StdMutex<VecDeque<Step>>,
    /// Attempt times, ms since T0.
    attempts: StdMutex<Vec<i64>>,
    delivered: StdMutex<Vec<(i64, Notification)>>,
}

impl Recorder {
    fn new(clock: Clock, send_resolved: bool) -> Arc<Recorder> {
        Arc::new(Recorder {
            send_resolved,
            clock,
            script: StdMutex::new(VecDeque::new()),
            attempts: StdMutex::new(Vec::new()),
            delivered: StdMutex::new(Vec::new()),
        })
    }

    fn script(&self, steps: &[Step]) {
        self.script.lock().unwrap().extend(steps.iter().cloned());
    }

    /// Deliveries as `"<secs since T0> <receiver> +firing -resolved ..."`.
    fn deliveries(&self) -> Vec<String> {
        self.delivered.lock().unwrap().iter().map(|(at, n)| describe(*at, n)).collect()
    }

    fn delivery_times(&self) -> Vec<i64> {
        self.delivered.lock().unwrap().iter().map(|(at, _)| *at).collect()
    }

    fn attempt_times(&self) -> Vec<i64> {
        self.attempts.lock().unwrap().clone()
    }
}

fn describe(at_ms: i64, n: &Notification) -> String {
    let mut out = if at_ms % 1000 == 0 {
        format!("{} {}", at_ms / 1000, n.receiver)
    } else {
        format!("{at_ms}ms {}", n.receiver)
    };
    for a in &n.alerts {
        let sign = if a.resolved_at(n.now_ms) { '-' } else { '+' };
        out.push_str(&format!(" {sign}{}", a.name()));
    }
    out
}

impl Integration for Recorder {
    fn name(&self) -> &'static str {
        "webhook"
    }

    fn send_resolved(&self) -> bool {
        self.send_resolved
    }

    fn notify<'a>(&'a self, notification: &'a Notification) -> NotifyFuture<'a> {
        Box::pin(async move {
            let at = self.clock.now_ms() - T0;
            self.attempts.lock().unwrap().push(at);
            let step = self.script.lock().unwrap().pop_front().unwrap_or(Step::Ok);
            match step {
                Step::Ok => {
                    self.delivered.lock().unwrap().push((at, notification.clone()));
                    Ok(())
                }
                Step::Fail { retryable, retry_after } => {
                    Err(NotifyError { message: "receiver said no".into(), retryable, retry_after })
                }
                Step::Hang => std::future::pending().await,
                Step::Slow(took) => {
                    tokio::time::sleep(took).await;
                    self.delivered.lock().unwrap().push((at, notification.clone()));
                    Ok(())
                }
            }
        })
    }
}

/// An alertmanager.yml: the root route with `route` lines (group_wait 30s, group_interval 5m
/// and repeat_interval 4h unless they set them), receivers `default`, `other` and `slow`.
fn config(route: &str, extra: &str) -> String {
    let mut text = String::from("route:\n  receiver: default\n");
    for (key, value) in [("group_wait", "30s"), ("group_interval", "5m"), ("repeat_interval", "4h")] {
        if !route.contains(key) {
            text.push_str(&format!("  {key}: {value}\n"));
        }
    }
    format!("{text}{route}\nreceivers: [{{name: default}}, {{name: other}}, {{name: slow}}]\n{extra}")
}

/// Everything a test needs around a running dispatcher.
struct Harness {
    clock: Clock,
    recorder: Arc<Recorder>,
    silences: Arc<Silences>,
    dispatcher: Arc<Dispatcher>,
    text: String,
}

fn integrations_for(cfg: &AlertmanagerConfig, recorder: &Arc<Recorder>) -> Integrations {
    cfg.receivers
        .iter()
        .map(|r| (r.name.clone(), vec![Arc::clone(recorder) as Arc<dyn Integration>]))
        .collect()
}

impl Harness {
    fn start(text: &str, send_resolved: bool, options: DispatcherOptions) -> Harness {
        let clock = options.clock;
        let recorder = Recorder::new(clock, send_resolved);
        let silences = Arc::new(Silences::open(None, clock, Duration::from_secs(120 * 3600)).unwrap());
        Self::start_with(text, recorder, silences, options)
    }

    fn start_with(
        text: &str,
        recorder: Arc<Recorder>,
        silences: Arc<Silences>,
        options: DispatcherOptions,
    ) -> Harness {
        let cfg = Arc::new(load_str(text, "am.yml").unwrap());
        let intervals = TimeIntervals::new(&cfg).unwrap();
        let clock = options.clock;
        let dispatcher = Dispatcher::start(
            Arc::clone(&cfg),
            text.to_string(),
            integrations_for(&cfg, &recorder),
            Arc::clone(&silences),
            intervals,
            options,
        )
        .unwrap();
        Harness { clock, recorder, silences, dispatcher, text: text.to_string() }
    }

    /// Sleeps (virtual time) until `secs` after T0.
    async fn at(&self, secs: f64) {
        let wait = T0 + (secs * 1000.0) as i64 - self.clock.now_ms();
        tokio::time::sleep(Duration::from_millis(wait.max(0) as u64)).await;
    }

    /// Fires an alert as Prometheus sends it: start and end (a day later) set.
    fn fire(&self, name: &str, extra: &[(&str, &str)]) {
        let now = self.clock.now_ms();
        self.dispatcher.put_alerts(vec![alert(name, extra, now, now + DAY_MS)]);
    }

    fn resolve(&self, name: &str, extra: &[(&str, &str)]) {
        let now = self.clock.now_ms();
        self.dispatcher.put_alerts(vec![alert(name, extra, 0, now)]);
    }
}

fn alert(name: &str, extra: &[(&str, &str)], starts: i64, ends: i64) -> Alert {
    let mut labels = Labels::from_pairs(extra.iter().copied());
    labels.set("alertname", name);
    Alert {
        labels,
        annotations: Labels::new(),
        starts_at_ms: starts,
        ends_at_ms: ends,
        generator_url: String::new(),
        updated_at_ms: 0,
        timeout: false,
    }
}

fn options(clock: Clock) -> DispatcherOptions {
    DispatcherOptions { clock, ..DispatcherOptions::default() }
}

#[derive(Debug, Clone, Copy)]
enum Event {
    Fire(&'static str, &'static [(&'static str, &'static str)]),
    /// Fires with no end time: the receiving side sets `resolve_timeout` (5m).
    FireNoEnd(&'static str),
    /// Fires an alert that started this many seconds ago.
    FireStartedAgo(&'static str, i64),
    Resolve(&'static str, &'static [(&'static str, &'static str)]),
    /// A silence for `alertname=<name>` from now until `<secs>` after T0.
    Silence(&'static str, i64),
}

struct Case {
    name: &'static str,
    route: &'static str,
    extra: &'static str,
    send_resolved: bool,
    events: &'static [(f64, Event)],
    horizon: f64,
    want: &'static [&'static str],
}

const NONE: &[(&str, &str)] = &[];
const BY_NAME: &str = "  group_by: [alertname]";
const ONE_GROUP: &str = "  group_by: []";

const CASES: &[Case] = &[
    Case {
        name: "group_wait batches the alerts of a group into one notification",
        route: ONE_GROUP,
        extra: "",
        send_resolved: true,
        events: &[(0.0, Event::Fire("A", NONE)), (10.0, Event::Fire("B", NONE))],
        horizon: 200.0,
        want: &["30 default +A +B"],
    },
    Case {
        name: "each group waits group_wait from its own first alert",
        route: BY_NAME,
        extra: "",
        send_resolved: true,
        events: &[(0.0, Event::Fire("A", NONE)), (10.0, Event::Fire("B", NONE))],
        horizon: 200.0,
        want: &["30 default +A", "40 default +B"],
    },
    Case {
        name: "a new alert in a flushed group waits for group_interval",
        route: ONE_GROUP,
        extra: "",
        send_resolved: true,
        events: &[(0.0, Event::Fire("A", NONE)), (60.0, Event::Fire("B", NONE))],
        horizon: 600.0,
        want: &["30 default +A", "330 default +A +B"],
    },
    Case {
        name: "repeat_interval repeats, at the first flush after it elapsed",
        route: "  group_by: []\n  repeat_interval: 1h",
        extra: "",
        send_resolved: true,
        events: &[(0.0, Event::Fire("A", NONE))],
        horizon: 8_000.0,
        want: &["30 default +A", "3930 default +A", "7830 default +A"],
    },
    Case {
        name: "resolved alert notified at the next flush with send_resolved",
        route: ONE_GROUP,
        extra: "",
        send_resolved: true,
        events: &[(0.0, Event::Fire("A", NONE)), (120.0, Event::Resolve("A", NONE))],
        horizon: 1_000.0,
        want: &["30 default +A", "330 default -A"],
    },
    Case {
        name: "resolved alert not notified without send_resolved",
        route: ONE_GROUP,
        extra: "",
        send_resolved: false,
        events: &[(0.0, Event::Fire("A", NONE)), (120.0, Event::Resolve("A", NONE))],
        horizon: 20_000.0,
        want: &["30 default +A"],
    },
    Case {
        name: "an alert resolved within group_wait is never notified",
        route: ONE_GROUP,
        extra: "",
        send_resolved: true,
        events: &[(0.0, Event::Fire("A", NONE)), (10.0, Event::Resolve("A", NONE))],
        horizon: 1_000.0,
        want: &[],
    },
    Case {
        name: "partial resolve notifies with send_resolved",
        route: ONE_GROUP,
        extra: "",
        send_resolved: true,
        events: &[
            (0.0, Event::Fire("A", NONE)),
            (0.0, Event::Fire("B", NONE)),
            (100.0, Event::Resolve("B", NONE)),
        ],
        horizon: 1_000.0,
        want: &["30 default +A +B", "330 default +A -B"],
    },
    Case {
        name: "partial resolve waits for repeat_interval without send_resolved",
        route: "  group_by: []\n  repeat_interval: 1h",
        extra: "",
        send_resolved: false,
        events: &[
            (0.0, Event::Fire("A", NONE)),
            (0.0, Event::Fire("B", NONE)),
            (100.0, Event::Resolve("B", NONE)),
        ],
        horizon: 4_000.0,
        want: &["30 default +A +B", "3930 default +A"],
    },
    Case {
        name: "an alert that started more than group_wait ago flushes a new group at once",
        route: ONE_GROUP,
        extra: "",
        send_resolved: true,
        events: &[(0.0, Event::FireStartedAgo("A", 600))],
        horizon: 200.0,
        want: &["0 default +A"],
    },
    Case {
        name: "an old alert does not hurry a group that already flushed",
        route: ONE_GROUP,
        extra: "",
        send_resolved: true,
        events: &[(0.0, Event::Fire("A", NONE)), (60.0, Event::FireStartedAgo("B", 600))],
        horizon: 400.0,
        want: &["30 default +A", "330 default +A +B"],
    },
    Case {
        name: "an alert without end time resolves after resolve_timeout",
        route: ONE_GROUP,
        extra: "",
        send_resolved: true,
        events: &[(0.0, Event::FireNoEnd("A"))],
        horizon: 1_000.0,
        want: &["30 default +A", "330 default -A"],
    },
    Case {
        name: "an alert firing again after its resolved notification starts a new group",
        route: ONE_GROUP,
        extra: "",
        send_resolved: true,
        events: &[
            (0.0, Event::Fire("A", NONE)),
            (100.0, Event::Resolve("A", NONE)),
            (400.0, Event::Fire("A", NONE)),
        ],
        horizon: 600.0,
        want: &["30 default +A", "330 default -A", "430 default +A"],
    },
    Case {
        name: "a firing source inhibits its targets with equal labels until it resolves",
        route: BY_NAME,
        extra: "inhibit_rules:\n- source_matchers: [severity=\"critical\"]\n  target_matchers: [severity=\"warning\"]\n  equal: [cluster]\n",
        send_resolved: true,
        events: &[
            (0.0, Event::Fire("W", &[("severity", "warning"), ("cluster", "a")])),
            (0.0, Event::Fire("X", &[("severity", "warning"), ("cluster", "b")])),
            (5.0, Event::Fire("C", &[("severity", "critical"), ("cluster", "a")])),
            (400.0, Event::Resolve("C", &[("severity", "critical"), ("cluster", "a")])),
        ],
        horizon: 700.0,
        want: &["30 default +X", "35 default +C", "630 default +W", "635 default -C"],
    },
    Case {
        name: "a silence mutes matching alerts until it expires",
        route: BY_NAME,
        extra: "",
        send_resolved: true,
        events: &[
            (0.0, Event::Silence("A", 600)),
            (1.0, Event::Fire("A", NONE)),
            (1.0, Event::Fire("B", NONE)),
        ],
        horizon: 700.0,
        want: &["31 default +B", "631 default +A"],
    },
    Case {
        name: "mute_time_intervals hold notifications while the interval lasts",
        route: "  group_by: [alertname]\n  routes:\n  - matchers: [alertname=\"A\"]\n    mute_time_intervals: [evening]",
        extra: "time_intervals:\n- name: evening\n  time_intervals: [{times: [{start_time: '22:00', end_time: '22:20'}]}]\n",
        send_resolved: true,
        events: &[(0.0, Event::Fire("A", NONE)), (0.0, Event::Fire("B", NONE))],
        horizon: 700.0,
        // T0 is 22:13:20 UTC: muted until 22:20 (T0 + 400s).
        want: &["30 default +B", "630 default +A"],
    },
    Case {
        name: "active_time_intervals send only within the interval",
        route: "  group_by: [alertname]\n  routes:\n  - matchers: [alertname=\"A\"]\n    active_time_intervals: [late]",
        extra: "time_intervals:\n- name: late\n  time_intervals: [{times: [{start_time: '22:20', end_time: '23:00'}]}]\n",
        send_resolved: true,
        events: &[(0.0, Event::Fire("A", NONE))],
        horizon: 700.0,
        want: &["630 default +A"],
    },
];

async fn run_case(case: &Case) -> Vec<String> {
    let clock = Clock::starting_at(T0);
    let h = Harness::start(&config(case.route, case.extra), case.send_resolved, options(clock));
    for (at, event) in case.events {
        h.at(*at).await;
        let now = clock.now_ms();
        match *event {
            Event::Fire(name, extra) => h.fire(name, extra),
            Event::FireNoEnd(name) => h.dispatcher.put_alerts(vec![alert(name, NONE, 0, 0)]),
            Event::FireStartedAgo(name, ago) => {
                h.dispatcher.put_alerts(vec![alert(name, NONE, now - ago * 1000, now + DAY_MS)])
            }
            Event::Resolve(name, extra) => h.resolve(name, extra),
            Event::Silence(name, until) => {
                h.silences
                    .set(Silence {
                        id: String::new(),
                        matchers: parse_matchers(&format!("{{alertname=\"{name}\"}}")).unwrap(),
                        starts_at_ms: now,
                        ends_at_ms: T0 + until * 1000,
                        updated_at_ms: 0,
                        created_by: "test".into(),
                        comment: "test".into(),
                    })
                    .unwrap();
            }
        }
    }
    h.at(case.horizon).await;
    let got = h.recorder.deliveries();
    h.dispatcher.stop().await;
    got
}

#[tokio::test(start_paused = true)]
async fn timing_follows_alertmanager() {
    let mut failures = Vec::new();
    for case in CASES {
        let got = run_case(case).await;
        if got != case.want {
            failures.push(format!("{}:\n  want {:?}\n  got  {:?}", case.name, case.want, got));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test(start_paused = true)]
async fn failed_attempt_is_retried_once_delivered() {
    let h = Harness::start(&config(ONE_GROUP, ""), true, options(Clock::starting_at(T0)));
    h.recorder.script(&[Step::Fail { retryable: true, retry_after: None }]);
    h.fire("A", NONE);
    h.at(200.0).await;
    assert_eq!(h.recorder.deliveries().len(), 1, "one delivery");
    let attempts = h.recorder.attempt_times();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0], 30_000);
    assert!((30_250..=30_500).contains(&attempts[1]), "first backoff step is 250-500ms: {attempts:?}");
    let records = h.dispatcher.recent_deliveries();
    assert_eq!(records.len(), 1);
    assert_eq!((records[0].attempts, records[0].error.clone(), records[0].firing), (2, None, 1));
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_honoured() {
    let h = Harness::start(&config(ONE_GROUP, ""), true, options(Clock::starting_at(T0)));
    h.recorder.script(&[Step::Fail { retryable: true, retry_after: Some(Duration::from_secs(20)) }]);
    h.fire("A", NONE);
    h.at(200.0).await;
    assert_eq!(h.recorder.attempt_times(), vec![30_000, 50_000]);
    assert_eq!(h.recorder.delivery_times(), vec![50_000]);
}

#[tokio::test(start_paused = true)]
async fn hanging_attempt_is_bounded_by_the_flush_deadline() {
    let h = Harness::start(&config(ONE_GROUP, ""), true, options(Clock::starting_at(T0)));
    h.recorder.script(&[Step::Hang]);
    h.fire("A", NONE);
    h.at(400.0).await;
    // The flush at 30s waits for its attempt until its deadline (group_interval); the next
    // flush tries again.
    assert_eq!(h.recorder.attempt_times(), vec![30_000, 330_000]);
    assert_eq!(h.recorder.deliveries(), vec!["330 default +A"]);
    let records = h.dispatcher.recent_deliveries();
    assert!(records[1].error.as_deref().is_some_and(|e| e.contains("flush deadline")), "{records:?}");
}

#[tokio::test(start_paused = true)]
async fn slow_but_successful_receiver_is_sent_the_notification_once() {
    // A webhook answering after 40s (its own `timeout` allows it) with group_interval 5m: the
    // pipeline's only bound is the flush deadline, so the receiver sees one POST.
    let h = Harness::start(&config(ONE_GROUP, ""), true, options(Clock::starting_at(T0)));
    h.recorder.script(&[Step::Slow(Duration::from_secs(40))]);
    h.fire("A", NONE);
    h.at(1_000.0).await;
    assert_eq!(h.recorder.attempt_times(), vec![30_000], "one POST");
    assert_eq!(h.recorder.deliveries(), vec!["30 default +A"]);
    let records = h.dispatcher.recent_deliveries();
    assert_eq!(records.len(), 1);
    assert_eq!((records[0].attempts, records[0].error.clone(), records[0].at_ms), (1, None, T0 + 70_000));
}

#[tokio::test(start_paused = true)]
async fn non_retryable_failure_is_retried_at_the_next_flush() {
    let h = Harness::start(&config(ONE_GROUP, ""), true, options(Clock::starting_at(T0)));
    h.recorder.script(&[Step::Fail { retryable: false, retry_after: None }]);
    h.fire("A", NONE);
    h.at(400.0).await;
    assert_eq!(h.recorder.attempt_times(), vec![30_000, 330_000]);
    assert_eq!(h.recorder.deliveries(), vec!["330 default +A"]);
    let records = h.dispatcher.recent_deliveries();
    assert_eq!(records.len(), 2);
    assert!(records[0].error.is_none(), "newest first");
    assert!(records[1].error.as_deref().is_some_and(|e| e.contains("not retryable")), "{records:?}");
}

#[tokio::test(start_paused = true)]
async fn slow_receiver_does_not_delay_other_groups() {
    let route = "  group_by: [alertname]\n  routes:\n  - matchers: [alertname=\"S\"]\n    receiver: slow";
    let text = config(route, "");
    let cfg = load_str(&text, "am.yml").unwrap();
    let clock = Clock::starting_at(T0);
    let fast = Recorder::new(clock, true);
    let slow = Recorder::new(clock, true);
    slow.script(&vec![Step::Hang; 100]);
    let mut integrations = integrations_for(&cfg, &fast);
    integrations.insert("slow".into(), vec![Arc::clone(&slow) as Arc<dyn Integration>]);
    let silences = Arc::new(Silences::open(None, clock, Duration::from_secs(3600)).unwrap());
    let d = Dispatcher::start(
        Arc::new(cfg),
        text.clone(),
        integrations,
        silences,
        TimeIntervals::default(),
        options(clock),
    )
    .unwrap();
    let now = clock.now_ms();
    d.put_alerts(vec![alert("S", NONE, now, now + DAY_MS), alert("F", NONE, now, now + DAY_MS)]);
    tokio::time::sleep(Duration::from_secs(340)).await;
    assert_eq!(fast.deliveries(), vec!["30 default +F"]);
    assert!(slow.deliveries().is_empty());
    // The slow flush gave up at its deadline (group_interval) and the next flush tries again.
    assert_eq!(slow.attempt_times(), vec![30_000, 330_000]);
    let failed: Vec<_> = d.recent_deliveries().into_iter().filter(|r| r.receiver == "slow").collect();
    assert_eq!(failed.len(), 1);
    assert!(failed[0].error.is_some());
}

#[tokio::test(start_paused = true)]
async fn restart_from_data_dir_does_not_notify_again() {
    let dir = tempfile::tempdir().unwrap();
    let route = "  group_by: []\n  repeat_interval: 1h";
    let text = config(route, "");
    let data = |clock| DispatcherOptions { data_dir: Some(dir.path().to_path_buf()), ..options(clock) };
    let clock = Clock::starting_at(T0);
    let h = Harness::start(&text, true, data(clock));
    h.fire("A", NONE);
    h.at(100.0).await;
    assert_eq!(h.recorder.deliveries(), vec!["30 default +A"]);
    h.dispatcher.kill();

    // The restarted router: same directory, a fresh clock reading the same time.
    let clock = Clock::starting_at(T0 + 100_000);
    let h = Harness::start(&text, true, data(clock));
    assert_eq!(h.dispatcher.alerts().len(), 1, "alerts restored");
    h.at(3_800.0).await;
    // Restored groups flush at once (their alerts are old) and the restored log dedups; the
    // repeat comes one repeat_interval after the first delivery, at the group's next flush.
    assert_eq!(h.recorder.deliveries(), vec!["3700 default +A"]);
    h.dispatcher.stop().await;
}

#[tokio::test(start_paused = true)]
async fn resolved_notification_survives_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let text = config(ONE_GROUP, "");
    let data = |clock| DispatcherOptions { data_dir: Some(dir.path().to_path_buf()), ..options(clock) };
    let h = Harness::start(&text, true, data(Clock::starting_at(T0)));
    h.fire("A", NONE);
    h.at(100.0).await;
    h.resolve("A", NONE);
    h.at(110.0).await;
    h.dispatcher.kill();

    let h = Harness::start(&text, true, data(Clock::starting_at(T0 + 110_000)));
    h.at(200.0).await;
    assert_eq!(h.recorder.deliveries(), vec!["110 default -A"]);
}

#[tokio::test(start_paused = true)]
async fn corrupt_state_files_are_counted_and_ignored() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(NFLOG_FILE), b"{\"entries\":[]}\ncrc32c 00000000\n").unwrap();
    std::fs::write(dir.path().join(ALERTS_FILE), b"garbage").unwrap();
    let metrics = DispatchMetrics::default();
    let opts = DispatcherOptions {
        data_dir: Some(dir.path().to_path_buf()),
        metrics: metrics.clone(),
        ..options(Clock::starting_at(T0))
    };
    let h = Harness::start(&config(ONE_GROUP, ""), true, opts);
    assert_eq!(metrics.state_load_errors.get(), 2);
    h.fire("A", NONE);
    h.at(100.0).await;
    assert_eq!(h.recorder.deliveries(), vec!["30 default +A"]);
    h.dispatcher.stop().await;
    // Stop wrote valid files.
    assert!(state_file::read::<SavedNflog>(&dir.path().join(NFLOG_FILE)).unwrap().value.is_some());
    assert_eq!(
        state_file::read::<SavedAlerts>(&dir.path().join(ALERTS_FILE)).unwrap().value.map(|s| s.alerts.len()),
        Some(1)
    );
}

#[tokio::test(start_paused = true)]
async fn reload_reforms_groups_without_duplicates() {
    let h = Harness::start(&config(ONE_GROUP, ""), true, options(Clock::starting_at(T0)));
    h.fire("A", NONE);
    h.at(100.0).await;
    let reload = |text: &str| {
        let cfg = Arc::new(load_str(text, "am.yml").unwrap());
        let integrations = integrations_for(&cfg, &h.recorder);
        h.dispatcher.reload(cfg, text.to_string(), integrations, TimeIntervals::default()).unwrap();
    };
    reload(&h.text);
    h.at(200.0).await;
    assert_eq!(h.recorder.deliveries(), vec!["30 default +A"], "same config: no duplicate");
    // A new receiver for the group is notified at once: the alert is older than group_wait.
    reload(&h.text.replace("receiver: default", "receiver: other"));
    h.at(300.0).await;
    assert_eq!(h.recorder.deliveries(), vec!["30 default +A", "200 other +A"]);
    assert_eq!(h.dispatcher.config_text(), h.text.replace("receiver: default", "receiver: other"));
}

#[tokio::test(start_paused = true)]
async fn store_is_bounded_and_collects_resolved_alerts() {
    let metrics = DispatchMetrics::default();
    let opts = DispatcherOptions {
        max_alerts: 2,
        gc_interval: Duration::from_secs(60),
        metrics: metrics.clone(),
        ..options(Clock::starting_at(T0))
    };
    let h = Harness::start(&config(ONE_GROUP, ""), true, opts);
    h.fire("A", NONE);
    h.fire("B", NONE);
    h.fire("C", NONE);
    h.fire("A", NONE);
    assert_eq!(metrics.alerts_rejected.get(), 1);
    let names: Vec<String> = h.dispatcher.alerts().iter().map(|v| v.alert.name().to_string()).collect();
    assert_eq!(names.len(), 2);
    assert!(!names.contains(&"C".to_string()));
    h.resolve("B", NONE);
    h.at(130.0).await;
    let names: Vec<String> = h.dispatcher.alerts().iter().map(|v| v.alert.name().to_string()).collect();
    assert_eq!(names, ["A"], "resolved B collected");
    h.fire("C", NONE);
    assert_eq!(h.dispatcher.alerts().len(), 2, "room again");
}

#[tokio::test(start_paused = true)]
async fn api_views_report_status_receivers_and_groups() {
    let extra = "inhibit_rules:\n- source_matchers: [severity=\"critical\"]\n  target_matchers: [severity=\"warning\"]\n";
    let route = "  group_by: [alertname]\n  routes:\n  - matchers: [team=\"db\"]\n    receiver: other\n    continue: true\n  - matchers: [severity=\"warning\"]";
    let h = Harness::start(&config(route, extra), true, options(Clock::starting_at(T0)));
    h.fire("Crit", &[("severity", "critical")]);
    h.fire("Warn", &[("severity", "warning"), ("team", "db")]);
    h.fire("Quiet", NONE);
    h.fire("Gone", NONE);
    h.resolve("Gone", NONE);
    let id = h
        .silences
        .set(Silence {
            id: String::new(),
            matchers: parse_matchers("{alertname=\"Quiet\"}").unwrap(),
            starts_at_ms: T0,
            ends_at_ms: T0 + 3_600_000,
            updated_at_ms: 0,
            created_by: "t".into(),
            comment: "t".into(),
        })
        .unwrap();
    h.at(1.0).await;
    let views = h.dispatcher.alerts();
    let by_name = |n: &str| views.iter().find(|v| v.alert.name() == n).unwrap().clone();
    let crit = by_name("Crit");
    assert_eq!(crit.status.state, AlertState::Active);
    assert_eq!(crit.receivers, ["default"]);
    let warn = by_name("Warn");
    assert_eq!(warn.status.state, AlertState::Suppressed);
    assert_eq!(warn.status.inhibited_by, vec![crit.fingerprint.to_string()]);
    assert_eq!(warn.receivers, ["other", "default"]);
    let quiet = by_name("Quiet");
    assert_eq!((quiet.status.state, quiet.status.silenced_by.clone()), (AlertState::Suppressed, vec![id]));
    assert!(by_name("Gone").alert.resolved_at(h.clock.now_ms()), "resolved alerts listed until collected");
    let fps: Vec<Fingerprint> = views.iter().map(|v| v.fingerprint).collect();
    let mut sorted = fps.clone();
    sorted.sort();
    assert_eq!(fps, sorted, "sorted by fingerprint");

    let groups = h.dispatcher.groups();
    let described: Vec<(String, String)> =
        groups.iter().map(|g| (g.labels.to_string(), g.receiver.clone())).collect();
    assert_eq!(
        described,
        [
            (r#"{alertname="Crit"}"#.to_string(), "default".to_string()),
            (r#"{alertname="Quiet"}"#.to_string(), "default".to_string()),
            (r#"{alertname="Warn"}"#.to_string(), "default".to_string()),
            (r#"{alertname="Warn"}"#.to_string(), "other".to_string()),
        ],
        "resolved-only groups left out; sorted by labels, then receiver"
    );
    assert_eq!(groups[2].group_key, r#"{}/{severity="warning"}:{alertname="Warn"}"#);
    assert_eq!(groups[3].group_key, r#"{}/{team="db"}:{alertname="Warn"}"#);
    assert_eq!(h.dispatcher.receivers(), ["default", "other", "slow"]);
}

#[tokio::test(start_paused = true)]
async fn alerts_from_rules_get_the_api_defaults() {
    let h = Harness::start(&config(ONE_GROUP, ""), true, options(Clock::starting_at(T0)));
    let sink: &dyn AlertSink = h.dispatcher.as_ref();
    sink.send(vec![
        crate::alerts::Alert {
            labels: Labels::from_pairs([("alertname", "R"), ("empty", "")]),
            annotations: Labels::from_pairs([("summary", "s")]),
            starts_at_ms: None,
            ends_at_ms: None,
            generator_url: "http://router/graph".into(),
        },
        crate::alerts::Alert {
            labels: Labels::from_pairs([("alertname", "Bad")]),
            annotations: Labels::new(),
            starts_at_ms: Some(T0),
            ends_at_ms: Some(T0 - 1),
            generator_url: String::new(),
        },
    ]);
    let views = h.dispatcher.alerts();
    assert_eq!(views.len(), 1, "an alert ending before it starts is invalid");
    let a = &views[0].alert;
    assert_eq!(a.labels, Labels::from_pairs([("alertname", "R")]));
    assert_eq!((a.starts_at_ms, a.ends_at_ms, a.updated_at_ms, a.timeout), (T0, T0 + 300_000, T0, true));
    h.at(100.0).await;
    assert_eq!(h.recorder.deliveries(), vec!["30 default +R"]);
}

#[tokio::test(start_paused = true)]
async fn recent_deliveries_are_bounded() {
    let opts = DispatcherOptions { recent_deliveries: 3, ..options(Clock::starting_at(T0)) };
    let h = Harness::start(&config(BY_NAME, ""), true, opts);
    for name in ["A", "B", "C", "D", "E"] {
        h.fire(name, NONE);
    }
    h.at(100.0).await;
    assert_eq!(h.recorder.deliveries().len(), 5);
    assert_eq!(h.dispatcher.recent_deliveries().len(), 3);
}

/// A route sending alert `A` both to `other`, muted by the `evening` interval (T0 is 22:13:20,
/// muted until T0 + 400s), and, through `continue`, to `default`.
const MUTED_BRANCH: &str = "  group_by: [alertname]\n  routes:\n  - matchers: [alertname=\"A\"]\n    receiver: other\n    mute_time_intervals: [evening]\n    continue: true\n  - matchers: [alertname=\"A\"]";
const EVENING: &str = "time_intervals:\n- name: evening\n  time_intervals: [{times: [{start_time: '22:00', end_time: '22:20'}]}]\n";

#[tokio::test(start_paused = true)]
async fn time_interval_muting_is_per_group_and_not_on_alerts() {
    let h = Harness::start(&config(MUTED_BRANCH, EVENING), true, options(Clock::starting_at(T0)));
    h.fire("A", NONE);
    h.at(10.0).await;
    let muted_groups = |h: &Harness| -> Vec<(String, Vec<String>, AlertState, Vec<String>)> {
        h.dispatcher
            .groups()
            .into_iter()
            .map(|g| {
                let status = g.alerts[0].status.clone();
                (g.receiver, g.muted_by, status.state, status.muted_by)
            })
            .collect()
    };
    let active = |receiver: &str| (receiver.to_string(), vec![], AlertState::Active, vec![]);
    assert_eq!(muted_groups(&h), [active("default"), active("other")], "not flushed yet: nothing muted");
    h.at(100.0).await;
    let evening = vec!["evening".to_string()];
    assert_eq!(
        muted_groups(&h),
        [active("default"), ("other".to_string(), evening.clone(), AlertState::Suppressed, evening.clone())],
        "only the muted branch's group is muted"
    );
    // `/alerts` reports no time-interval muting (upstream passes none there): the alert is
    // active, as it is notified through `default`.
    let status = h.dispatcher.alerts()[0].status.clone();
    assert_eq!((status.state, status.muted_by), (AlertState::Active, vec![]));
    h.at(700.0).await;
    assert_eq!(h.recorder.deliveries(), vec!["30 default +A", "630 other +A"]);
    assert_eq!(
        muted_groups(&h),
        [active("default"), active("other")],
        "unmuted at the flush after the interval"
    );
}

fn data_options(dir: &std::path::Path, clock: Clock) -> DispatcherOptions {
    DispatcherOptions { data_dir: Some(dir.to_path_buf()), ..options(clock) }
}

/// Sends alert `A` as Prometheus resends a firing alert: its start, and an end 4 minutes ahead.
fn prometheus_resend(h: &Harness, name: &str) {
    let now = h.clock.now_ms();
    h.dispatcher.put_alerts(vec![alert(name, NONE, T0, now + 240_000)]);
}

#[tokio::test(start_paused = true)]
async fn restart_after_a_long_outage_sends_no_false_resolved() {
    let dir = tempfile::tempdir().unwrap();
    let text = config(ONE_GROUP, "");
    let h = Harness::start(&text, true, data_options(dir.path(), Clock::starting_at(T0)));
    for t in [0.0, 60.0, 120.0] {
        h.at(t).await;
        prometheus_resend(&h, "A");
    }
    h.at(150.0).await;
    assert_eq!(h.recorder.deliveries(), vec!["30 default +A"]);
    h.dispatcher.kill();

    // Down for 15 minutes: every end the sender gave has passed.
    let h = Harness::start(&text, true, data_options(dir.path(), Clock::starting_at(T0 + 1_050_000)));
    let restored = h.dispatcher.alerts();
    assert_eq!(restored.len(), 1);
    assert!(!restored[0].alert.resolved_at(h.clock.now_ms()), "restored firing");
    assert_eq!(
        (restored[0].alert.ends_at_ms, restored[0].alert.timeout),
        (T0 + 1_050_000 + 300_000, true),
        "kept firing for resolve_timeout"
    );
    // Prometheus resends every minute, then resolves the alert.
    for t in (1_080..=1_560).step_by(60) {
        h.at(t as f64).await;
        prometheus_resend(&h, "A");
    }
    assert_eq!(h.dispatcher.alerts()[0].alert.ends_at_ms, T0 + 1_560_000 + 240_000, "the sender's end won");
    h.at(1_600.0).await;
    h.resolve("A", NONE);
    h.at(2_500.0).await;
    // Group flushes at 1050 (restored), 1350, 1650: only the real resolve is notified.
    assert_eq!(h.recorder.deliveries(), vec!["1650 default -A"]);
}

#[test]
fn restore_rule_keeps_alerts_firing_when_saved_firing() {
    let rt = 300_000;
    let a = |ends: i64, timeout: bool| Alert { timeout, ..alert("A", NONE, 1_000, ends) };
    let restore = |x: Alert| persist::restored_alert(x, 10_000, 100_000, rt);
    // Firing when saved, end passed during the outage: firing for resolve_timeout.
    assert_eq!(restore(a(20_000, false)), a(400_000, true));
    // Firing when saved, end soon after the restart: likewise.
    assert_eq!(restore(a(150_000, false)), a(400_000, true));
    // Firing when saved, end far ahead: unchanged.
    assert_eq!(restore(a(900_000, false)), a(900_000, false));
    // Resolved when saved (its resolved notification may be due): unchanged.
    assert_eq!(restore(a(9_000, false)), a(9_000, false));
    assert_eq!(restore(a(10_000, true)), a(10_000, true));
}

#[tokio::test(start_paused = true)]
async fn resolved_notification_is_logged_only_once_the_alerts_snapshot_has_it() {
    let dir = tempfile::tempdir().unwrap();
    let text = config(ONE_GROUP, "");
    let metrics = DispatchMetrics::default();
    let opts = DispatcherOptions {
        // Left to the interval, the resolve would reach the disk an hour later.
        alerts_snapshot_interval: Duration::from_secs(3_600),
        metrics: metrics.clone(),
        ..data_options(dir.path(), Clock::starting_at(T0))
    };
    let h = Harness::start(&text, true, opts);
    h.fire("A", NONE);
    h.at(100.0).await;
    h.resolve("A", NONE);
    h.at(340.0).await;
    assert_eq!(h.recorder.deliveries(), vec!["30 default +A", "330 default -A"]);
    h.dispatcher.kill();

    let h = Harness::start(&text, true, data_options(dir.path(), Clock::starting_at(T0 + 340_000)));
    h.at(2_000.0).await;
    assert_eq!(h.recorder.deliveries(), Vec::<String>::new(), "no false firing after the restart");
    assert_eq!(metrics.alerts_snapshots.get(), 2, "at the first alert, then before logging the resolve");
}

#[tokio::test(start_paused = true)]
async fn resends_do_not_rewrite_the_alerts_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = DispatchMetrics::default();
    let opts =
        DispatcherOptions { metrics: metrics.clone(), ..data_options(dir.path(), Clock::starting_at(T0)) };
    let h = Harness::start(&config(ONE_GROUP, ""), true, opts);
    for t in (0..=300).step_by(10) {
        h.at(t as f64).await;
        prometheus_resend(&h, "A");
    }
    h.at(305.0).await;
    assert_eq!(metrics.alerts_snapshots.get(), 1, "30 resends moving the end: one snapshot");
    // Changes the snapshot must follow are written, at most once per interval (30s).
    let annotate = |h: &Harness, summary: &str| {
        let now = h.clock.now_ms();
        let mut annotated = alert("A", NONE, T0, now + 240_000);
        annotated.annotations = Labels::from_pairs([("summary", summary)]);
        h.dispatcher.put_alerts(vec![annotated]);
    };
    annotate(&h, "disk full");
    h.at(306.0).await;
    assert_eq!(metrics.alerts_snapshots.get(), 2);
    h.at(310.0).await;
    annotate(&h, "disk very full");
    h.at(320.0).await;
    assert_eq!(metrics.alerts_snapshots.get(), 2, "within the interval");
    h.at(336.0).await;
    assert_eq!(metrics.alerts_snapshots.get(), 3);
    let saved = state_file::read::<SavedAlerts>(&dir.path().join(ALERTS_FILE)).unwrap().value.unwrap();
    assert_eq!(saved.alerts.len(), 1);
    assert_eq!(saved.saved_at_ms, T0 + 335_000);
}

#[tokio::test(start_paused = true)]
async fn deliveries_finishing_together_share_one_log_write() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = DispatchMetrics::default();
    let opts =
        DispatcherOptions { metrics: metrics.clone(), ..data_options(dir.path(), Clock::starting_at(T0)) };
    let h = Harness::start(&config(BY_NAME, ""), true, opts);
    let names: Vec<String> = (0..20).map(|i| format!("A{i:02}")).collect();
    for name in &names {
        h.fire(name, NONE);
    }
    h.at(100.0).await;
    assert_eq!(h.recorder.deliveries().len(), 20, "20 groups flushed at 30s");
    let writes = metrics.nflog_writes.get();
    assert!((1..=2).contains(&writes), "group commit: {writes} writes for 20 deliveries");
    let saved = state_file::read::<SavedNflog>(&dir.path().join(NFLOG_FILE)).unwrap().value.unwrap();
    assert_eq!(saved.entries.len(), 20, "every delivery on disk");
}

#[tokio::test(start_paused = true)]
async fn silence_status_follows_silence_changes() {
    let h = Harness::start(&config(BY_NAME, ""), true, options(Clock::starting_at(T0)));
    h.fire("A", NONE);
    h.fire("B", NONE);
    let silenced = |h: &Harness| -> Vec<(String, AlertState, usize)> {
        let mut rows: Vec<_> = h
            .dispatcher
            .alerts()
            .into_iter()
            .map(|v| (v.alert.name().to_string(), v.status.state, v.status.silenced_by.len()))
            .collect();
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        rows
    };
    let row = |name: &str, state, by| (name.to_string(), state, by);
    assert_eq!(silenced(&h), [row("A", AlertState::Active, 0), row("B", AlertState::Active, 0)]);
    let silence = |name: &str, starts_at_ms: i64| Silence {
        id: String::new(),
        matchers: parse_matchers(&format!("{{alertname=\"{name}\"}}")).unwrap(),
        starts_at_ms,
        ends_at_ms: T0 + 3_600_000,
        updated_at_ms: 0,
        created_by: "t".into(),
        comment: "t".into(),
    };
    let id = h.silences.set(silence("A", T0)).unwrap();
    assert_eq!(silenced(&h), [row("A", AlertState::Suppressed, 1), row("B", AlertState::Active, 0)]);
    // A silence starting later takes effect when it starts, with nothing else changing.
    h.silences.set(silence("B", T0 + 100_000)).unwrap();
    assert_eq!(silenced(&h), [row("A", AlertState::Suppressed, 1), row("B", AlertState::Active, 0)]);
    h.at(101.0).await;
    assert_eq!(silenced(&h), [row("A", AlertState::Suppressed, 1), row("B", AlertState::Suppressed, 1)]);
    h.silences.expire(&id).unwrap();
    assert_eq!(silenced(&h), [row("A", AlertState::Active, 0), row("B", AlertState::Suppressed, 1)]);
    let group_states: Vec<AlertState> =
        h.dispatcher.groups().iter().map(|g| g.alerts[0].status.state).collect();
    assert_eq!(group_states, [AlertState::Active, AlertState::Suppressed]);
}

#[tokio::test(start_paused = true)]
async fn group_ids_of_a_replaced_generation_reach_no_group() {
    let h = Harness::start(&config(ONE_GROUP, ""), true, options(Clock::starting_at(T0)));
    h.fire("A", NONE);
    h.at(100.0).await;
    let ids =
        |h: &Harness| -> Vec<GroupId> { h.dispatcher.inner.lock_state().groups.keys().cloned().collect() };
    let old = ids(&h);
    assert_eq!(old.len(), 1);
    let cfg = Arc::new(load_str(&h.text, "am.yml").unwrap());
    let integrations = integrations_for(&cfg, &h.recorder);
    h.dispatcher.reload(cfg, h.text.clone(), integrations, TimeIntervals::default()).unwrap();
    let new = ids(&h);
    assert_eq!(new.len(), 1);
    assert_eq!((new[0].route, &new[0].labels), (old[0].route, &old[0].labels), "same route and labels");
    // A task of the old generation looking its group up (after its delivery returned, say)
    // must not touch the new group.
    assert!(h.dispatcher.inner.with_group(&old[0], |_| ()).is_none());
    assert!(h.dispatcher.inner.with_group(&new[0], |_| ()).is_some());
}
