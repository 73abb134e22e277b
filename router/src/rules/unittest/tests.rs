//! Unit tests of the rule test runner: Go's formatting, the test file model, and whole runs
//! of small test files written to a temporary directory.

use super::file::{load_str, parse_time};
use super::output::{
    LabelsAndAnnotations, alerts_string, float_e, go_duration, go_quote, indent_lines, json_diff,
    model_duration,
};
use super::{Stream, UnitTestOptions, run_files, run_files_output};
use std::path::PathBuf;

#[test]
fn model_duration_is_gos() {
    assert_eq!(model_duration(0), "0s");
    assert_eq!(model_duration(60_000), "1m");
    assert_eq!(model_duration(86_400_000), "1d");
    assert_eq!(model_duration(8 * 86_400_000), "8d");
    assert_eq!(model_duration(14 * 86_400_000), "2w");
    assert_eq!(model_duration(365 * 86_400_000), "1y");
    assert_eq!(model_duration(179_999), "2m59s999ms");
    assert_eq!(model_duration(299_000), "4m59s");
}

#[test]
fn go_duration_is_gos() {
    assert_eq!(go_duration(0), "0s");
    assert_eq!(go_duration(500), "500ms");
    assert_eq!(go_duration(1500), "1.5s");
    assert_eq!(go_duration(60_000), "1m0s");
    assert_eq!(go_duration(61_010), "1m1.01s");
    assert_eq!(go_duration(3_600_000), "1h0m0s");
    assert_eq!(go_duration(1_704_067_200_000), "473352h0m0s");
    assert_eq!(go_duration(-60_000), "-1m0s");
}

#[test]
fn floats_print_as_go_e_format() {
    assert_eq!(float_e(1.0), "1E+00");
    assert_eq!(float_e(60.0), "6E+01");
    assert_eq!(float_e(0.1), "1E-01");
    assert_eq!(float_e(2.5), "2.5E+00");
    assert_eq!(float_e(1.5e-7), "1.5E-07");
    assert_eq!(float_e(1e100), "1E+100");
    assert_eq!(float_e(0.0), "0E+00");
    assert_eq!(float_e(-3.25), "-3.25E+00");
    assert_eq!(float_e(f64::NAN), "NaN");
    assert_eq!(float_e(f64::INFINITY), "+Inf");
    assert_eq!(float_e(f64::NEG_INFINITY), "-Inf");
}

#[test]
fn strings_quote_as_go() {
    assert_eq!(go_quote("up == 0"), "\"up == 0\"");
    assert_eq!(go_quote("a\"b\\c\nd\te"), "\"a\\\"b\\\\c\\nd\\te\"");
    assert_eq!(go_quote("é\u{1}"), "\"é\\x01\"");
}

#[test]
fn alert_lists_render_as_promtool() {
    assert_eq!(alerts_string(&[]), "[]");
    let alert = |v: &str| LabelsAndAnnotations {
        labels: vec![("alertname".into(), "A".into()), ("x".into(), v.into())],
        annotations: vec![("summary".into(), "s".into())],
    };
    let text = alerts_string(&[alert("1"), alert("2")]);
    assert_eq!(
        text,
        "[\n0:\n  Labels:{alertname=\"A\", x=\"1\"}\n  Annotations:{summary=\"s\"},\n1:\n  Labels:{alertname=\"A\", \
         x=\"2\"}\n  Annotations:{summary=\"s\"}\n]"
    );
    assert_eq!(indent_lines("a\nb\nc", "  "), "a\n  b\n  c");
}

#[test]
fn json_diff_marks_changes_removals_and_additions() {
    let exp = serde_json::json!([{"Labels": {"a": "1", "b": "2"}, "Annotations": {}}]);
    let got = serde_json::json!([{"Labels": {"a": "9", "c": "3"}, "Annotations": {}}]);
    let diff = json_diff(&exp, &got).expect("they differ");
    assert!(diff.contains("\"a\": \x1b[0;33m\"1\" => \"9\"\x1b[0m"), "{diff}");
    assert!(diff.contains("\x1b[0;31m\"b\": \"2\"\x1b[0m"), "{diff}");
    assert!(diff.contains("\x1b[0;32m\"c\": \"3\"\x1b[0m"), "{diff}");
    assert!(diff.contains("\"Annotations\": {}"), "{diff}");
    assert_eq!(json_diff(&exp, &exp), None);
}

