//! Expected texts come from Alertmanager 0.25 (Debian's `prometheus-alertmanager`) run on the
//! same alerts: its Slack and PagerDuty requests carry the rendered default templates. Where
//! current upstream differs from 0.25 (KV and Pairs print through their `String()` methods
//! since 0.26) the expectation follows current upstream.

use super::*;
use crate::notify::alert::Notification;
use harrier_telemetry::model::Labels;

use crate::notify::receivers::test_server::{MINUTE, T10, reference_notification};

/// Two firing alerts and one resolved, grouped by alertname and job: the reference run's,
/// with the first alert's end time set ahead (a firing alert sent by Prometheus has one).
fn notification() -> Notification {
    let mut n = reference_notification();
    std::sync::Arc::make_mut(&mut n.alerts[0]).ends_at_ms = T10 + 65 * MINUTE;
    n
}

fn data() -> TemplateData {
    TemplateData::new(&notification())
}

fn defaults() -> Templates {
    Templates::load(&[], None).unwrap()
}

fn render(text: &str) -> Result<String, String> {
    defaults().render(text, &data())
}

const SUBJECT: &str = "[FIRING:2] InstanceDown node (page)";
const ALERTS_URL: &str = "http://am.example:9093/#/alerts?receiver=team-x%5C.pager";
const FIRING_LIST: &str = "Labels:\n - alertname = InstanceDown\n - instance = a:9100\n - job = node\n - severity = page\nAnnotations:\n - description = a is down <b>&</b>\n - summary = Instance down\nSource: http://prom:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1\nLabels:\n - alertname = InstanceDown\n - instance = b:9100\n - job = node\n - severity = page\nAnnotations:\n - description = b is down\n - summary = Instance down\nSource: http://prom:9090/graph?g0.expr=up\n";
const RESOLVED_LIST: &str = "Labels:\n - alertname = InstanceDown\n - instance = c:9100\n - job = node\n - severity = page\nAnnotations:\n - summary = Instance down\nSource: http://prom:9090/graph?g0.expr=up\n";

#[test]
fn data_follows_alertmanager() {
    let d = data();
    assert_eq!(d.receiver(), r"team-x\.pager");
    assert_eq!(d.status(), "firing");
    let statuses: Vec<_> = d.alerts().iter().map(|a| a.status).collect();
    assert_eq!(statuses, ["firing", "firing", "resolved"]);
    // A firing alert's end time is hidden, even when the sender gave a future one.
    assert_eq!(d.alerts()[0].ends_at_ms, 0);
    assert_eq!(d.alerts()[2].ends_at_ms, T10 + 30 * MINUTE);
    assert_eq!(d.alerts()[0].fingerprint, "916f087f9634c1b4");
    assert_eq!(d.common_labels().keys().collect::<Vec<_>>(), ["alertname", "job", "severity"]);
    assert_eq!(d.common_annotations().keys().collect::<Vec<_>>(), ["summary"]);
    assert_eq!(d.group_labels().len(), 2);
    assert_eq!(d.external_url(), "http://am.example:9093");
}

#[test]
fn data_for_a_subset_of_alerts() {
    let n = notification();
    // Only the resolved alert: status, common labels and annotations follow the subset.
    let d = TemplateData::for_alerts(&n, &n.alerts[2..]);
    assert_eq!(d.status(), "resolved");
    assert_eq!(d.alerts().len(), 1);
    assert_eq!(d.common_labels().len(), 4);
    assert_eq!(d.common_annotations().keys().collect::<Vec<_>>(), ["summary"]);
    assert_eq!(d.receiver(), r"team-x\.pager");
    let d = TemplateData::for_alerts(&n, &[]);
    assert_eq!(d.status(), "resolved");
    assert!(d.common_labels().is_empty() && d.common_annotations().is_empty());
    assert_eq!(TemplateData::for_alerts(&n, &n.alerts), data());
}

#[test]
fn quote_meta_escapes_like_go() {
    assert_eq!(
        quote_meta(r"a.b+c*d?e(f)g|h[i]j{k}l^m$n\o-p"),
        r"a\.b\+c\*d\?e\(f\)g\|h\[i\]j\{k\}l\^m\$n\\o-p"
    );
}

