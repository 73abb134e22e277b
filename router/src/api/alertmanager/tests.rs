use super::json::{format_time, parse_time};
use super::*;
use crate::notify::{Clock, DeliveryRecord, Fingerprint, GroupView, Silences};
use crate::route::matchers::parse_matchers;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

const T0: i64 = 1_767_323_045_678; // 2026-01-02T03:04:05.678Z
const RESOLVE_TIMEOUT_MS: i64 = 300_000;

/// An in-memory Alertmanager: alerts are taken as the dispatcher takes them (unset times
/// filled in, merged by fingerprint), routed to `pager` when `severity="page"` and to
/// `default` otherwise, grouped by receiver and `alertname`, silenced through real
/// [`Silences`], inhibited by a settable list, and groups muted by a settable list.
struct FakeAlertmanager {
    clock: Clock,
    silences: Arc<Silences>,
    /// `0`: follow `clock`.
    fixed_now: AtomicI64,
    /// Every alert handed to `put_alerts`, as the API handed it over.
    posted: Mutex<Vec<Alert>>,
    alerts: Mutex<BTreeMap<Fingerprint, Alert>>,
    inhibited: Mutex<BTreeMap<Fingerprint, Vec<String>>>,
    /// Time intervals muting the group of each `alertname`.
    muted_groups: Mutex<BTreeMap<String, Vec<String>>>,
    deliveries: Mutex<Vec<DeliveryRecord>>,
}

impl FakeAlertmanager {
    fn new(clock: Clock) -> Arc<FakeAlertmanager> {
        FakeAlertmanager::with_silences(
            clock,
            Silences::open(None, clock, Duration::from_secs(120 * 3600)).unwrap(),
        )
    }

    fn with_silences(clock: Clock, silences: Silences) -> Arc<FakeAlertmanager> {
        Arc::new(FakeAlertmanager {
            clock,
            silences: Arc::new(silences),
            fixed_now: AtomicI64::new(0),
            posted: Mutex::new(Vec::new()),
            alerts: Mutex::new(BTreeMap::new()),
            inhibited: Mutex::new(BTreeMap::new()),
            muted_groups: Mutex::new(BTreeMap::new()),
            deliveries: Mutex::new(Vec::new()),
        })
    }

    /// A fake whose `now_ms` stays at `now` (exact JSON), silences on a clock from `now`.
    fn at(now: i64) -> Arc<FakeAlertmanager> {
        let am = FakeAlertmanager::new(Clock::starting_at(now));
        am.fixed_now.store(now, Ordering::SeqCst);
        am
    }

    fn view(&self, a: &Alert) -> AlertView {
        let silenced_by = self.silences.mutes(&a.labels);
        let inhibited_by = self.inhibited.lock().unwrap().get(&a.fingerprint()).cloned().unwrap_or_default();
        let state = if silenced_by.is_empty() && inhibited_by.is_empty() {
            AlertState::Active
        } else {
            AlertState::Suppressed
        };
        let receiver = if a.labels.get("severity") == Some("page") { "pager" } else { "default" };
        AlertView {
            alert: Arc::new(a.clone()),
            fingerprint: a.fingerprint(),
            status: crate::notify::AlertStatus { state, silenced_by, inhibited_by, muted_by: vec![] },
            receivers: vec![receiver.to_string()],
        }
    }
}

impl AlertmanagerApi for FakeAlertmanager {
    fn put_alerts(&self, alerts: Vec<Alert>) {
        let now = self.now_ms();
        self.posted.lock().unwrap().extend(alerts.iter().cloned());
        let mut held = self.alerts.lock().unwrap();
        for mut a in alerts {
            // The receiving side's defaults (the trait's contract).
            a.updated_at_ms = now;
            if a.starts_at_ms == 0 {
                a.starts_at_ms = if a.ends_at_ms == 0 { now } else { a.ends_at_ms };
            }
            if a.ends_at_ms == 0 {
                a.ends_at_ms = now + RESOLVE_TIMEOUT_MS;
                a.timeout = true;
            }
            let fp = a.fingerprint();
            let merged = match held.get(&fp) {
                Some(old) => old.merge(&a, now),
                None => a,
            };
            held.insert(fp, merged);
        }
    }

    fn alerts(&self) -> Vec<AlertView> {
        self.alerts.lock().unwrap().values().map(|a| self.view(a)).collect()
    }

    fn groups(&self) -> Vec<GroupView> {
        let mut groups: BTreeMap<(String, String), Vec<AlertView>> = BTreeMap::new();
        for v in self.alerts() {
            let key = (v.receivers[0].clone(), v.alert.name().to_string());
            groups.entry(key).or_default().push(v);
        }
        groups
            .into_iter()
            .map(|((receiver, name), alerts)| {
                let labels = Labels::from_pairs([("alertname", name.as_str())]);
                GroupView {
                    group_key: crate::notify::alert::group_key("{}", &labels),
                    labels,
                    receiver,
                    muted_by: self.muted_groups.lock().unwrap().get(&name).cloned().unwrap_or_default(),
                    alerts,
                }
            })
            .collect()
    }

    fn silences(&self) -> Arc<Silences> {
        self.silences.clone()
    }

    fn resolve_timeout(&self) -> std::time::Duration {
        Duration::from_millis(RESOLVE_TIMEOUT_MS as u64)
    }

    fn receivers(&self) -> Vec<String> {
        vec!["default".into(), "pager".into()]
    }

    fn config_text(&self) -> String {
        "route:\n  receiver: default\nreceivers:\n  - name: default\n  - name: pager\n".into()
    }

    fn started_at_ms(&self) -> i64 {
        T0 - 60_000
    }

    fn now_ms(&self) -> i64 {
        match self.fixed_now.load(Ordering::SeqCst) {
            0 => self.clock.now_ms(),
            t => t,
        }
    }

    fn recent_deliveries(&self) -> Vec<DeliveryRecord> {
        self.deliveries.lock().unwrap().clone()
    }
}

struct Server {
    base: String,
    client: reqwest::Client,
    _stop: tokio_util::sync::DropGuard,
}

async fn serve(am: Arc<FakeAlertmanager>, auth: ApiAuth) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let token = stop.clone();
    let app = routes(am, auth);
    tokio::spawn(async move {
        axum::serve(listener, app).with_graceful_shutdown(token.cancelled_owned()).await.unwrap();
    });
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    Server { base: format!("http://{addr}"), client, _stop: stop.drop_guard() }
}

/// Status, headers and body of a response.
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

impl Server {
    async fn send(&self, req: reqwest::RequestBuilder) -> Answer {
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        Answer { status, headers, body: resp.text().await.unwrap() }
    }

    async fn get(&self, path: &str) -> Answer {
        self.send(self.client.get(format!("{}{path}", self.base))).await
    }

    async fn post_json(&self, path: &str, body: &str) -> Answer {
        let req = self.client.post(format!("{}{path}", self.base)).header("content-type", "application/json");
        self.send(req.body(body.to_string())).await
    }