#[test]
fn test_file_reads_go_style_scalars() {
    let text = "evaluation_interval: 30s\nfuzzy_compare: true\ntests:\n  - {}\n  - interval: 1m\n    name: n\n    \
                start_timestamp: 1609459200\n    input_series:\n      - series: up\n        values: 0x10\n      - \
                series: x\n        values: 1  # a comment\n    alert_rule_test:\n      - eval_time: 0\n        \
                alertname: A\n        exp_alerts:\n          - exp_labels:\n    promql_expr_test:\n      - expr: 1\n        \
                eval_time: 1d\n        exp_samples:\n          - value: 2\n";
    let file = load_str(text, "t.yml").expect("valid");
    assert_eq!(file.evaluation_interval.map(|d| d.as_millis()), Some(30_000));
    assert!(file.fuzzy_compare);
    assert_eq!(file.tests.len(), 2);
    let group = &file.tests[1];
    assert_eq!(group.start_timestamp.map(|s| s.0), Some(1_609_459_200_000));
    assert_eq!(group.input_series[0].values.as_str(), "0x10");
    assert_eq!(group.input_series[1].values.as_str(), "1");
    assert_eq!(group.alert_rule_test[0].eval_time.as_millis(), 0);
    assert!(group.alert_rule_test[0].exp_alerts[0].exp_labels.is_empty());
    assert_eq!(group.promql_expr_test[0].expr.as_str(), "1");
    assert_eq!(group.promql_expr_test[0].eval_time.as_millis(), 86_400_000);
    assert_eq!(group.promql_expr_test[0].exp_samples[0].value, 2.0);
}

#[test]
fn test_file_refuses_unknown_fields_with_position() {
    let err = load_str("tests:\n  - name: a\n    colour: red\n", "t.yml").expect_err("unknown field");
    let text = err.to_string();
    assert!(text.starts_with("t.yml:"), "{text}");
    assert!(text.contains("unknown field `colour`"), "{text}");
}

#[test]
fn test_file_applies_merge_keys() {
    let text = "tests:\n  - external_labels: &l\n      a: x\n      b: y\n  - external_labels:\n      <<: *l\n      a: z\n";
    let file = load_str(text, "t.yml").expect("valid");
    let labels: Vec<(&str, &str)> =
        file.tests[1].external_labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(labels, [("a", "z"), ("b", "y")]);
}

#[test]
fn start_timestamps_parse_as_promtool() {
    assert_eq!(parse_time("2024-01-01T00:00:00Z"), Ok(1_704_067_200_000));
    assert_eq!(parse_time("1609459200"), Ok(1_609_459_200_000));
    assert_eq!(parse_time("1.5"), Ok(1500));
    assert!(parse_time("yesterday").is_err());
}

/// Writes `files` to a temporary directory; returns it and the path of the first file.
fn write_files(files: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, content) in files {
        std::fs::write(dir.path().join(name), content).expect("write");
    }
    let first = dir.path().join(files[0].0);
    (dir, first)
}

const RULES: &str = "groups:\n  - name: rec\n    rules:\n      - record: job:up:sum\n        expr: sum by (job) (up)\n  \
                     - name: alerts\n    rules:\n      - alert: Down\n        expr: job:up:sum == 0\n        for: 2m\n";

#[test]
fn recording_output_feeds_later_groups_and_alerts_fire_after_for() {
    let test = "rule_files: [rules.yml]\ntests:\n  - interval: 1m\n    input_series:\n      - series: 'up{job=\"a\"}'\n        \
                values: '0x10'\n    alert_rule_test:\n      - eval_time: 1m\n        alertname: Down\n        exp_alerts: \
                []\n      - eval_time: 2m\n        alertname: Down\n        exp_alerts:\n          - exp_labels: {job: \
                a}\n    promql_expr_test:\n      - expr: job:up:sum\n        eval_time: 5m\n        exp_samples:\n          \
                - labels: 'job:up:sum{job=\"a\"}'\n            value: 0\n      - expr: ALERTS\n        eval_time: 1m\n        \
                exp_samples:\n          - labels: 'ALERTS{alertname=\"Down\", alertstate=\"pending\", job=\"a\"}'\n            \
                value: 1\n";
    let (_dir, path) = write_files(&[("t.yml", test), ("rules.yml", RULES)]);
    let (code, output) = run_files(std::slice::from_ref(&path), &UnitTestOptions::default());
    assert_eq!(code, 0, "{output}");
    assert_eq!(output, format!("Unit Testing:  {}\n  SUCCESS\n\n", path.display()));
}

