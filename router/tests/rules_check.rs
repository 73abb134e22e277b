//! `harrier rules check` over the rule files of the shared promtool conformance folder, with
//! the verdict Prometheus 3 gives, and Debian's `promtool check rules` (2.42) on the same files
//! for a second opinion (when it is installed).
//!
//! Each rule file has an expected verdict and, for failures, a fragment of the expected
//! message. promtool 2.42 predates some files: where its verdict differs, the difference and
//! its reason are listed in `PROMTOOL_2_42_DIFFERENCES`. Rule files written for this issue
//! (`WRITTEN`: the newer fields, each validation error) go through both too.

use std::path::{Path, PathBuf};
use std::process::Command;

use harrier_router::rules::{CheckOptions, check_file};

const FOLDER: &str = "../../shared/conformance/promtool";

/// (file, passes, fragment of the expected output).
const CASES: &[(&str, bool, &str)] = &[
    ("rules.yml", true, "SUCCESS: 5 rules found"),
    (
        "rules-bad.yml",
        false,
        "rules-bad.yml:12:11: groups[0].rules[0].annotations.summary: group \"alerts\", rule 1, \"InstanceDown\": annotation \"summary\": template: __alert_InstanceDown:1: undefined variable \"$label\"",
    ),
    // The duplicate-rules lint reports but does not fail, as in promtool.
    (
        "rules_duplicates.yml",
        true,
        "lint error 1 duplicate rule(s) found.\nMetric: job:test:count_over_time1m\n",
    ),
    ("rules_extrafields.yml", false, "groups[0]: unknown field `namespace`"),
    ("rules_large.yml", true, "lint error 2 duplicate rule(s) found."),
    // Fails only when evaluated (a many-to-many join): a valid file.
    ("bad-rules-error.yml", true, "SUCCESS: 1 rules found"),
    (
        "bad-rules-syntax.yml",
        false,
        "bad-rules-syntax.yml:7:9: groups[0].rules[0].expr: group \"bad-syntax\", rule 1, \"x\": could not parse expression:",
    ),
    ("prometheus-rules.lint.yml", true, "Metric: HighRequestLatency\nLabel(s):\n\tseverity: page\n"),
];

/// Rule files written for this issue: (name, content, passes).
const WRITTEN: &[(&str, &str, bool)] = &[
    (
        "keep-firing-for.yml",
        "groups:\n- name: g\n  interval: 30s\n  limit: 5\n  rules:\n  - alert: A\n    expr: up == 0\n    for: 5m\n    keep_firing_for: 10m\n    annotations: {summary: '{{ $labels.job }} down: {{ $value }}'}\n",
        true,
    ),
    (
        "group-labels.yml",
        "groups:\n- name: g\n  labels: {team: sre}\n  rules:\n  - record: r\n    expr: up\n",
        true,
    ),
    (
        "query-offset.yml",
        "groups:\n- name: g\n  query_offset: 1m\n  rules:\n  - record: job:up:sum\n    expr: sum by (job) (up)\n",
        true,
    ),
    ("utf8-record-name.yml", "groups:\n- name: g\n  rules:\n  - record: 'job up'\n    expr: up\n", true),
    (
        "record-with-for.yml",
        "groups:\n- name: g\n  rules:\n  - record: r\n    expr: up\n    for: 1m\n",
        false,
    ),
    ("repeated-group.yml", "groups:\n- name: g\n  rules: []\n- name: g\n  rules: []\n", false),
    (
        "name-label.yml",
        "groups:\n- name: g\n  rules:\n  - record: r\n    expr: up\n    labels: {__name__: x}\n",
        false,
    ),
    (
        "record-and-alert.yml",
        "groups:\n- name: g\n  rules:\n  - record: r\n    alert: a\n    expr: up\n",
        false,
    ),
    ("no-expr.yml", "groups:\n- name: g\n  rules:\n  - record: r\n", false),
    ("bad-duration.yml", "groups:\n- name: g\n  interval: 5x\n  rules: []\n", false),
    (
        "bad-template.yml",
        "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    labels: {s: '{{ $nope }}'}\n",
        false,
    ),
];