#[test]
fn default_text_templates_match_alertmanager() {
    let t = defaults();
    let d = data();
    let expected = [
        ("__alertmanager", "Alertmanager".to_string()),
        ("__alertmanagerURL", ALERTS_URL.to_string()),
        ("__subject", SUBJECT.to_string()),
        ("__description", String::new()),
        ("slack.default.title", SUBJECT.to_string()),
        ("slack.default.username", "Alertmanager".to_string()),
        ("slack.default.fallback", format!("{SUBJECT} | {ALERTS_URL}")),
        ("slack.default.callbackid", String::new()),
        ("slack.default.pretext", String::new()),
        ("slack.default.titlelink", ALERTS_URL.to_string()),
        ("slack.default.iconemoji", String::new()),
        ("slack.default.iconurl", String::new()),
        ("slack.default.text", String::new()),
        ("slack.default.footer", String::new()),
        ("pagerduty.default.description", SUBJECT.to_string()),
        ("pagerduty.default.client", "Alertmanager".to_string()),
        ("pagerduty.default.clientURL", ALERTS_URL.to_string()),
        ("email.default.subject", SUBJECT.to_string()),
    ];
    for (name, want) in expected {
        let got = t.render(&format!("{{{{ template \"{name}\" . }}}}"), &d).unwrap();
        assert_eq!(got, want, "template {name}");
    }
    // PagerDuty's default details.
    let firing = t.render(r#"{{ template "pagerduty.default.instances" .Alerts.Firing }}"#, &d).unwrap();
    assert_eq!(firing, FIRING_LIST);
    let resolved = t.render(r#"{{ template "pagerduty.default.instances" .Alerts.Resolved }}"#, &d).unwrap();
    assert_eq!(resolved, RESOLVED_LIST);
    assert_eq!(
        t.render(r#"{{ template "__text_alert_list" .Alerts }}"#, &d).unwrap(),
        format!("{FIRING_LIST}{RESOLVED_LIST}")
    );
}

#[test]
fn subject_when_resolved_and_without_extra_labels() {
    let mut n = notification();
    std::sync::Arc::make_mut(&mut n.alerts[1]).ends_at_ms = T10 + 90 * MINUTE;
    n.now_ms = T10 + 120 * MINUTE;
    let t = defaults();
    assert_eq!(
        t.render(r#"{{ template "__subject" . }}"#, &TemplateData::new(&n)).unwrap(),
        "[RESOLVED] InstanceDown node (page)"
    );
    // Group labels covering every common label: no parenthesis, the trailing space stays.
    n.group_labels =
        Labels::from_pairs([("alertname", "InstanceDown"), ("job", "node"), ("severity", "page")]);
    n.now_ms = T10;
    let d = TemplateData::new(&n);
    assert_eq!(
        t.render(r#"{{ template "__subject" . }}"#, &d).unwrap(),
        "[FIRING:3] InstanceDown node page "
    );
}

#[test]
fn email_html_escapes_values() {
    let t = defaults();
    let d = data();
    let html = t.render_html(r#"{{ template "email.default.html" . }}"#, &d).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(html.contains("<title>[FIRING:2] InstanceDown node (page)</title>"), "{html}");
    assert!(html.contains("description = a is down &lt;b&gt;&amp;&lt;/b&gt;<br>"), "{html}");
    assert!(
        html.contains(
            r#"<a href="http://prom:9090/graph?g0.expr=up&#43;%3D%3D&#43;0&amp;g0.tab=1">Source</a>"#
        ),
        "{html}"
    );
    assert!(html.contains("<strong>[2] Firing</strong>"), "{html}");
    assert!(html.contains("<strong>[1] Resolved</strong>"), "{html}");
    assert!(html.contains(&format!(r#"<a href="{ALERTS_URL}">View in Alertmanager</a>"#)), "{html}");
    assert!(html.contains("3 alerts for alertname=InstanceDown job=node"), "{html}");
    // The text renderer leaves values alone.
    let text = t.render(r#"{{ template "email.default.html" . }}"#, &d).unwrap();
    assert!(text.contains("description = a is down <b>&</b><br>"), "{text}");
    // safeHtml output is not escaped; other values are, including `+`.
    let out = t.render_html(r#"<p>{{ "<i>" | safeHtml }}{{ "<i>+" }}{{ .Receiver }}</p>"#, &d).unwrap();
    assert_eq!(out, r"<p><i>&lt;i&gt;&#43;team-x\.pager</p>");
}

#[test]
fn values_print_like_go() {
    let out = render(
        "A={{ .CommonLabels }}|B={{ .CommonLabels.SortedPairs }}|C={{ .CommonLabels.Names }}|D={{ .GroupLabels.Values }}\
         |E={{ (index .Alerts 0).StartsAt }}|F={{ (index .Alerts 0).EndsAt }}|G={{ (index .Alerts 1).StartsAt }}\
         |H={{ range .CommonLabels }}{{ . }},{{ end }}|K={{ index .CommonLabels \"job\" }}|L={{ .CommonLabels.missing }}\
         |M={{ stringSlice \"a\" \"b\" }}|N={{ len .CommonLabels }}|P={{ (index .Alerts 0).StartsAt.Format \"Jan 2 15:04:05.000 MST\" }}\
         |R={{ match \"^In\" .CommonLabels.alertname }}|S={{ index .CommonLabels.SortedPairs 0 }}|T={{ .Receiver }}\
         |V={{ .Alerts.Firing | len }}|W={{ (index .Alerts 1).StartsAt.Unix }}|X={{ .CommonLabels.Remove (stringSlice \"job\") }}\
         |Y={{ .CommonAnnotations.SortedPairs.Values | join \"+\" }}|Z={{ (index .Alerts 1).Labels.instance }}",
    )
    .unwrap();
    let want = "A=alertname=InstanceDown, job=node, severity=page|B=alertname=InstanceDown, job=node, severity=page\
        |C=[alertname job severity]|D=[InstanceDown node]|E=2026-12-06 10:00:00 +0000 UTC\
        |F=0001-01-01 00:00:00 +0000 UTC|G=2026-12-06 10:05:00.5 +0000 UTC|H=InstanceDown,node,page,|K=node|L=\
        |M=[a b]|N=3|P=Dec 6 10:00:00.000 UTC|R=true|S={alertname InstanceDown}|T=team-x\\.pager|V=2|W=1796551500\
        |X=alertname=InstanceDown, severity=page|Y=Instance down|Z=b:9100";
    assert_eq!(out, want);
    // KV label sets range like Go maps: names in order with their values.
    let out = render(
        r#"{{ range $k, $v := .CommonLabels }}{{ $k }}={{ $v }};{{ end }}{{ index .GroupLabels "nope" }}|"#,
    );
    assert_eq!(out.unwrap(), "alertname=InstanceDown;job=node;severity=page;|");
    let resolved = render("{{ .Alerts.Resolved }}").unwrap();
    assert_eq!(
        resolved,
        "[{resolved alertname=InstanceDown, instance=c:9100, job=node, severity=page summary=Instance down \
         2026-12-06 09:00:00 +0000 UTC 2026-12-06 10:30:00 +0000 UTC http://prom:9090/graph?g0.expr=up 1e4918a18d5c87ae}]"
    );
    assert!(render("{{ . }}").unwrap().starts_with("{team-x\\.pager firing [{firing alertname=InstanceDown"));
}

#[test]
fn functions_behave_like_alertmanager() {
    let cases = [
        (r#"{{ title "hELLO wORLD foo_bar o'neil 1st x-y" }}"#, "Hello World Foo_bar O'neil 1St X-Y"),
        (r#"{{ toUpper "abc" }}{{ toLower "DEF" }}{{ trimSpace "  x \n" }}"#, "ABCdefx"),
        (r#"{{ reReplaceAll "(a+)" "<$1>" "baaad" }}"#, "b<aaa>d"),
        (r#"{{ urlUnescape "a%20b+c%2F" }}"#, "a b c/"),
        (r#"{{ safeUrl "http://x/?a=1&b=2" }}"#, "http://x/?a=1&b=2"),
        (r#"{{ date "2006-01-02T15:04" (index .Alerts 0).StartsAt }}"#, "2026-12-06T10:00"),
        (r#"{{ (index .Alerts 1).StartsAt.Sub (index .Alerts 0).StartsAt }}"#, "5m0.5s"),
        (r#"{{ since (index .Alerts 0).StartsAt }}"#, "1h0m0s"),
        (r#"{{ since (index .Alerts 0).StartsAt | humanizeDuration }}"#, "1h 0m 0s"),
        (r#"{{ humanizeDuration 90 }}|{{ humanizeDuration "0.25" }}"#, "1m 30s|250ms"),
        (r#"{{ (index .Alerts 0).EndsAt.IsZero }}{{ (index .Alerts 2).EndsAt.IsZero }}"#, "truefalse"),
        (r#"{{ with .CommonLabels.Remove .GroupLabels.Names }}{{ .Values | join " " }}{{ end }}"#, "page"),
        (
            r#"{{ range .GroupLabels.SortedPairs }}{{ .Name }}={{ .Value }};{{ end }}"#,
            "alertname=InstanceDown;job=node;",
        ),
        (r#"{{ if .CommonLabels.nothing }}x{{ else }}y{{ end }}"#, "y"),
        ("", ""),
    ];
    for (text, want) in cases {
        assert_eq!(render(text).as_deref(), Ok(want), "{text}");
    }
    if gotime::load_location("Europe/Paris").is_ok() {
        assert_eq!(
            render(r#"{{ (index .Alerts 0).StartsAt | tz "Europe/Paris" }}"#).as_deref(),
            Ok("2026-12-06 11:00:00 +0100 CET")
        );
        assert_eq!(
            render(r#"{{ date "15:04 MST" (tz "Europe/Paris" (index .Alerts 0).StartsAt) }}"#).as_deref(),
            Ok("11:00 CET")
        );
    }
}

#[test]
fn errors_read_like_go() {
    let cases = [
        (
            "{{ .Foo }}",
            r#"template: :1:3: executing "" at <.Foo>: can't evaluate field Foo in type *template.Data"#,
        ),
        ("{{ nope }}", r#"template: :1: function "nope" not defined"#),
        (
            "{{ template \"missing\" . }}",
            r#"template: :1:12: executing "" at <{{template "missing" .}}>: template "missing" not defined"#,
        ),
        (
            r#"{{ urlUnescape "%zz" }}"#,
            r#"template: :1:3: executing "" at <urlUnescape "%zz">: error calling urlUnescape: invalid URL escape "%zz""#,
        ),
        (
            r#"{{ tz "Nowhere/Atlantis" (index .Alerts 0).StartsAt }}"#,
            r#"template: :1:3: executing "" at <tz "Nowhere/Atlantis" (index .Alerts 0).StartsAt>: error calling tz: unknown time zone Nowhere/Atlantis"#,
        ),
        (
            r#"{{ toUpper 1 }}"#,
            r#"template: :1:3: executing "" at <toUpper>: wrong type for value; expected string; got int"#,
        ),
        (
            r#"{{ join "," .Receiver }}"#,
            r#"template: :1:3: executing "" at <join>: wrong type for value; expected []string; got string"#,
        ),
    ];
    for (text, want) in cases {
        assert_eq!(render(text), Err(want.to_string()), "{text}");
    }
}

#[test]
fn user_templates_define_and_override() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("templates")).unwrap();
    std::fs::write(
        dir.path().join("templates/custom.tmpl"),
        r#"{{ define "__alertmanager" }}Harrier{{ end }}
{{ define "team.title" }}{{ .CommonLabels.alertname }} on {{ len .Alerts.Firing }} hosts ({{ template "__alertmanager" . }}){{ end }}"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("templates/ignored.txt"), "{{ broken").unwrap();
    let t = Templates::load(&["templates/*.tmpl".into(), "nothing/*.tmpl".into()], Some(dir.path())).unwrap();
    let d = data();
    assert!(t.has("team.title"));
    assert_eq!(
        t.render(r#"{{ template "team.title" . }}"#, &d).unwrap(),
        "InstanceDown on 2 hosts (Harrier)"
    );
    // The override reaches the defaults that call it.
    assert_eq!(t.render(r#"{{ template "slack.default.username" . }}"#, &d).unwrap(), "Harrier");
    // A definition in the rendered text itself.
    let text = r#"{{ define "x" }}[{{ . }}]{{ end }}{{ template "x" .Status }}"#;
    assert_eq!(t.render(text, &d).unwrap(), "[firing]");
    // An absolute pattern ignores the base directory.
    let abs = dir.path().join("templates/*.tmpl").display().to_string();
    assert!(Templates::load(&[abs], Some(Path::new("/elsewhere"))).unwrap().has("team.title"));
}

#[test]
fn load_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.tmpl"), "ok\n{{ if }}").unwrap();
    let err = Templates::load(&["*.tmpl".into()], Some(dir.path())).unwrap_err();
    assert_eq!(err.to_string(), "template: bad.tmpl:2: missing value for if");
    let err = Templates::load(&["[".into()], Some(dir.path())).unwrap_err();
    assert!(matches!(err, TemplateLoadError::Pattern { .. }), "{err}");
}