#[test]
fn failures_are_reported_as_promtool_does() {
    let test = "tests:\n  - interval: 1m\n    input_series:\n      - series: 'x{a=\"b\"}'\n        values: '1 2'\n    \
                promql_expr_test:\n      - expr: x\n        eval_time: 1m\n        exp_samples:\n          - labels: \
                'x{a=\"b\"}'\n            value: 3\n      - expr: 'x +'\n        eval_time: 0\n";
    let (_dir, path) = write_files(&[("t.yml", test)]);
    let (code, output) = run_files_output(std::slice::from_ref(&path), &UnitTestOptions::default());
    assert_eq!(code, 1);
    let stderr = output.stream(Stream::Stderr);
    assert!(
        stderr.starts_with(
            "  FAILED:\n    expr: \"x\", time: 1m,\n        exp: {__name__=\"x\", a=\"b\"} 3E+00\n        got: \
             {__name__=\"x\", a=\"b\"} 2E+00\n    expr: \"x +\", time: 0s, err: "
        ),
        "{stderr}"
    );
    // One empty line on stdout per failure, then one after the file.
    assert_eq!(output.stream(Stream::Stdout), format!("Unit Testing:  {}\n\n\n\n", path.display()));
}

#[test]
fn run_selects_test_groups_by_name() {
    let test = "tests:\n  - name: good one\n    promql_expr_test:\n      - expr: '1'\n        exp_samples: [{value: 1}]\n  \
                - name: bad one\n    promql_expr_test:\n      - expr: '1'\n        exp_samples: [{value: 2}]\n";
    let (_dir, path) = write_files(&[("t.yml", test)]);
    let run = |patterns: &[&str]| {
        let options =
            UnitTestOptions { run: patterns.iter().map(|s| s.to_string()).collect(), ..Default::default() };
        run_files(std::slice::from_ref(&path), &options).0
    };
    assert_eq!(run(&[]), 1);
    assert_eq!(run(&["good"]), 0);
    assert_eq!(run(&["bad"]), 1);
    assert_eq!(run(&["good", "bad"]), 1);
    assert_eq!(run(&["^one"]), 0, "no group matches: nothing runs");
}

#[test]
fn rule_errors_stop_the_group_with_the_rule_and_time() {
    let rules = "groups:\n  - name: g\n    rules:\n      - record: joined\n        expr: a + on(x) b\n";
    let test = "rule_files: [rules.yml]\ntests:\n  - input_series:\n      - series: 'a{x=\"1\"}'\n        values: 1\n      - \
                series: 'b{x=\"1\", y=\"1\"}'\n        values: 1\n      - series: 'b{x=\"1\", y=\"2\"}'\n        values: 1\n";
    let (_dir, path) = write_files(&[("t.yml", test), ("rules.yml", rules)]);
    let (code, output) = run_files(&[path], &UnitTestOptions::default());
    assert_eq!(code, 1);
    assert!(output.contains("    rule: joined, time: 0s, err: "), "{output}");
}

#[test]
fn file_level_errors_are_reported() {
    let (_dir, path) = write_files(&[("t.yml", "group_eval_order: [a, a]\ntests: [{}]\n")]);
    let (code, output) = run_files(&[path], &UnitTestOptions::default());
    assert_eq!(code, 1);
    assert!(output.contains("group name repeated in evaluation order: a"), "{output}");

    let test = "tests:\n  - name: g\n    alert_rule_test:\n      - eval_time: 5m\n";
    let (_dir, path) = write_files(&[("t.yml", test)]);
    let (_, output) = run_files(&[path], &UnitTestOptions::default());
    assert!(
        output.contains("an item under alert_rule_test misses required attribute alertname at eval_time 5m (in TestGroup g)"),
        "{output}"
    );

    let (code, output) = run_files(&[PathBuf::from("/nonexistent/t.yml")], &UnitTestOptions::default());
    assert_eq!(code, 1);
    assert_eq!(
        output,
        "Unit Testing:  /nonexistent/t.yml\n  FAILED:\nopen /nonexistent/t.yml: no such file or directory\n\n\n"
    );

    let (_dir, path) = write_files(&[("t.yml", "rule_files: [missing-*.yml]\ntests: [{}]\n")]);
    let (code, output) = run_files(&[path], &UnitTestOptions::default());
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("  WARNING: no file match pattern "), "{output}");
}

