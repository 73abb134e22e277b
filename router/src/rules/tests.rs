//! Unit tests for rule file loading and validation.

use std::path::Path;

use super::check::{
    CheckOptions, Lint, NameValidation, check_template, find_duplicates, valid_metric_name, validate,
};
use super::file::{RulesError, load_str, resolve_rule_files};

fn problems(yaml: &str) -> Vec<String> {
    let loaded = load_str(yaml.to_string(), "r.yml", false).unwrap();
    validate(&loaded, NameValidation::Utf8).iter().map(ToString::to_string).collect()
}

#[test]
fn parses_every_prometheus_field() {
    let yaml = r#"
groups:
  - name: g
    interval: 30s
    query_offset: 1m
    limit: 10
    labels: {team: sre}
    rules:
      - alert: A
        expr: up == 0
        for: 5m
        keep_firing_for: 10m
        labels: {severity: 2}
        annotations: {summary: "down"}
      - record: r
        expr: 1
"#;
    let loaded = load_str(yaml.to_string(), "r.yml", false).unwrap();
    let group = &loaded.file.groups[0];
    assert_eq!(group.interval.unwrap().as_millis(), 30_000);
    assert_eq!(group.query_offset.unwrap().as_millis(), 60_000);
    assert_eq!(group.limit, 10);
    assert_eq!(group.rules[0].keep_firing_for.unwrap().as_millis(), 600_000);
    assert_eq!(group.rules[0].labels["severity"].as_str(), "2");
    assert_eq!(group.rules[1].expr_text(), "1");
    assert_eq!(loaded.rule_count(), 2);
    assert!(validate(&loaded, NameValidation::Utf8).is_empty());
}

#[test]
fn unknown_field_is_rejected_with_position_and_path() {
    let yaml = "groups:\n  - name: g\n    rules:\n      - record: r\n        expr: up\n        owner: me\n";
    let err = load_str(yaml.to_string(), "r.yml", false).unwrap_err();
    let RulesError::Invalid(d) = err else { panic!("not a diagnostic: {err}") };
    assert_eq!(d.field.to_string(), "groups[0].rules[0]");
    assert!(d.message.contains("unknown field `owner`"), "{}", d.message);
    assert_eq!(d.position.map(|p| p.line), Some(6));
    // promtool's --ignore-unknown-fields.
    let loaded = load_str(yaml.to_string(), "r.yml", true).unwrap();
    assert_eq!(loaded.rule_count(), 1);
}

#[test]
fn bad_duration_is_a_load_error() {
    let yaml = "groups:\n  - name: g\n    interval: 5 minutes\n    rules: []\n";
    let err = load_str(yaml.to_string(), "r.yml", false).unwrap_err().to_string();
    assert!(err.starts_with("r.yml:3:"), "{err}");
    assert!(err.contains("groups[0].interval"), "{err}");
}

#[test]
fn group_names_must_be_set_and_unique() {
    let p = problems("groups:\n  - name: a\n    rules: []\n  - name: a\n    rules: []\n  - rules: []\n");
    assert_eq!(p.len(), 2, "{p:?}");
    assert!(p[0].starts_with("r.yml:4:"), "{p:?}");
    assert!(p[0].ends_with("groupname: \"a\" is repeated in the same file"), "{p:?}");
    assert!(p[1].ends_with("Groupname must not be empty"), "{p:?}");
}

#[test]
fn rule_problems_use_prometheus_messages() {
    let yaml = r#"
groups:
  - name: g
    rules:
      - expr: up
      - record: r
        alert: a
        expr: up
      - record: r
      - record: r
        expr: 'up +'
      - record: r
        expr: up
        for: 5m
        keep_firing_for: 1m
        annotations: {a: b}
        labels: {__name__: x}
"#;
    let p = problems(yaml);
    let expect = [
        "group \"g\", rule 1, \"\": one of 'record' or 'alert' must be set",
        "group \"g\", rule 2, \"a\": only one of 'record' and 'alert' must be set",
        "group \"g\", rule 3, \"r\": field 'expr' must be set in rule",
        "group \"g\", rule 4, \"r\": could not parse expression: ",
        "group \"g\", rule 5, \"r\": invalid field 'annotations' in recording rule",
        "group \"g\", rule 5, \"r\": invalid field 'for' in recording rule",
        "group \"g\", rule 5, \"r\": invalid field 'keep_firing_for' in recording rule",
        "group \"g\", rule 5, \"r\": invalid label name: __name__",
    ];
    assert_eq!(p.len(), expect.len(), "{p:#?}");
    for (got, want) in p.iter().zip(expect) {
        assert!(got.contains(want), "{got} does not contain {want}");
    }
    assert!(p[3].starts_with("r.yml:11:"), "{}", p[3]);
    assert!(p[3].contains("groups[0].rules[3].expr"), "{}", p[3]);
}

