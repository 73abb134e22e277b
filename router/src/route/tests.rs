use super::config::{DEFAULT_GROUP_INTERVAL, DEFAULT_GROUP_WAIT, DEFAULT_REPEAT_INTERVAL};
use super::matchers::{MatchType, parse_matcher, parse_matchers};
use super::*;

fn err(text: &str) -> String {
    match load_str(text, "am.yml") {
        Ok(_) => String::from("<ok>"),
        Err(e) => e.to_string(),
    }
}

const MINIMAL: &str = "route:\n  receiver: r\nreceivers:\n- name: r\n";

#[test]
fn minimal_config_gets_alertmanager_defaults() {
    let c = load_str(MINIMAL, "am.yml").unwrap();
    let route = c.route.unwrap();
    assert_eq!(route.group_wait, Some(DEFAULT_GROUP_WAIT));
    assert_eq!(route.group_interval, Some(DEFAULT_GROUP_INTERVAL));
    assert_eq!(route.repeat_interval, Some(DEFAULT_REPEAT_INTERVAL));
    assert_eq!(c.global.resolve_timeout.as_millis(), 300_000);
    assert_eq!(c.global.smtp_hello, "localhost");
    assert!(c.global.smtp_require_tls);
}

#[test]
fn unknown_field_is_positioned() {
    let e = err("route:\n  receiver: r\n  recevier: x\nreceivers:\n- name: r\n");
    assert!(e.starts_with("am.yml:3:"), "{e}");
    assert!(e.contains("unknown field `recevier`"), "{e}");
}

#[test]
fn root_route_checks() {
    assert!(err("route: {}\nreceivers:\n- name: r\n").contains("root route must specify a default receiver"));
    let e = err("route:\n  receiver: r\n  matchers: ['a=b']\nreceivers:\n- name: r\n");
    assert!(e.contains("root route must not have any matchers"), "{e}");
    assert!(err("receivers:\n- name: r\n").contains("no route provided"));
}

#[test]
fn undefined_and_duplicate_receivers() {
    let e = err("route:\n  receiver: r\n  routes:\n  - receiver: nope\nreceivers:\n- name: r\n");
    assert_eq!(e, "am.yml:4:5: route.routes[0].receiver: undefined receiver \"nope\" used in route");
    let e = err("route:\n  receiver: r\nreceivers:\n- name: r\n- name: r\n");
    assert!(e.contains("receivers[1].name: notification config name \"r\" is not unique"), "{e}");
}

#[test]
fn undefined_time_interval() {
    let text = "route:\n  receiver: r\n  routes:\n  - receiver: r\n    mute_time_intervals: [night]\nreceivers:\n- name: r\n";
    assert!(err(text).contains("undefined time interval \"night\" used in route"));
    let ok = format!(
        "{text}time_intervals:\n- name: night\n  time_intervals:\n  - times: [{{start_time: '00:00', end_time: '06:00'}}]\n    weekdays: ['monday:friday']\n"
    );
    assert_eq!(err(&ok), "<ok>");
}

#[test]
fn group_by_wildcard_and_duplicates() {
    let e = err("route:\n  receiver: r\n  group_by: ['...', a]\nreceivers:\n- name: r\n");
    assert!(e.contains("wildcard group_by"), "{e}");
    let e = err("route:\n  receiver: r\n  group_by: [a, a]\nreceivers:\n- name: r\n");
    assert!(e.contains("duplicated label \"a\" in group_by"), "{e}");
    let c = load_str("route:\n  receiver: r\n  group_by: ['...']\nreceivers:\n- name: r\n", "x").unwrap();
    assert!(c.route.unwrap().group_by_all());
}

#[test]
fn intervals_cannot_be_zero() {
    let e = err("route:\n  receiver: r\n  repeat_interval: 0s\nreceivers:\n- name: r\n");
    assert!(e.contains("repeat_interval cannot be zero"), "{e}");
}

#[test]
fn nil_match_re_is_rejected() {
    let e = err(
        "route:\n  receiver: r\n  routes:\n  - receiver: r\n    match_re:\n      x:\nreceivers:\n- name: r\n",
    );
    assert!(e.contains("route.routes[0].match_re.x"), "{e}");
}