#[test]
fn unknown_rule_fields_need_the_flag() {
    let rules = "groups:\n  - name: g\n    owner: me\n    rules:\n      - record: r\n        expr: '1'\n";
    let test = "rule_files: [rules.yml]\ntests:\n  - promql_expr_test:\n      - expr: r\n        exp_samples: [{labels: \
                r, value: 1}]\n";
    let (_dir, path) = write_files(&[("t.yml", test), ("rules.yml", rules)]);
    assert_eq!(run_files(std::slice::from_ref(&path), &UnitTestOptions::default()).0, 1);
    let options = UnitTestOptions { ignore_unknown_fields: true, ..Default::default() };
    let (code, output) = run_files(&[path], &options);
    assert_eq!(code, 0, "{output}");
}

#[test]
fn input_samples_after_a_step_are_invisible_to_rules() {
    // The rule looks one minute ahead; promtool's lazy loader has not loaded that sample yet,
    // so at 1m the rule sees the sample of 1m (2), not the one of 2m (3), as promtool 2.42 does.
    let rules = "groups:\n  - name: g\n    rules:\n      - record: ahead\n        expr: x offset -1m\n";
    let test = "rule_files: [rules.yml]\ntests:\n  - interval: 1m\n    input_series:\n      - series: x\n        values: '1 \
                2 3'\n    promql_expr_test:\n      - expr: ahead\n        eval_time: 1m\n        exp_samples: [{labels: \
                ahead, value: 2}]\n";
    let (_dir, path) = write_files(&[("t.yml", test), ("rules.yml", rules)]);
    let (code, output) = run_files(&[path], &UnitTestOptions::default());
    assert_eq!(code, 0, "{output}");
}

#[test]
fn fuzzy_compare_allows_one_ulp() {
    let test = |fuzzy: bool| {
        format!(
            "fuzzy_compare: {fuzzy}\ntests:\n  - promql_expr_test:\n      - expr: '0.1 + 0.2'\n        exp_samples: \
             [{{value: 0.3}}]\n"
        )
    };
    let (_dir, path) = write_files(&[("t.yml", &test(false))]);
    assert_eq!(run_files(&[path], &UnitTestOptions::default()).0, 1);
    let (_dir, path) = write_files(&[("t.yml", &test(true))]);
    assert_eq!(run_files(&[path], &UnitTestOptions::default()).0, 0);
}

#[test]
fn start_timestamp_moves_the_time_line() {
    let test = "tests:\n  - interval: 1m\n    start_timestamp: '2024-01-01T00:00:00Z'\n    input_series:\n      - series: \
                m\n        values: '10+10x5'\n    promql_expr_test:\n      - expr: timestamp(m)\n        eval_time: 2m\n        \
                exp_samples: [{value: 1704067320}]\n";
    let (_dir, path) = write_files(&[("t.yml", test)]);
    let (code, output) = run_files(&[path], &UnitTestOptions::default());
    assert_eq!(code, 0, "{output}");
}

#[test]
fn diff_flag_shows_a_json_diff() {
    let rules = "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: vector(1)\n        labels: {severity: \
                 low}\n";
    let test = "rule_files: [rules.yml]\ntests:\n  - alert_rule_test:\n      - eval_time: 0\n        alertname: A\n        \
                exp_alerts: [{exp_labels: {severity: high}}]\n";
    let (_dir, path) = write_files(&[("t.yml", test), ("rules.yml", rules)]);
    let options = UnitTestOptions { diff: true, ..Default::default() };
    let (code, output) = run_files(&[path], &options);
    assert_eq!(code, 1);
    assert!(output.contains("    alertname: A, time: 0s, \n        diff: ["), "{output}");
    assert!(output.contains("\"severity\": \x1b[0;33m\"high\" => \"low\"\x1b[0m"), "{output}");
}