    async fn delete(&self, path: &str) -> Answer {
        self.send(self.client.delete(format!("{}{path}", self.base))).await
    }

    async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let body: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
        let req = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded");
        self.send(req.body(body)).await
    }
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

fn silence(matchers: &str, starts: i64, ends: i64) -> Silence {
    Silence {
        id: String::new(),
        matchers: parse_matchers(matchers).unwrap(),
        starts_at_ms: starts,
        ends_at_ms: ends,
        updated_at_ms: 0,
        created_by: "alice".into(),
        comment: "planned work".into(),
    }
}

// ---- pieces ----------------------------------------------------------------------------

#[test]
fn times_are_rfc3339_millis_utc() {
    assert_eq!(format_time(T0), "2026-01-02T03:04:05.678Z");
    assert_eq!(format_time(T0 - 678), "2026-01-02T03:04:05.000Z");
    assert_eq!(format_time(0), "0001-01-01T00:00:00.000Z");
    // Go's year formatting (one formatter with the Prometheus-style notifier's wire format).
    assert_eq!(format_time(253_402_300_800_000), "10000-01-01T00:00:00.000Z");
    assert_eq!(format_time(-62_198_755_200_000), "-0001-01-01T00:00:00.000Z");
    assert_eq!(parse_time("2026-01-02T03:04:05.678Z").unwrap(), T0);
    assert_eq!(parse_time("2026-01-02T04:04:05.678999+01:00").unwrap(), T0);
    assert_eq!(parse_time("0001-01-01T00:00:00Z").unwrap(), 0);
    assert!(parse_time("yesterday").is_err());
}

#[test]
fn auth_from_file_contents() {
    assert_eq!(
        ApiAuth::bearer_from_file_contents("  s3cret\n").unwrap(),
        ApiAuth::Bearer { token: "s3cret".into() }
    );
    assert_eq!(ApiAuth::bearer_from_file_contents("\n"), Err(ApiAuthError::Empty));
    assert_eq!(
        ApiAuth::basic_from_file_contents("admin:pa:ss\n").unwrap(),
        ApiAuth::Basic { username: "admin".into(), password: "pa:ss".into() }
    );
    assert_eq!(ApiAuth::basic_from_file_contents("nocolon\n"), Err(ApiAuthError::NotUserPassword));
    assert_eq!(ApiAuth::basic_from_file_contents("a:b\nc:d\n"), Err(ApiAuthError::NotUserPassword));
    assert_eq!(ApiAuth::basic_from_file_contents(""), Err(ApiAuthError::Empty));
    assert!(!format!("{:?}", ApiAuth::bearer_from_file_contents("s3cret").unwrap()).contains("s3cret"));

    let with = |value: &str| {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        h
    };
    let bearer = ApiAuth::Bearer { token: "s3cret".into() };
    assert!(bearer.allows(&with("Bearer s3cret")));
    assert!(bearer.allows(&with("bearer s3cret")));
    assert!(!bearer.allows(&with("Bearer s3cre")));
    assert!(!bearer.allows(&with("Bearer s3cret2")));
    assert!(!bearer.allows(&HeaderMap::new()));
    let basic = ApiAuth::Basic { username: "admin".into(), password: "pa:ss".into() };
    assert!(basic.allows(&with("Basic YWRtaW46cGE6c3M="))); // admin:pa:ss
    assert!(basic.allows(&with("Basic YWRtaW46cGE6c3M")));
    assert!(!basic.allows(&with("Basic YWRtaW46cGE6c3N=")));
    assert!(!basic.allows(&with("Bearer YWRtaW46cGE6c3M=")));
    assert!(!basic.allows(&with("Basic !!!")));
    assert!(ApiAuth::None.allows(&HeaderMap::new()));
    assert_eq!(ApiAuth::bearer("t"), ApiAuth::Bearer { token: "t".into() });
    assert_eq!(ApiAuth::basic("u", "p"), ApiAuth::Basic { username: "u".into(), password: "p".into() });
    assert!(!ApiAuth::bearer("").allows(&with("Bearer ")), "empty token admits nobody");
    assert!(!ApiAuth::basic("", "").allows(&with("Basic Og==")), "empty username admits nobody"); // ":"
    assert!(ApiAuth::basic("u", "").allows(&with("Basic dTo=")), "u:");
}

#[test]
fn filter_matching_follows_upstream() {
    let ls = labels(&[("alertname", "A"), ("env", "prod")]);
    let m = |s: &str| vec![parse_matcher(s).unwrap()];
    assert!(matches_filter(&m("alertname=\"A\""), &ls));
    assert!(!matches_filter(&m("alertname=\"B\""), &ls));
    assert!(matches_filter(&m("team=\"\""), &ls), "= empty accepts a missing label");
    assert!(matches_filter(&m("env!=\"\""), &ls), "!= empty accepts a present label");
    assert!(matches_filter(&m("env=~\"pr.*\""), &ls));
    assert!(!matches_filter(&m("env!~\"pr.*\""), &ls));
    assert!(matches_filter(&m("team!=\"x\""), &ls));
    assert!(matches_filter(&[], &ls));
}

// ---- alerts ----------------------------------------------------------------------------