#[test]
fn unsupported_receiver_is_named() {
    let e = err("route:\n  receiver: r\nreceivers:\n- name: r\n  opsgenie_configs:\n  - api_key: k\n");
    assert_eq!(
        e,
        "am.yml:5:3: receivers[0].opsgenie_configs: receiver \"r\": opsgenie_configs is not supported (supported: pagerduty_configs, slack_configs, email_configs, webhook_configs)"
    );
}

#[test]
fn email_needs_global_smtp_defaults_and_inherits_them() {
    let e = err("route:\n  receiver: r\nreceivers:\n- name: r\n  email_configs:\n  - to: a@b\n");
    assert!(e.contains("no global SMTP smarthost set"), "{e}");
    let c = load_str(
        "global: {smtp_smarthost: 'h:25', smtp_from: 'f@x', smtp_auth_password_file: /p}\nroute:\n  receiver: r\nreceivers:\n- name: r\n  email_configs:\n  - to: a@b\n  - to: c@d\n    auth_password: local\n",
        "x",
    )
    .unwrap();
    let e0 = &c.receivers[0].email_configs[0];
    assert_eq!(e0.from.as_deref(), Some("f@x"));
    assert_eq!(e0.smarthost.as_deref(), Some("h:25"));
    assert_eq!(e0.auth_password_file.as_deref(), Some("/p"));
    let e1 = &c.receivers[0].email_configs[1];
    assert_eq!(e1.auth_password.as_deref(), Some("local"));
    assert_eq!(e1.auth_password_file, None);
}

#[test]
fn webhook_url_vs_url_file() {
    let base = "route:\n  receiver: r\nreceivers:\n- name: r\n  webhook_configs:\n";
    assert!(
        err(&format!("{base}  - send_resolved: false\n"))
            .contains("one of url or url_file must be configured")
    );
    let e = err(&format!("{base}  - url: http://x/\n    url_file: /f\n"));
    assert!(e.contains("at most one of url & url_file"), "{e}");
    let c = load_str(&format!("{base}  - url_file: relative/does-not-exist\n"), "x").unwrap();
    assert!(c.receivers[0].webhook_configs[0].send_resolved);
    assert!(err(&format!("{base}  - url: ftp://x/\n")).contains("unsupported scheme"));
}

#[test]
fn pagerduty_needs_a_key_and_gets_the_global_url() {
    let base = "route:\n  receiver: r\nreceivers:\n- name: r\n  pagerduty_configs:\n";
    assert!(err(&format!("{base}  - client: x\n")).contains("missing service or routing key"));
    let c = load_str(&format!("{base}  - routing_key: k\n"), "x").unwrap();
    assert_eq!(
        c.receivers[0].pagerduty_configs[0].url.as_deref(),
        Some("https://events.pagerduty.com/v2/enqueue")
    );
}

#[test]
fn inhibit_rules_parse_all_forms() {
    let c = load_str(
        "route:\n  receiver: r\nreceivers:\n- name: r\ninhibit_rules:\n- source_match: {severity: critical}\n  target_matchers: ['severity=~\"warn|info\"']\n  equal: [alertname]\n",
        "x",
    )
    .unwrap();
    let rule = &c.inhibit_rules[0];
    assert_eq!(rule.parsed_source.len(), 1);
    assert!(rule.parsed_target[0].matches("warn"));
    assert!(!rule.parsed_target[0].matches("warning"), "regexes are anchored");
}