/// Files where promtool 2.42 disagrees with Prometheus 3, and why.
const PROMTOOL_2_42_DIFFERENCES: &[(&str, &str)] = &[
    ("group-labels.yml", "group labels are newer than 2.42, which rejects them as an unknown field"),
    ("query-offset.yml", "query_offset was added in Prometheus 2.53; 2.42 rejects it as an unknown field"),
    ("utf8-record-name.yml", "Prometheus 3 accepts UTF-8 metric names; 2.42 only the legacy character set"),
];

fn folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(FOLDER)
}

#[test]
fn rule_files_get_prometheus_verdicts_and_messages() {
    let dir = folder();
    for (file, passes, fragment) in CASES {
        let report = check_file(&dir.join(file), &CheckOptions::default());
        let text = report.render();
        assert_eq!(!report.failed(), *passes, "{file}: wrong verdict:\n{text}");
        assert!(text.contains(fragment), "{file}: expected {fragment:?} in:\n{text}");
    }
}

#[test]
fn extra_fields_pass_with_ignore_unknown_fields() {
    let options = CheckOptions { ignore_unknown_fields: true, ..Default::default() };
    let report = check_file(&folder().join("rules_extrafields.yml"), &options);
    assert!(!report.failed(), "{}", report.render());
    assert_eq!(report.rule_count, 5);
}

#[test]
fn lint_fatal_fails_files_with_duplicates() {
    let options = CheckOptions { lint_fatal: true, ..Default::default() };
    for file in ["rules_duplicates.yml", "rules_large.yml", "prometheus-rules.lint.yml"] {
        assert!(check_file(&folder().join(file), &options).failed(), "{file}");
    }
    assert!(!check_file(&folder().join("rules.yml"), &options).failed());
}

/// features.yml uses PromQL that Prometheus 3.9 parses only behind feature flags (duration
/// expressions, `anchored` range selectors, ...). Without flags it must fail, each problem
/// with its position and the parser's message. Not compared with promtool 2.42, which also
/// rejects the (Prometheus 3 UTF-8) record names.
#[test]
fn features_file_reports_each_problem_with_position() {
    let report = check_file(&folder().join("features.yml"), &CheckOptions::default());
    assert!(report.failed());
    assert!(
        report.errors.iter().any(|e| e.contains("\"promql-extended-range-selectors\"")),
        "{:?}",
        report.errors
    );
    for error in &report.errors {
        assert!(error.contains("features.yml:"), "{error}");
        assert!(error.contains(".expr: group \"features\", rule "), "{error}");
        assert!(error.contains("could not parse expression"), "{error}");
    }
}

#[test]
fn written_rule_files_get_prometheus_verdicts() {
    let dir = tempfile::tempdir().unwrap();
    for (name, content, passes) in WRITTEN {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        let report = check_file(&path, &CheckOptions::default());
        assert_eq!(!report.failed(), *passes, "{name}:\n{}", report.render());
        for error in &report.errors {
            assert!(error.starts_with(&format!("{}:", path.display())), "{name}: {error}");
            assert!(error.contains(": groups["), "{name}: no field path in {error}");
        }
    }
}

#[test]
fn debian_promtool_gives_the_same_verdicts() {
    let promtool = Path::new("/usr/bin/promtool");
    if !promtool.exists() {
        eprintln!("skipping: /usr/bin/promtool is not installed");
        return;
    }
    let written = tempfile::tempdir().unwrap();
    let mut files: Vec<PathBuf> = CASES.iter().map(|(file, _, _)| folder().join(file)).collect();
    for (name, content, _) in WRITTEN {
        std::fs::write(written.path().join(name), content).unwrap();
        files.push(written.path().join(name));
    }
    let mut mismatches = Vec::new();
    for path in &files {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let output = Command::new(promtool).args(["check", "rules"]).arg(path).output().unwrap();
        let theirs = output.status.success();
        let ours = !check_file(path, &CheckOptions::default()).failed();
        let known = PROMTOOL_2_42_DIFFERENCES.iter().any(|(f, _)| *f == name);
        if (theirs != ours) != known {
            mismatches.push(format!(
                "{name}: promtool {} ours {} (listed as known difference: {known})\n{}{}",
                if theirs { "passes" } else { "fails" },
                if ours { "passes" } else { "fails" },
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr),
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