#[tokio::test]
async fn post_alerts_validates_as_upstream() {
    let am = FakeAlertmanager::at(T0);
    let s = serve(am.clone(), ApiAuth::None).await;

    let ok = s
        .post_json(
            "/api/v2/alerts",
            r#"[{"labels":{"alertname":"A","empty":""},"annotations":{"summary":"s"},"generatorURL":"http://g/x"}]"#,
        )
        .await;
    assert_eq!((ok.status, ok.body.as_str()), (200, ""));
    {
        let posted = am.posted.lock().unwrap();
        let a = &posted[0];
        assert_eq!(a.labels, labels(&[("alertname", "A")]), "empty labels are dropped");
        assert_eq!(
            (a.starts_at_ms, a.ends_at_ms, a.updated_at_ms, a.timeout),
            (0, 0, 0, false),
            "times are left to the receiving side"
        );
        assert_eq!(a.annotations, labels(&[("summary", "s")]));
        assert_eq!(a.generator_url, "http://g/x");
    }

    let missing = s.post_json("/api/v2/alerts", r#"[{"labels":{"a":"b"}},{"annotations":{}}]"#).await;
    assert_eq!(missing.status, 422);
    assert_eq!(missing.json(), json!({"code": 602, "message": "1.labels in body is required"}));

    let invalid = s
        .post_json(
            "/api/v2/alerts",
            r#"[{"labels":{"alertname":"B"},"startsAt":"2020-01-01T00:00:00Z","endsAt":"2019-01-01T00:00:00Z"},
                {"labels":{"x":""}},
                {"labels":{"alertname":"C"},"endsAt":"2026-01-02T03:00:00Z"}]"#,
        )
        .await;
    assert_eq!(invalid.status, 400);
    assert_eq!(invalid.json(), json!("start time must be before end time; at least one label pair required"));
    {
        let posted = am.posted.lock().unwrap();
        let c = posted.iter().find(|a| a.name() == "C").expect("valid alerts of a bad batch are taken");
        assert_eq!((c.starts_at_ms, c.ends_at_ms), (0, parse_time("2026-01-02T03:00:00Z").unwrap()));
        assert!(posted.iter().all(|a| a.name() != "B"));
    }

    for (body, message_start) in [
        ("nonsense", "parsing alerts body from \"\" failed, because "),
        (r#"{"labels":{}}"#, "parsing alerts body from \"\" failed, because "),
        (r#"[{"labels":{"a":1}}]"#, "parsing alerts body from \"\" failed, because "),
        (
            r#"[{"labels":{"a":"b"},"startsAt":"bad"}]"#,
            "parsing alerts body from \"\" failed, because parsing time",
        ),
        // Times are parsed with the body, before required fields are checked.
        (
            r#"[{"annotations":{},"endsAt":"bad"}]"#,
            "parsing alerts body from \"\" failed, because parsing time",
        ),
    ] {
        let a = s.post_json("/api/v2/alerts", body).await;
        assert_eq!(a.status, 400, "{body}");
        let v = a.json();
        assert_eq!(v["code"], 400);
        assert!(v["message"].as_str().unwrap().starts_with(message_start), "{body}: {}", a.body);
    }

    let huge = format!(r#"[{{"labels":{{"a":"{}"}}}}]"#, "x".repeat(MAX_ALERTS_BODY_BYTES));
    assert_eq!(s.post_json("/api/v2/alerts", &huge).await.status, 413);
}

#[tokio::test]
async fn post_alerts_validates_against_the_effective_end_time() {
    // Upstream gives an alert without endsAt the end now + resolve_timeout before validating.
    let am = FakeAlertmanager::at(T0);
    let s = serve(am.clone(), ApiAuth::None).await;
    let at = |ms: i64| format_time(T0 + ms);
    let late = s
        .post_json(
            "/api/v2/alerts",
            &format!(r#"[{{"labels":{{"alertname":"Late"}},"startsAt":"{}"}}]"#, at(RESOLVE_TIMEOUT_MS + 1)),
        )
        .await;
    assert_eq!((late.status, late.json()), (400, json!("start time must be before end time")));
    assert!(am.posted.lock().unwrap().is_empty());

    let ok = s
        .post_json(
            "/api/v2/alerts",
            &format!(
                r#"[{{"labels":{{"alertname":"Edge"}},"startsAt":"{}"}},
                    {{"labels":{{"alertname":"Ranged"}},"startsAt":"{}","endsAt":"{}"}},
                    {{"labels":{{"alertname":"EndOnly"}},"endsAt":"{}"}}]"#,
                at(RESOLVE_TIMEOUT_MS),
                at(2 * RESOLVE_TIMEOUT_MS),
                at(3 * RESOLVE_TIMEOUT_MS),
                at(-3_600_000)
            ),
        )
        .await;
    assert_eq!((ok.status, ok.body.as_str()), (200, ""));
    let posted = am.posted.lock().unwrap();
    let names: Vec<&str> = posted.iter().map(|a| a.name()).collect();
    assert_eq!(names, ["Edge", "Ranged", "EndOnly"]);
    assert_eq!((posted[0].starts_at_ms, posted[0].ends_at_ms), (T0 + RESOLVE_TIMEOUT_MS, 0));
}

#[tokio::test]
async fn alert_groups_report_the_groups_muted_state() {
    let am = FakeAlertmanager::at(T0);
    let s = serve(am.clone(), ApiAuth::None).await;
    s.post_json(
        "/api/v2/alerts",
        r#"[{"labels":{"alertname":"Down","severity":"page"}},{"labels":{"alertname":"Disk"}}]"#,
    )
    .await;
    am.muted_groups.lock().unwrap().insert("Down".into(), vec!["nights".into(), "weekends".into()]);

    let groups = s.get("/api/v2/alerts/groups").await.json();
    let status = |g: &Value, name: &str| {
        let group = g.as_array().unwrap().iter().find(|x| x["labels"]["alertname"] == name).unwrap();
        group["alerts"][0]["status"].clone()
    };
    assert_eq!(
        status(&groups, "Down"),
        json!({"inhibitedBy":[],"mutedBy":["nights","weekends"],"silencedBy":[],"state":"suppressed"})
    );
    assert_eq!(
        status(&groups, "Disk"),
        json!({"inhibitedBy":[],"mutedBy":[],"silencedBy":[],"state":"active"})
    );
    let unmuted = s.get("/api/v2/alerts/groups?muted=false").await.json();
    assert_eq!(unmuted.as_array().unwrap().len(), 1);
    assert_eq!(unmuted[0]["labels"], json!({"alertname": "Disk"}));

    // /alerts: the alert's own status (silences and inhibition), no mutedBy, as upstream.
    let alerts = s.get("/api/v2/alerts?filter=alertname%3D%22Down%22").await.json();
    assert_eq!(alerts[0]["status"], json!({"inhibitedBy":[],"mutedBy":[],"silencedBy":[],"state":"active"}));
    // What the view says is shown as it is: no second "muted means suppressed" rule.
    let mut view = am.alerts()[0].clone();
    view.status.muted_by = vec!["x".into()];
    let json = serde_json::to_value(GettableAlert::new(&view)).unwrap();
    assert_eq!(json["status"]["state"], "active");

    let page = s.get("/alertmanager").await.body;
    assert!(page.contains("(muted by nights, weekends)"), "{page}");
    assert!(page.contains("<td class=\"suppressed\">suppressed</td>"), "{page}");
}

#[tokio::test]
async fn get_alerts_json_shape_and_filters() {
    let am = FakeAlertmanager::at(T0);
    let s = serve(am.clone(), ApiAuth::None).await;
    let post = s
        .post_json(
            "/api/v2/alerts",
            r#"[{"labels":{"alertname":"Down","instance":"a","severity":"page"},"annotations":{"summary":"a is down"},
                 "startsAt":"2026-01-02T03:00:00Z","generatorURL":"http://prom/graph"},
                {"labels":{"alertname":"Disk","instance":"b"},"startsAt":"2026-01-02T03:01:00.5Z","endsAt":"2026-01-02T04:00:00Z"},
                {"labels":{"alertname":"Gone"},"startsAt":"2026-01-02T02:00:00Z","endsAt":"2026-01-02T03:00:00Z"}]"#,
        )
        .await;
    assert_eq!(post.status, 200, "{}", post.body);
    let down_fp = Fingerprint::of(&labels(&[("alertname", "Down"), ("instance", "a"), ("severity", "page")]));
    let disk_fp = Fingerprint::of(&labels(&[("alertname", "Disk"), ("instance", "b")]));

    let all = s.get("/api/v2/alerts").await;
    assert_eq!(all.status, 200);
    assert_eq!(all.headers["cache-control"], "no-store");
    assert_eq!(all.headers["content-type"], "application/json");
    let down = format!(
        r#"{{"annotations":{{"summary":"a is down"}},"endsAt":"2026-01-02T03:09:05.678Z","fingerprint":"{down_fp}","receivers":[{{"name":"pager"}}],"startsAt":"2026-01-02T03:00:00.000Z","status":{{"inhibitedBy":[],"mutedBy":[],"silencedBy":[],"state":"active"}},"updatedAt":"2026-01-02T03:04:05.678Z","generatorURL":"http://prom/graph","labels":{{"alertname":"Down","instance":"a","severity":"page"}}}}"#
    );
    let disk = format!(
        r#"{{"annotations":{{}},"endsAt":"2026-01-02T04:00:00.000Z","fingerprint":"{disk_fp}","receivers":[{{"name":"default"}}],"startsAt":"2026-01-02T03:01:00.500Z","status":{{"inhibitedBy":[],"mutedBy":[],"silencedBy":[],"state":"active"}},"updatedAt":"2026-01-02T03:04:05.678Z","labels":{{"alertname":"Disk","instance":"b"}}}}"#
    );
    let mut want = vec![(down_fp, down.clone()), (disk_fp, disk.clone())];
    want.sort();
    let want = format!("[{}]", want.into_iter().map(|(_, j)| j).collect::<Vec<_>>().join(","));
    assert_eq!(all.body, want, "resolved alerts are left out, sorted by fingerprint");

    let names = |a: &Answer| -> Vec<String> {
        let mut v: Vec<String> = a
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["labels"]["alertname"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(&s.get("/api/v2/alerts?filter=alertname%3D%22Down%22").await), ["Down"]);
    assert_eq!(
        names(&s.get("/api/v2/alerts?filter=instance%3D~%22a%7Cb%22&filter=severity!%3D%22page%22").await),
        ["Disk"]
    );
    assert_eq!(names(&s.get("/api/v2/alerts?receiver=pag.*").await), ["Down"]);
    assert!(names(&s.get("/api/v2/alerts?receiver=pag").await).is_empty(), "receiver regex is anchored");
    assert!(names(&s.get("/api/v2/alerts?active=false").await).is_empty());

    // Silence one: its status shows it, and silenced=false hides it.
    let id = am.silences.set(silence("alertname=\"Disk\"", T0, T0 + 3_600_000)).unwrap();
    let silenced = s.get("/api/v2/alerts?filter=alertname%3D%22Disk%22").await.json();
    assert_eq!(
        silenced[0]["status"],
        json!({"inhibitedBy":[],"mutedBy":[],"silencedBy":[id],"state":"suppressed"})
    );
    assert_eq!(names(&s.get("/api/v2/alerts?silenced=false").await), ["Down"]);
    assert_eq!(names(&s.get("/api/v2/alerts?active=false").await), ["Disk"]);
    am.inhibited.lock().unwrap().insert(down_fp, vec![disk_fp.to_string()]);
    assert!(names(&s.get("/api/v2/alerts?silenced=false&inhibited=0").await).is_empty());

    let bad = s.get("/api/v2/alerts?filter=foo").await;
    assert_eq!(bad.status, 400);
    assert!(bad.json().is_string());
    let bad = s.get("/api/v2/alerts?receiver=(").await;
    assert_eq!(bad.status, 400);
    assert!(bad.json().as_str().unwrap().starts_with("failed to parse receiver param: "), "{}", bad.body);
}

#[tokio::test]
async fn alert_groups_json_shape() {
    let am = FakeAlertmanager::at(T0);
    let s = serve(am.clone(), ApiAuth::None).await;
    s.post_json(
        "/api/v2/alerts",
        r#"[{"labels":{"alertname":"Down","severity":"page"},"startsAt":"2026-01-02T03:00:00Z"},
            {"labels":{"alertname":"Disk"},"startsAt":"2026-01-02T03:00:00Z","endsAt":"2026-01-02T04:00:00Z"}]"#,
    )
    .await;
    let fp = Fingerprint::of(&labels(&[("alertname", "Disk")]));
    let groups = s.get("/api/v2/alerts/groups").await;
    assert_eq!(groups.status, 200);
    let v = groups.json();
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert_eq!(
        groups.body.split_once(r#"},{"alerts""#).unwrap().0.to_string() + "}",
        format!(
            r#"[{{"alerts":[{{"annotations":{{}},"endsAt":"2026-01-02T04:00:00.000Z","fingerprint":"{fp}","receivers":[{{"name":"default"}}],"startsAt":"2026-01-02T03:00:00.000Z","status":{{"inhibitedBy":[],"mutedBy":[],"silencedBy":[],"state":"active"}},"updatedAt":"2026-01-02T03:04:05.678Z","labels":{{"alertname":"Disk"}}}}],"labels":{{"alertname":"Disk"}},"receiver":{{"name":"default"}}}}"#
        )
    );
    assert_eq!(v[1]["receiver"]["name"], "pager");

    let pager = s.get("/api/v2/alerts/groups?receiver=pager").await.json();
    assert_eq!(pager.as_array().unwrap().len(), 1);
    assert_eq!(pager[0]["labels"], json!({"alertname": "Down"}));
    let filtered = s.get("/api/v2/alerts/groups?filter=alertname%3D%22Nope%22").await.json();
    assert_eq!(filtered, json!([]), "groups left empty by the filter are dropped");
}

// ---- silences --------------------------------------------------------------------------

#[tokio::test]
async fn silences_endpoints() {
    let am = FakeAlertmanager::new(Clock::system());
    let s = serve(am.clone(), ApiAuth::None).await;
    let now = am.now_ms();
    let future = format_time(now + 3_600_000);
    let body = format!(
        r#"{{"matchers":[{{"name":"alertname","value":"Disk.*","isRegex":true}},{{"name":"env","value":"dev","isRegex":false,"isEqual":false}}],
            "startsAt":"{}","endsAt":"{future}","createdBy":"alice","comment":"planned work"}}"#,
        format_time(now - 60_000)
    );
    let created = s.post_json("/api/v2/silences", &body).await;
    assert_eq!(created.status, 200, "{}", created.body);
    let id = created.json()["silenceID"].as_str().unwrap().to_string();
    assert!(is_uuid(&id));
    let (stored, _) = am.silences.get(&id).unwrap();
    assert_eq!(stored.matchers, parse_matchers("alertname=~\"Disk.*\", env!=\"dev\"").unwrap());

    let one = s.get(&format!("/api/v2/silence/{id}")).await;
    assert_eq!(one.status, 200);
    assert_eq!(
        one.body,
        format!(
            r#"{{"id":"{id}","status":{{"state":"active"}},"updatedAt":"{}","comment":"planned work","createdBy":"alice","endsAt":"{future}","matchers":[{{"isEqual":true,"isRegex":true,"name":"alertname","value":"Disk.*"}},{{"isEqual":false,"isRegex":false,"name":"env","value":"dev"}}],"startsAt":"{}"}}"#,
            format_time(stored.updated_at_ms),
            format_time(stored.starts_at_ms)
        )
    );
    assert!(stored.starts_at_ms >= now, "a start in the past is moved to now");

    // Updating in place keeps the ID.
    let update = format!(
        r#"{{"id":"{id}","matchers":[{{"name":"alertname","value":"Disk.*","isRegex":true}},{{"name":"env","value":"dev","isRegex":false,"isEqual":false}}],
            "startsAt":"{}","endsAt":"{}","createdBy":"alice","comment":"longer"}}"#,
        format_time(stored.starts_at_ms),
        format_time(now + 7_200_000)
    );
    let updated = s.post_json("/api/v2/silences", &update).await;
    assert_eq!(updated.json(), json!({"silenceID": id}));
    assert_eq!(am.silences.get(&id).unwrap().0.comment, "longer");

    // A second silence, pending, and the list order: active, then pending.
    let pending = am.silences.set(silence("x=\"y\"", now + 600_000, now + 1_200_000)).unwrap();
    let list = s.get("/api/v2/silences").await.json();
    let ids: Vec<&str> = list.as_array().unwrap().iter().map(|x| x["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [id.as_str(), pending.as_str()]);
    assert_eq!(list[1]["status"]["state"], "pending");
    let filtered = s.get("/api/v2/silences?filter=x%3D%22y%22").await.json();
    assert_eq!(filtered.as_array().unwrap().len(), 1);
    assert_eq!(filtered[0]["id"], pending.as_str());
    assert_eq!(s.get("/api/v2/silences?filter=x%3D~%22y%22").await.json(), json!([]));
    assert_eq!(s.get("/api/v2/silences?filter=%7B").await.status, 400);

    // Expire: 200, again 200 (idempotent), then listed last as expired.
    assert_eq!(s.delete(&format!("/api/v2/silence/{id}")).await.status, 200);
    assert_eq!(s.delete(&format!("/api/v2/silence/{id}")).await.status, 200);
    let list = s.get("/api/v2/silences").await.json();
    assert_eq!(list[1]["id"], id.as_str());
    assert_eq!(list[1]["status"]["state"], "expired");

    let unknown = "00000000-0000-4000-8000-000000000000";
    let a = s.delete(&format!("/api/v2/silence/{unknown}")).await;
    assert_eq!((a.status, a.body.as_str()), (404, ""));
    let a = s.get(&format!("/api/v2/silence/{unknown}")).await;
    assert_eq!((a.status, a.body.as_str()), (404, ""));
    let a = s.get("/api/v2/silence/xyz").await;
    assert_eq!(a.status, 422);
    assert_eq!(a.json(), json!({"code": 601, "message": "silenceID in path must be of type uuid: \"xyz\""}));
}

#[tokio::test]
async fn post_silence_errors_as_upstream() {
    let am = FakeAlertmanager::new(Clock::system());
    let s = serve(am.clone(), ApiAuth::None).await;
    let now = am.now_ms();
    let (start, end) = (format_time(now), format_time(now + 3_600_000));
    let post = |fields: String| {
        let s = &s;
        async move { s.post_json("/api/v2/silences", &format!("{{{fields}}}")).await }
    };
    let m = r#""matchers":[{"name":"a","value":"b","isRegex":false}]"#;

    let a = post(format!(r#"{m},"startsAt":"{start}","endsAt":"{end}","comment":"c""#)).await;
    assert_eq!((a.status, a.json()), (422, json!({"code":602,"message":"createdBy in body is required"})));
    let a =
        post(format!(r#""matchers":[],"startsAt":"{start}","endsAt":"{end}","createdBy":"","comment":"""#))
            .await;
    assert_eq!(
        (a.status, a.json()),
        (422, json!({"code":612,"message":"matchers in body should have at least 1 items"}))
    );
    let a = post(format!(
        r#""matchers":[{{"name":"a","value":""}}],"startsAt":"{start}","endsAt":"{end}","createdBy":"","comment":"""#
    ))
    .await;
    assert_eq!(
        (a.status, a.json()),
        (422, json!({"code":602,"message":"matchers.0.isRegex in body is required"}))
    );
    let a = post(format!(
        r#""matchers":[{{"name":"a","value":"","isRegex":false}}],"startsAt":"{start}","endsAt":"{end}","createdBy":"","comment":"""#
    ))
    .await;
    assert_eq!(
        (a.status, a.json()),
        (400, json!("invalid silence: at least one matcher must not match the empty string"))
    );
    let a = post(format!(
        r#""matchers":[{{"name":"a","value":"(","isRegex":true}}],"startsAt":"{start}","endsAt":"{end}","createdBy":"","comment":"""#
    ))
    .await;
    assert_eq!(a.status, 400);
    assert!(
        a.json()
            .as_str()
            .unwrap()
            .starts_with("invalid silence: invalid label matcher 0: invalid regular expression \"(\": "),
        "{}",
        a.body
    );
    let a = post(format!(r#"{m},"startsAt":"{end}","endsAt":"{start}","createdBy":"","comment":"""#)).await;
    assert_eq!(
        (a.status, a.json()),
        (400, json!("Failed to create silence: start time must be before end time"))
    );
    let a = post(format!(
        r#"{m},"startsAt":"2024-01-01T00:00:00Z","endsAt":"2025-01-01T00:00:00Z","createdBy":"","comment":"""#
    ))
    .await;
    assert_eq!((a.status, a.json()), (400, json!("Failed to create silence: end time can't be in the past")));
    let a = post(format!(
        r#""id":"00000000-0000-4000-8000-000000000000",{m},"startsAt":"{start}","endsAt":"{end}","createdBy":"","comment":"""#
    ))
    .await;
    assert_eq!((a.status, a.json()), (404, json!("silence not found")));
    let a = s.post_json("/api/v2/silences", "[1]").await;
    assert_eq!((a.status, a.json()["code"].clone()), (400, json!(400)));
    let huge = format!(r#"{{"comment":"{}"}}"#, "x".repeat(MAX_SILENCE_BODY_BYTES));
    assert_eq!(s.post_json("/api/v2/silences", &huge).await.status, 413);
    assert!(am.silences.list().is_empty(), "nothing was created");
}

#[tokio::test]
async fn silence_limit_is_a_bad_request() {
    let clock = Clock::system();
    let store = Silences::open(None, clock, Duration::from_secs(3600)).unwrap().with_max_silences(1);
    let am = FakeAlertmanager::with_silences(clock, store);
    let s = serve(am.clone(), ApiAuth::None).await;
    let now = am.now_ms();
    let body = |name: &str| {
        format!(
            r#"{{"matchers":[{{"name":"{name}","value":"b","isRegex":false}}],"startsAt":"{}","endsAt":"{}","createdBy":"me","comment":"c"}}"#,
            format_time(now),
            format_time(now + 3_600_000)
        )
    };
    assert_eq!(s.post_json("/api/v2/silences", &body("a")).await.status, 200);
    let refused = s.post_json("/api/v2/silences", &body("x")).await;
    assert_eq!(
        (refused.status, refused.json()),
        (400, json!("exceeded maximum number of silences: 1 (limit: 1)"))
    );
    let form = s
        .post_form(
            "/alertmanager/silences",
            &[("matchers", "y=\"z\""), ("duration", "1h"), ("comment", "c"), ("author", "a")],
        )
        .await;
    assert_eq!(form.status, 400);
    assert!(form.body.contains("exceeded maximum number of silences: 1 (limit: 1)"), "{}", form.body);
    assert_eq!(am.silences.list().len(), 1);
}

// ---- status, receivers, auth -----------------------------------------------------------

#[tokio::test]
async fn status_and_receivers() {
    let s = serve(FakeAlertmanager::at(T0), ApiAuth::None).await;
    let status = s.get("/api/v2/status").await;
    assert_eq!(status.status, 200);
    assert_eq!(
        status.body,
        format!(
            r#"{{"cluster":{{"peers":[],"status":"disabled"}},"config":{{"original":"route:\n  receiver: default\nreceivers:\n  - name: default\n  - name: pager\n"}},"uptime":"2026-01-02T03:03:05.678Z","versionInfo":{{"branch":"","buildDate":"","buildUser":"","goVersion":"","revision":"harrier-{VERSION}","version":"{VERSION}"}}}}"#
        )
    );
    assert_eq!(s.get("/api/v2/receivers").await.body, r#"[{"name":"default"},{"name":"pager"}]"#);
}

#[tokio::test]
async fn mutating_endpoints_require_auth() {
    let am = FakeAlertmanager::new(Clock::system());
    let s = serve(am.clone(), ApiAuth::Bearer { token: "s3cret".into() }).await;
    let now = am.now_ms();
    let silence_body = format!(
        r#"{{"matchers":[{{"name":"a","value":"b","isRegex":false}}],"startsAt":"{}","endsAt":"{}","createdBy":"me","comment":"c"}}"#,
        format_time(now),
        format_time(now + 3_600_000)
    );
    let url = |p: &str| format!("{}{p}", s.base);
    let alerts_body = r#"[{"labels":{"a":"b"}}]"#;

    for token in [None, Some("wrong")] {
        let with = |req: reqwest::RequestBuilder| match token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        let a = s.send(with(s.client.post(url("/api/v2/alerts")).body(alerts_body))).await;
        assert_eq!(a.status, 401);
        assert_eq!(a.headers["www-authenticate"], "Bearer realm=\"harrier\"");
        let a = s.send(with(s.client.post(url("/api/v2/silences")).body(silence_body.clone()))).await;
        assert_eq!(a.status, 401);
        let a =
            s.send(with(s.client.delete(url("/api/v2/silence/00000000-0000-4000-8000-000000000000")))).await;
        assert_eq!(a.status, 401);
        let a = s.send(with(s.client.post(url("/alertmanager/silences")).body("matchers=a%3Db"))).await;
        assert_eq!(a.status, 401);
    }
    assert!(am.alerts.lock().unwrap().is_empty() && am.silences.list().is_empty());

    // Reads stay open.
    assert_eq!(s.get("/api/v2/alerts").await.status, 200);
    assert_eq!(s.get("/api/v2/silences").await.status, 200);
    assert_eq!(s.get("/alertmanager").await.status, 200);

    let a = s.send(s.client.post(url("/api/v2/alerts")).bearer_auth("s3cret").body(alerts_body)).await;
    assert_eq!(a.status, 200);
    let a = s.send(s.client.post(url("/api/v2/silences")).bearer_auth("s3cret").body(silence_body)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let id = a.json()["silenceID"].as_str().unwrap().to_string();
    let a = s.send(s.client.delete(url(&format!("/api/v2/silence/{id}"))).bearer_auth("s3cret")).await;
    assert_eq!(a.status, 200);
    assert_eq!(am.silences.get(&id).unwrap().1, SilenceState::Expired);

    let basic = serve(am.clone(), ApiAuth::Basic { username: "admin".into(), password: "pw".into() }).await;
    let a = basic.send(basic.client.post(format!("{}/api/v2/alerts", basic.base)).body(alerts_body)).await;
    assert_eq!(
        (a.status, a.headers["www-authenticate"].to_str().unwrap()),
        (401, "Basic realm=\"harrier\", charset=\"UTF-8\"")
    );
    let a = basic
        .send(
            basic
                .client
                .post(format!("{}/api/v2/alerts", basic.base))
                .basic_auth("admin", Some("pw"))
                .body(alerts_body),
        )
        .await;
    assert_eq!(a.status, 200);
}

// ---- the web page ----------------------------------------------------------------------

#[tokio::test]
async fn page_shows_alerts_silences_and_deliveries_escaped() {
    let am = FakeAlertmanager::new(Clock::system());
    let now = am.now_ms();
    am.put_alerts(vec![Alert {
        labels: labels(&[("alertname", "Down<script>"), ("instance", "a&b")]),
        annotations: labels(&[("summary", "\"quoted\" <b>bold</b>")]),
        starts_at_ms: now - 60_000,
        ends_at_ms: 0,
        generator_url: String::new(),
        updated_at_ms: now,
        timeout: false,
    }]);
    let mut sil = silence("instance=\"x<y\"", now, now + 3_600_000);
    sil.comment = "fix <i>it</i> & go".into();
    let id = am.silences.set(sil).unwrap();
    let expired = am.silences.set(silence("instance=\"old\"", now, now + 3_600_000)).unwrap();
    am.silences.expire(&expired).unwrap();
    am.deliveries.lock().unwrap().extend([
        DeliveryRecord {
            at_ms: now,
            receiver: "default".into(),
            integration: "webhook".into(),
            index: 0,
            group_key: "{}:{alertname=\"Down<script>\"}".into(),
            firing: 1,
            resolved: 0,
            attempts: 3,
            error: Some("HTTP 500: <html>oops</html>".into()),
        },
        DeliveryRecord {
            at_ms: now - 1000,
            receiver: "pager".into(),
            integration: "pagerduty".into(),
            index: 1,
            group_key: "{}:{}".into(),
            firing: 2,
            resolved: 1,
            attempts: 1,
            error: None,
        },
    ]);
    let s = serve(am.clone(), ApiAuth::None).await;
    let page = s.get("/alertmanager").await;
    assert_eq!(page.status, 200);
    assert_eq!(page.headers["content-type"], "text/html; charset=utf-8");
    let html = &page.body;
    for raw in ["<script>", "<b>bold", "<i>it", "<html>oops"] {
        assert!(!html.contains(raw), "{raw} must be escaped:\n{html}");
    }
    for shown in [
        "alertname=&#34;Down&lt;script&gt;&#34;",
        "instance=&#34;a&amp;b&#34;",
        "&#34;quoted&#34; &lt;b&gt;bold&lt;/b&gt;",
        "fix &lt;i&gt;it&lt;/i&gt; &amp; go",
        "instance=&#34;x&lt;y&#34;",
        "failed: HTTP 500: &lt;html&gt;oops&lt;/html&gt;",
        "webhook[0]",
        "pagerduty[1]",
        "delivered",
        "<form method=\"post\" action=\"alertmanager/silences\">",
        "name=\"matchers\"",
        "name=\"duration\"",
        "name=\"comment\"",
        "name=\"author\"",
    ] {
        assert!(html.contains(shown), "missing {shown:?} in:\n{html}");
    }
    assert!(html.contains(&format!("action=\"alertmanager/silences/{id}/expire\"")));
    assert!(
        !html.contains(&format!("action=\"alertmanager/silences/{expired}/expire\"")),
        "no button for expired"
    );
    assert!(html.contains(&expired), "expired silences are listed");
    // Sections in order: alerts, silences, notifications.
    let pos = |s: &str| html.find(s).unwrap();
    assert!(pos("<h2>Alerts</h2>") < pos("<h2>Silences</h2>"));
    assert!(pos("<h2>Silences</h2>") < pos("<h2>Recent notifications</h2>"));
}

#[tokio::test]
async fn page_forms_create_and_expire_silences() {
    let am = FakeAlertmanager::new(Clock::system());
    let s = serve(am.clone(), ApiAuth::None).await;
    let before = am.now_ms();
    let created = s
        .post_form(
            "/alertmanager/silences",
            &[
                ("matchers", "alertname=\"Down\", env=~\"prod|stage\""),
                ("duration", "90m"),
                ("comment", "deploy"),
                ("author", "bob"),
            ],
        )
        .await;
    assert_eq!(created.status, 303, "{}", created.body);
    assert_eq!(created.headers["location"], "../alertmanager");
    let list = am.silences.list();
    assert_eq!(list.len(), 1);
    let (sil, state) = &list[0];
    assert_eq!(*state, SilenceState::Active);
    assert_eq!(sil.matchers, parse_matchers("alertname=\"Down\", env=~\"prod|stage\"").unwrap());
    assert_eq!((sil.created_by.as_str(), sil.comment.as_str()), ("bob", "deploy"));
    // Ends 90m after the form was read; the store starts it when it stores it (ms later).
    assert!(sil.starts_at_ms >= before);
    let length = sil.ends_at_ms - sil.starts_at_ms;
    assert!((90 * 60_000 - 1_000..=90 * 60_000).contains(&length), "{length}");

    let bad = s
        .post_form(
            "/alertmanager/silences",
            &[("matchers", "alertname=\"<x>\""), ("duration", "soon"), ("comment", "c"), ("author", "a")],
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("class=\"error\">Error: duration: "), "{}", bad.body);
    assert!(
        bad.body.contains("value=\"alertname=&#34;&lt;x&gt;&#34;\""),
        "form refilled, escaped: {}",
        bad.body
    );
    let bad = s
        .post_form(
            "/alertmanager/silences",
            &[("matchers", "a=\"\""), ("duration", "1h"), ("comment", "c"), ("author", "a")],
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("at least one matcher must not match the empty string"), "{}", bad.body);
    assert_eq!(am.silences.list().len(), 1);

    // Cross-site posts are refused.
    let cross = s
        .send(
            s.client
                .post(format!("{}/alertmanager/silences/{}/expire", s.base, sil.id))
                .header("origin", "http://evil.example"),
        )
        .await;
    assert_eq!(cross.status, 403);
    assert_eq!(am.silences.get(&sil.id).unwrap().1, SilenceState::Active);

    let origin = s.base.clone();
    let expired = s
        .send(
            s.client
                .post(format!("{}/alertmanager/silences/{}/expire", s.base, sil.id))
                .header("origin", origin),
        )
        .await;
    assert_eq!(expired.status, 303);
    assert_eq!(expired.headers["location"], "../../../alertmanager");
    assert_eq!(am.silences.get(&sil.id).unwrap().1, SilenceState::Expired);
    let missing = s.post_form("/alertmanager/silences/nope/expire", &[]).await;
    assert_eq!(missing.status, 404);
    assert!(missing.body.contains("silence not found"));
}

#[test]
fn cross_site_check_uses_host_uri_authority_and_forwarded_host() {
    use super::page::same_origin;
    let check = |pairs: &[(&str, &str)], uri: &str| {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        same_origin(&h, &uri.parse().unwrap())
    };
    let path = "/alertmanager/silences";
    // HTTP/2 (or absolute-form): no Host, the URI carries the authority.
    assert!(check(&[("origin", "http://am.example:9093")], "http://am.example:9093/alertmanager/silences"));
    assert!(!check(
        &[("origin", "http://evil.example:9093")],
        "http://am.example:9093/alertmanager/silences"
    ));
    // A proxy that rewrites Host: X-Forwarded-Host, or the browser's Sec-Fetch-Site.
    let public = ("origin", "https://alerts.example.com");
    assert!(!check(&[public, ("host", "127.0.0.1:9093")], path));
    assert!(check(&[public, ("host", "127.0.0.1:9093"), ("x-forwarded-host", "alerts.example.com")], path));
    assert!(check(&[public, ("host", "127.0.0.1:9093"), ("sec-fetch-site", "same-origin")], path));
    assert!(check(&[("host", "127.0.0.1:9093"), ("sec-fetch-site", "none")], path));
    // Ports: an omitted one is the origin scheme's default.
    assert!(check(&[public, ("host", "alerts.example.com")], path));
    assert!(check(&[public, ("host", "alerts.example.com:443")], path));
    assert!(check(&[public, ("host", "ALERTS.example.com")], path));
    assert!(!check(&[public, ("host", "alerts.example.com:8443")], path));
    assert!(!check(&[("origin", "http://alerts.example.com"), ("host", "alerts.example.com:443")], path));
    assert!(check(&[("origin", "http://[::1]:9093"), ("host", "[::1]:9093")], path));
    // Without Origin, the Referer decides.
    assert!(check(&[("referer", "http://h:1/alertmanager?x=1"), ("host", "h:1")], path));
    assert!(!check(&[("referer", "http://evil.example/h:1"), ("host", "h:1")], path));
    // Cross-site, opaque origins, and a same-site sibling with another host are refused.
    assert!(!check(&[("origin", "http://h:1"), ("host", "h:1"), ("sec-fetch-site", "cross-site")], path));
    assert!(!check(&[("origin", "null"), ("host", "h:1")], path));
    assert!(!check(
        &[("origin", "http://other.h:1"), ("host", "h:1"), ("sec-fetch-site", "same-site")],
        path
    ));
    // No browser headers at all: not a browser's form post.
    assert!(check(&[("host", "h:1")], path));
}

#[tokio::test]
async fn page_forms_work_behind_a_host_rewriting_proxy() {
    let am = FakeAlertmanager::new(Clock::system());
    let s = serve(am.clone(), ApiAuth::None).await;
    let form = "matchers=a%3D%22b%22&duration=1h&comment=c&author=a";
    let post = |extra: &[(&'static str, &'static str)]| {
        let mut req = s
            .client
            .post(format!("{}/alertmanager/silences", s.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("host", "backend.internal:8080")
            .header("origin", "https://alerts.example.com")
            .body(form);
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        s.send(req)
    };
    assert_eq!(post(&[]).await.status, 403);
    assert_eq!(post(&[("x-forwarded-host", "alerts.example.com")]).await.status, 303);
    assert_eq!(post(&[("sec-fetch-site", "same-origin")]).await.status, 303);
    assert_eq!(am.silences.list().len(), 2);
}

// ---- the real client -------------------------------------------------------------------

/// Runs Debian's amtool against `base`; returns (exit success, stdout, stderr).
async fn amtool(base: &str, args: &[&str]) -> (bool, String, String) {
    let home = std::env::temp_dir().join("harrier-amtool-test-home");
    let mut cmd = std::process::Command::new("/usr/bin/amtool");
    cmd.arg(format!("--alertmanager.url={base}")).args(args).env("HOME", home).env("USER", "tester");
    let out = tokio::task::spawn_blocking(move || cmd.output()).await.unwrap().expect(
        "/usr/bin/amtool runs (Debian's prometheus-alertmanager package; scripts/test.sh installs it)",
    );
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amtool_alerts_and_silences() {
    let am = FakeAlertmanager::new(Clock::system());
    let s = serve(am.clone(), ApiAuth::None).await;
    let base = s.base.clone();

    let (ok, out, err) =
        amtool(&base, &["alert", "add", "alertname=Foo", "severity=page", "--annotation=summary=hello"])
            .await;
    assert!(ok, "alert add: {out}{err}");
    let (ok, out, err) = amtool(&base, &["alert", "add", "alertname=Bar", "instance=b"]).await;
    assert!(ok, "alert add: {out}{err}");
    assert_eq!(am.alerts.lock().unwrap().len(), 2);

    let (ok, out, err) = amtool(&base, &["alert", "query"]).await;
    assert!(ok, "alert query: {err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("Alertname") && lines[0].contains("Summary"), "{out}");
    assert!(
        lines.iter().any(|l| l.starts_with("Foo ") && l.contains("hello") && l.contains("active")),
        "{out}"
    );
    assert!(lines.iter().any(|l| l.starts_with("Bar ")), "{out}");
    let (ok, out, _) = amtool(&base, &["alert", "query", "alertname=Bar"]).await;
    assert!(ok && out.contains("Bar") && !out.contains("Foo"), "{out}");

    let (ok, out, err) =
        amtool(&base, &["silence", "add", "alertname=Foo", "-c", "planned work", "-a", "alice", "-d", "1h"])
            .await;
    assert!(ok, "silence add: {out}{err}");
    let id = out.trim().to_string();
    assert!(is_uuid(&id), "prints the new ID: {out}");
    let (stored, state) = am.silences.get(&id).unwrap();
    assert_eq!(
        (state, stored.created_by.as_str(), stored.comment.as_str()),
        (SilenceState::Active, "alice", "planned work")
    );

    let (ok, out, _) = amtool(&base, &["silence", "query"]).await;
    assert!(ok);
    assert!(out.lines().next().unwrap().starts_with("ID"), "{out}");
    assert!(
        out.lines().any(|l| l.starts_with(&id)
            && l.contains("alertname=\"Foo\"")
            && l.contains("alice")
            && l.contains("planned work")),
        "{out}"
    );
    let (ok, out, _) = amtool(&base, &["silence", "query", "-q"]).await;
    assert!(ok);
    assert_eq!(out.trim(), id);

    // Silenced alerts are hidden by default, shown with --silenced.
    let (ok, out, _) = amtool(&base, &["alert", "query"]).await;
    assert!(ok && !out.contains("Foo") && out.contains("Bar"), "{out}");
    let (ok, out, _) = amtool(&base, &["alert", "query", "--silenced"]).await;
    assert!(ok && out.lines().any(|l| l.starts_with("Foo ") && l.contains("suppressed")), "{out}");

    let (ok, out, err) = amtool(&base, &["silence", "expire", &id]).await;
    assert!(ok, "silence expire: {out}{err}");
    assert_eq!(am.silences.get(&id).unwrap().1, SilenceState::Expired);
    let (ok, out, _) = amtool(&base, &["silence", "query", "-q"]).await;
    assert!(ok);
    assert_eq!(out.trim(), "", "no active silences left");
    let (ok, out, _) = amtool(&base, &["silence", "query", "--expired", "-q"]).await;
    assert!(ok);
    assert_eq!(out.trim(), id);
    let (ok, out, _) = amtool(&base, &["alert", "query"]).await;
    assert!(ok && out.contains("Foo"), "unsilenced again: {out}");

    // Errors come back to the client.
    let (ok, _, err) = amtool(&base, &["silence", "expire", "00000000-0000-4000-8000-000000000000"]).await;
    assert!(!ok, "expiring an unknown silence fails: {err}");
    let (ok, _, err) = amtool(&base, &["alert", "add", "alertname="]).await;
    assert!(!ok && err.contains("at least one label pair required"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amtool_with_bearer_auth() {
    let am = FakeAlertmanager::new(Clock::system());
    let s = serve(am.clone(), ApiAuth::Bearer { token: "s3cret".into() }).await;
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yml");
    std::fs::write(&good, "authorization:\n  credentials: s3cret\n").unwrap();
    let bad = dir.path().join("bad.yml");
    std::fs::write(&bad, "authorization:\n  credentials: nope\n").unwrap();
    let flag = |p: &std::path::Path| format!("--http.config.file={}", p.display());

    let (ok, _, err) =
        amtool(&s.base, &[&flag(&bad), "silence", "add", "alertname=Foo", "-c", "x", "-d", "1h"]).await;
    assert!(!ok, "refused without the token: {err}");
    assert!(am.silences.list().is_empty());
    let (ok, out, err) =
        amtool(&s.base, &[&flag(&good), "silence", "add", "alertname=Foo", "-c", "x", "-d", "1h"]).await;
    assert!(ok, "{out}{err}");
    assert!(am.silences.get(out.trim()).is_some());
    let (ok, out, _) = amtool(&s.base, &["silence", "query", "-q"]).await;
    assert!(ok && !out.trim().is_empty(), "reads need no token: {out}");
}