#[test]
fn matcher_syntax() {
    let m = parse_matcher(r#"foo="bar""#).unwrap();
    assert_eq!((m.name.as_str(), m.op, m.value.as_str()), ("foo", MatchType::Equal, "bar"));
    let m = parse_matcher("foo != bar").unwrap();
    assert_eq!((m.op, m.value.as_str()), (MatchType::NotEqual, "bar"));
    let m = parse_matcher(r#"foo!~"a.*""#).unwrap();
    assert!(!m.matches("abc") && m.matches("b"));
    let m = parse_matcher(r#""service name"="a\"b""#).unwrap();
    assert_eq!((m.name.as_str(), m.value.as_str()), ("service name", "a\"b"));
    let m = parse_matcher(r#"x=~"\d+""#).unwrap();
    assert!(m.matches("123") && !m.matches("12a"));
    let list = parse_matchers(r#"{a="1", b=~"2|3"}"#).unwrap();
    assert_eq!(list.len(), 2);
    assert!(parse_matcher("foo").is_err());
    assert!(parse_matcher(r#"foo=~"(""#).is_err());
    assert!(parse_matcher(r#"foo="bar"#).is_err());
}

#[test]
fn looks_like_detection() {
    assert!(looks_like_alertmanager_config(MINIMAL));
    assert!(looks_like_alertmanager_config("receivers: []\n"));
    assert!(!looks_like_alertmanager_config("scrape_configs: []\n"));
    assert!(!looks_like_alertmanager_config("- a\n"));
}

#[test]
fn route_matchers_combine_all_forms() {
    let c = load_str(
        "route:\n  receiver: r\n  routes:\n  - receiver: r\n    match: {a: '1'}\n    match_re: {b: 'x|y'}\n    matchers: ['c!=\"3\"', 'd=~\"z\", e!~\"w\"']\nreceivers:\n- name: r\n",
        "x",
    )
    .unwrap();
    let child = &c.route.unwrap().routes[0];
    let names: Vec<&str> = child.parsed_matchers.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c", "d", "e"]);
    let e = err(
        "route:\n  receiver: r\n  routes:\n  - receiver: r\n    match: {'bad-name': x}\nreceivers:\n- name: r\n",
    );
    assert!(e.contains("invalid label name \"bad-name\""), "{e}");
    let e = err(
        "route:\n  receiver: r\n  routes:\n  - receiver: r\n    matchers: ['a=~\"(\"']\nreceivers:\n- name: r\n",
    );
    assert!(e.starts_with("am.yml:5:") && e.contains("route.routes[0].matchers[0]"), "{e}");
}

#[test]
fn slack_conflicts_and_defaults() {
    let base = "route:\n  receiver: r\nreceivers:\n- name: r\n  slack_configs:\n";
    let e = err(&format!("{base}  - api_url: http://x/\n    api_url_file: /f\n"));
    assert!(e.contains("at most one of api_url & api_url_file"), "{e}");
    let e = err(&format!("{base}  - app_token: t\n    api_url: https://hooks.slack.com/services/x\n"));
    assert!(e.contains("app_token cannot be used with an incoming webhook"), "{e}");
    let c = load_str(&format!("global: {{slack_api_url_file: /g}}\n{base}  - channel: '#a'\n"), "x").unwrap();
    let s = &c.receivers[0].slack_configs[0];
    assert_eq!(s.api_url_file.as_deref(), Some("/g"));
    assert!(!s.send_resolved);
}

#[test]
fn email_header_collisions_are_case_insensitive() {
    let e = err(
        "global: {smtp_smarthost: 'h:25', smtp_from: f@x}\nroute:\n  receiver: r\nreceivers:\n- name: r\n  email_configs:\n  - to: a@b\n    headers: {subject: a, Subject: b}\n",
    );
    assert!(e.contains("duplicate header \"Subject\""), "{e}");
}

#[test]
fn time_interval_ranges_are_checked() {
    let base =
        "route:\n  receiver: r\nreceivers:\n- name: r\ntime_intervals:\n- name: t\n  time_intervals:\n";
    assert_eq!(
        err(&format!(
            "{base}  - months: ['1:3', 'december']\n    days_of_month: ['-1', '1:5']\n    years: ['2020:2030']\n"
        )),
        "<ok>"
    );
    assert!(err(&format!("{base}  - months: [smarch]\n")).contains("not a valid month"));
    assert!(err(&format!("{base}  - days_of_month: ['0']\n")).contains("not a valid day of the month"));
    assert!(
        err(&format!("{base}  - times: [{{start_time: '10:00', end_time: '09:00'}}]\n"))
            .contains("start time")
    );
}