#[test]
fn metric_name_validation_schemes() {
    assert!(valid_metric_name("job:up:sum", NameValidation::Legacy));
    assert!(!valid_metric_name("job up", NameValidation::Legacy));
    assert!(!valid_metric_name("1up", NameValidation::Legacy));
    assert!(valid_metric_name("job up", NameValidation::Utf8));
    let loaded =
        load_str("groups:\n- name: g\n  rules:\n  - record: 'a b'\n    expr: up\n".into(), "r", false)
            .unwrap();
    let legacy = validate(&loaded, NameValidation::Legacy);
    assert_eq!(legacy.len(), 1);
    assert!(legacy[0].message.ends_with("invalid recording rule name: a b"));
}

#[test]
fn templates_get_the_light_check() {
    assert!(check_template("{{ $labels.instance }} of {{ $value | humanize }}", "__alert_A").is_ok());
    assert!(check_template("{{ $x := 1 }}{{ $x }}{{ range $i, $v := . }}{{ $i }}{{ end }}", "t").is_ok());
    assert!(check_template(r#"{{ "$nope" }}"#, "t").is_ok());
    assert_eq!(
        check_template("a\n{{ $label.foo }}", "__alert_A").unwrap_err(),
        "template: __alert_A:2: undefined variable \"$label\""
    );
    assert_eq!(check_template("{{ $labels", "t").unwrap_err(), "template: t:1: unclosed action");
    // Only alerting rules have templates.
    let p = problems(
        "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    annotations: {s: '{{ $label.x }}'}\n",
    );
    assert_eq!(p.len(), 1);
    assert!(p[0].ends_with(
        "group \"g\", rule 1, \"A\": annotation \"s\": template: __alert_A:1: undefined variable \"$label\""
    ), "{}", p[0]);
}

#[test]
fn duplicates_are_same_name_and_labels_across_groups() {
    let yaml = r#"
groups:
  - name: a
    rules:
      - {record: r, expr: up}
      - {record: r, expr: up, labels: {x: "1"}}
      - {record: s, expr: up, labels: {x: "1"}}
      - {record: r, expr: up}
  - name: b
    rules:
      - {record: r, expr: vector(1)}
      - {alert: r, expr: up, labels: {x: "1"}}
  - name: c
    labels: {x: "1"}
    rules:
      - {record: s, expr: up}
"#;
    let loaded = load_str(yaml.to_string(), "r.yml", false).unwrap();
    let dups = find_duplicates(&loaded);
    assert_eq!(dups.len(), 3, "{dups:?}");
    assert_eq!(dups[0].metric, "r");
    assert!(dups[0].labels.is_empty());
    assert_eq!(dups[1].labels, vec![("x".to_string(), "1".to_string())]);
    assert_eq!((dups[2].metric.as_str(), dups[2].labels.len()), ("s", 1));
}

#[test]
fn report_output_matches_promtool() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.yml");
    std::fs::write(
        &path,
        "groups:\n- name: g\n  rules:\n  - {record: r, expr: up}\n  - {record: r, expr: up}\n",
    )
    .unwrap();
    let report = super::check_file(&path, &CheckOptions::default());
    assert!(!report.failed());
    assert_eq!(
        report.render(),
        format!(
            "Checking {}\n  FAILED:\nlint error 1 duplicate rule(s) found.\nMetric: r\nLabel(s):\n\
             Might cause inconsistency while recording expressions\n",
            path.display()
        )
    );
    let single = dir.path().join("one.yml");
    std::fs::write(&single, "groups:\n- name: g\n  rules:\n  - {record: r, expr: up}\n").unwrap();
    let text = super::check_file(&single, &CheckOptions::default()).render();
    assert!(text.ends_with("  SUCCESS: 1 rules found\n"), "{text}");
    let fatal = super::check_file(&path, &CheckOptions { lint_fatal: true, ..Default::default() });
    assert!(fatal.failed());
    let none = super::check_file(&path, &CheckOptions { lint: Lint::None, ..Default::default() });
    assert!(none.duplicates.is_empty());
    let missing = super::check_file(Path::new("/nonexistent/r.yml"), &CheckOptions::default());
    assert!(missing.failed());
    assert!(missing.render().contains("  FAILED:\n/nonexistent/r.yml: cannot read"));
}

#[test]
fn rule_files_glob_relative_to_config_dir() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    for name in ["b.yml", "a.yml", "c.txt"] {
        std::fs::write(dir.path().join("rules").join(name), "groups: []\n").unwrap();
    }
    let files =
        resolve_rule_files(&["rules/*.yml".into(), "missing/*.yml".into()], Some(dir.path())).unwrap();
    let names: Vec<_> = files.iter().map(|p| p.file_name().unwrap().to_str().unwrap().to_string()).collect();
    assert_eq!(names, ["a.yml", "b.yml"]);
    assert!(resolve_rule_files(&["rules/[".into()], Some(dir.path())).is_err());
}
