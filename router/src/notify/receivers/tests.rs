use super::*;
use crate::notify::template::Templates;

fn context() -> BuildContext {
    BuildContext {
        templates: Arc::new(Templates::load(&[], None).unwrap()),
        global: crate::route::config::GlobalConfig::default(),
        base_dir: None,
    }
}

const CONFIG: &str = r#"
global:
  smtp_smarthost: 127.0.0.1:2525
  smtp_from: am@example.org
  smtp_require_tls: false
route:
  receiver: team
receivers:
- name: team
  email_configs:
  - to: a@example.org
  - to: b@example.org
  slack_configs:
  - api_url: http://127.0.0.1:1/slack
    channel: '#ops'
  pagerduty_configs:
  - routing_key: abc
  webhook_configs:
  - url: http://127.0.0.1:1/one
  - url: http://127.0.0.1:1/two
    send_resolved: false
- name: blackhole
"#;

#[test]
fn builds_in_alertmanager_order() {
    let cfg = crate::route::load_str(CONFIG, "alertmanager.yml").unwrap();
    let built = build(&cfg, &context()).unwrap();
    assert_eq!(built.keys().collect::<Vec<_>>(), ["blackhole", "team"]);
    assert!(built["blackhole"].is_empty());
    let team = &built["team"];
    let names: Vec<_> = team.iter().map(|i| i.name()).collect();
    assert_eq!(names, ["webhook", "webhook", "email", "email", "pagerduty", "slack"]);
    // Defaults: webhooks and PagerDuty send resolved alerts, email and Slack do not.
    let resolved: Vec<_> = team.iter().map(|i| i.send_resolved()).collect();
    assert_eq!(resolved, [true, false, false, false, true, false]);
}

#[test]
fn build_errors_name_the_integration() {
    let text = CONFIG.replace(
        "  - to: b@example.org\n",
        "  - to: b@example.org\n    auth_username: u\n    auth_secret: s\n",
    );
    let cfg = crate::route::load_str(&text, "alertmanager.yml").unwrap();
    let err = build(&cfg, &context()).err().unwrap();
    assert_eq!((err.receiver.as_str(), err.integration, err.index), ("team", "email", 1));
    assert!(err.message.contains("CRAM-MD5"), "{err}");
    assert!(err.to_string().starts_with("receiver \"team\": email[1]: "), "{err}");
}

#[test]
fn truncation_counts_characters() {
    assert_eq!(truncate_runes("héllo", 5), ("héllo".to_string(), false));
    assert_eq!(truncate_runes("héllo!", 5), ("héll…".to_string(), true));
    assert_eq!(truncate_runes("héllo", 2), ("hé".to_string(), true));
}

/// Counts deliveries under way and the most at once; each takes 1 s.
#[derive(Default)]
struct Slow {
    now: std::sync::atomic::AtomicUsize,
    most: std::sync::atomic::AtomicUsize,
}

impl Integration for Slow {
    fn name(&self) -> &'static str {
        "webhook"
    }

    fn send_resolved(&self) -> bool {
        true
    }

    fn notify<'a>(&'a self, _: &'a Notification) -> NotifyFuture<'a> {
        use std::sync::atomic::Ordering::SeqCst;
        Box::pin(async move {
            let n = self.now.fetch_add(1, SeqCst) + 1;
            self.most.fetch_max(n, SeqCst);
            tokio::time::sleep(Duration::from_secs(1)).await;
            self.now.fetch_sub(1, SeqCst);
            Ok(())
        })
    }
}

#[tokio::test(start_paused = true)]
async fn integrations_deliver_at_most_max_in_flight_at_once() {
    let slow = Arc::new(Slow::default());
    struct Shared(Arc<Slow>);
    impl Integration for Shared {
        fn name(&self) -> &'static str {
            self.0.name()
        }
        fn send_resolved(&self) -> bool {
            true
        }
        fn notify<'a>(&'a self, n: &'a Notification) -> NotifyFuture<'a> {
            self.0.notify(n)
        }
    }
    let limited = Limited::wrap(Shared(Arc::clone(&slow)));
    let n = Notification {
        receiver: "r".into(),
        group_key: "{}:{}".into(),
        group_labels: harrier_telemetry::model::Labels::new(),
        alerts: Vec::new(),
        now_ms: 0,
        external_url: String::new(),
    };
    let n = Arc::new(n);
    let started = tokio::time::Instant::now();
    let mut deliveries = tokio::task::JoinSet::new();
    for _ in 0..3 * MAX_IN_FLIGHT {
        let (limited, n) = (Arc::clone(&limited), Arc::clone(&n));
        deliveries.spawn(async move { limited.notify(&n).await });
    }
    while let Some(done) = deliveries.join_next().await {
        assert!(matches!(done, Ok(Ok(()))));
    }
    assert_eq!(slow.most.load(std::sync::atomic::Ordering::SeqCst), MAX_IN_FLIGHT);
    // Three waves of one second each.
    assert_eq!(started.elapsed(), Duration::from_secs(3));
}
