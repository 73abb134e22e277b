//! Table tests for relabeling. Expectations come from Prometheus's documentation and from
//! `model/relabel/relabel_test.go` (`TestRelabel`, `TestRelabelValidate`,
//! `TestTargetLabelValidity`); each case says which upstream case it mirrors.

use super::*;

/// Compiles rules from the YAML a user would write.
fn rules(yaml: &str) -> Vec<RelabelRule> {
    let configs: Vec<RelabelConfig> = yaml_serde::from_str(yaml).unwrap();
    configs.iter().map(|c| RelabelRule::compile(c).unwrap()).collect()
}

fn legacy_rules(yaml: &str) -> Vec<RelabelRule> {
    let configs: Vec<RelabelConfig> = yaml_serde::from_str(yaml).unwrap();
    configs.iter().map(|c| RelabelRule::compile_with(c, NameValidation::Legacy).unwrap()).collect()
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

/// Runs `yaml` over `input`; `None` means the series was dropped.
fn run(yaml: &str, input: &[(&str, &str)]) -> Option<Labels> {
    let mut l = labels(input);
    process(&mut l, &rules(yaml)).then_some(l)
}

fn compile_error(yaml: &str) -> String {
    let config: RelabelConfig = yaml_serde::from_str(yaml).unwrap();
    RelabelRule::compile(&config).unwrap_err().to_string()
}

fn compile_error_legacy(yaml: &str) -> String {
    let config: RelabelConfig = yaml_serde::from_str(yaml).unwrap();
    RelabelRule::compile_with(&config, NameValidation::Legacy).unwrap_err().to_string()
}

#[test]
fn replace_cases_from_upstream() {
    let abc = [("a", "foo"), ("b", "bar"), ("c", "baz")];
    // TestRelabel case 1: ${1} expansion in the replacement.
    let out =
        run("- {source_labels: [a], regex: 'f(.*)', target_label: d, replacement: 'ch${1}-ch${1}'}", &abc);
    assert_eq!(out, Some(labels(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("d", "choo-choo")])));

    // TestRelabel case 2: two source labels joined by ";", chained rules see earlier results.
    let out = run(
        "- {source_labels: [a, b], regex: 'f(.*);(.*)r', target_label: a, replacement: 'b${1}${2}m'}
- {source_labels: [c, a], regex: '(b).*b(.*)ba(.*)', target_label: d, replacement: '$1$2$2$3'}",
        &abc,
    );
    assert_eq!(out, Some(labels(&[("a", "boobam"), ("b", "bar"), ("c", "baz"), ("d", "boooom")])));

    // TestRelabel case 5: a group in the middle of an anchored regex.
    let out = run("- {source_labels: [a], regex: '.*(b).*', target_label: d}", &[("a", "abc")]);
    assert_eq!(out, Some(labels(&[("a", "abc"), ("d", "b")])));

    // TestRelabel "No replacement must be applied if there is no match" (anchoring: "f" does
    // not match "boo" although "boo" contains no f... and "f" would not match "foo" either).
    let out = run("- {source_labels: [a], regex: f, target_label: b, replacement: bar}", &[("a", "boo")]);
    assert_eq!(out, Some(labels(&[("a", "boo")])));
    let out = run("- {source_labels: [a], regex: f, target_label: b, replacement: bar}", &[("a", "foo")]);
    assert_eq!(out, Some(labels(&[("a", "foo")])), "regex is anchored at both ends");

    // TestRelabel "valid case": the target label itself is templated.
    let rule =
        "- {source_labels: [a], regex: 'some-([^-]+)-([^,]+)', replacement: '${2}', target_label: '${1}'}";
    let out = run(rule, &[("a", "some-name-value")]);
    assert_eq!(out, Some(labels(&[("a", "some-name-value"), ("name", "value")])));

    // TestRelabel "invalid replacement """: ${3} does not exist, the value is empty, so the
    // (absent) target is deleted: nothing changes.
    let rule =
        "- {source_labels: [a], regex: 'some-([^-]+)-([^,]+)', replacement: '${3}', target_label: '${1}'}";
    assert_eq!(run(rule, &[("a", "some-name-value")]), Some(labels(&[("a", "some-name-value")])));

    // TestRelabel "invalid target_labels": a target that expands to "" is not a label name.
    let rule =
        "- {source_labels: [a], regex: 'some-([^-]+)-([^,]+)', replacement: '${1}', target_label: '${3}'}";
    assert_eq!(run(rule, &[("a", "some-name-0")]), Some(labels(&[("a", "some-name-0")])));

    // TestRelabel "more complex real-life like usecase".
    let out = run(
        r#"
- {source_labels: [__meta_sd_tags], regex: '(?:.+,|^)path:(/[^,]+).*', replacement: '${1}', target_label: __metrics_path__}
- {source_labels: [__meta_sd_tags], regex: '(?:.+,|^)job:([^,]+).*', replacement: '${1}', target_label: job}
- {source_labels: [__meta_sd_tags], regex: '(?:.+,|^)label:([^=]+)=([^,]+).*', replacement: '${2}', target_label: '${1}'}
"#,
        &[("__meta_sd_tags", "path:/secret,job:some-job,label:foo=bar")],
    );
    assert_eq!(
        out,
        Some(labels(&[
            ("__meta_sd_tags", "path:/secret,job:some-job,label:foo=bar"),
            ("__metrics_path__", "/secret"),
            ("job", "some-job"),
            ("foo", "bar"),
        ]))
    );
}

#[test]
fn replace_defaults_and_edge_cases() {
    // Documentation: defaults are separator ";", regex "(.*)", replacement "$1", so a bare
    // replace copies the joined source values.
    let out = run("- {source_labels: [a, b], target_label: c}", &[("a", "x"), ("b", "y")]);
    assert_eq!(out.unwrap().get("c"), Some("x;y"));
    // Missing source labels are empty strings in the join.
    let out =
        run("- {source_labels: [a, missing, b], separator: '-', target_label: c}", &[("a", "x"), ("b", "y")]);
    assert_eq!(out.unwrap().get("c"), Some("x--y"));
    // Fast path of upstream: empty source value and default regex sets the literal replacement
    // (the common "set a static label" idiom) ...
    let out = run("- {target_label: env, replacement: prod}", &[("a", "x")]);
    assert_eq!(out.unwrap().get("env"), Some("prod"));
    // ... and an empty result deletes the target.
    let out = run("- {source_labels: [missing], target_label: a}", &[("a", "x"), ("b", "y")]);
    assert_eq!(out, Some(labels(&[("b", "y")])));
    let out = run(
        "- {source_labels: [b], regex: '(.*)', target_label: a, replacement: ''}",
        &[("a", "x"), ("b", "y")],
    );
    assert_eq!(out, Some(labels(&[("b", "y")])));
    // "$1_suffix" names the group "1_suffix" (Go's rule), which does not exist: only
    // "${1}_suffix" appends.
    let out = run("- {source_labels: [a], target_label: b, replacement: '$1_suffix'}", &[("a", "x")]);
    assert_eq!(out, Some(labels(&[("a", "x")])));
    let out = run("- {source_labels: [a], target_label: b, replacement: '${1}_suffix'}", &[("a", "x")]);
    assert_eq!(out.unwrap().get("b"), Some("x_suffix"));
    // Target label templating.
    let out = run(
        "- {source_labels: [a], regex: '(.+)', target_label: '${1}_total', replacement: yes}",
        &[("a", "req")],
    );
    assert_eq!(out.unwrap().get("req_total"), Some("yes"));
    // Named groups, $$ and a malformed reference kept literally.
    let out = run(
        "- {source_labels: [a], regex: '(?P<host>[^:]+):(?P<port>\\d+)', target_label: b, replacement: '$port/${host}$$x$-'}",
        &[("a", "node:9100")],
    );
    assert_eq!(out.unwrap().get("b"), Some("9100/node$x$-"));
    // Leading zeros are not group numbers: "$01" is the (missing) group named "01".
    let out = run("- {source_labels: [a], target_label: b, replacement: 'v$01'}", &[("a", "x")]);
    assert_eq!(out.unwrap().get("b"), Some("v"));
    // (?s): "." matches newlines, as in Prometheus 3.
    let out = run(
        "- {source_labels: [a], regex: 'foo.bar', target_label: b, replacement: hit}",
        &[("a", "foo\nbar")],
    );
    assert_eq!(out.unwrap().get("b"), Some("hit"));
    // Alternation is anchored as a whole: "a|b" never matches "ab".
    let out = run("- {source_labels: [a], regex: 'x|y', action: drop}", &[("a", "xy")]);
    assert!(out.is_some());
}

#[test]
fn legacy_names_reject_invalid_targets_at_runtime() {
    // Under the legacy scheme a target that expands to "a-b" is not a name: no change.
    let mut l = labels(&[("a", "a-b")]);
    assert!(process(&mut l, &legacy_rules("- {source_labels: [a], target_label: '${1}', replacement: v}")));
    assert_eq!(l, labels(&[("a", "a-b")]));
    // Under UTF-8 (Prometheus 3's default) it is.
    assert_eq!(
        run("- {source_labels: [a], target_label: '${1}', replacement: v}", &[("a", "a-b")])
            .unwrap()
            .get("a-b"),
        Some("v")
    );
}

#[test]
fn keep_and_drop() {
    // TestRelabel case 3: a drop stops processing.
    let out = run(
        "- {source_labels: [a], regex: '.*o.*', action: drop}\n- {source_labels: [a], regex: 'f(.*)', target_label: d, replacement: 'ch$1-ch$1'}",
        &[("a", "foo")],
    );
    assert_eq!(out, None);
    // TestRelabel cases 6, 7: no match / partial match ("f|o" is anchored) keeps.
    assert!(run("- {source_labels: [a], regex: no-match, action: drop}", &[("a", "foo")]).is_some());
    assert!(run("- {source_labels: [a], regex: 'f|o', action: drop}", &[("a", "foo")]).is_some());
    // TestRelabel cases 8, 9.
    assert!(run("- {source_labels: [a], regex: no-match, action: keep}", &[("a", "foo")]).is_none());
    assert_eq!(
        run("- {source_labels: [a], regex: 'f.*', action: keep}", &[("a", "foo")]),
        Some(labels(&[("a", "foo")]))
    );
    // Keep with the default regex keeps everything; drop with it drops everything.
    assert!(run("- {source_labels: [a], action: keep}", &[("b", "1")]).is_some());
    assert!(run("- {source_labels: [a], action: drop}", &[("b", "1")]).is_none());
    // A missing label is "" and matches "" (the documented way to drop series without a label).
    assert!(run("- {source_labels: [a], regex: '', action: drop}", &[("b", "1")]).is_none());
    assert!(run("- {source_labels: [a], regex: '', action: drop}", &[("a", "1")]).is_some());
}

#[test]
fn keepequal_and_dropequal() {
    let ports = [("__tmp_port", "1234"), ("__port1", "1234"), ("__port2", "5678")];
    // The last four cases of TestRelabel.
    assert_eq!(
        run("- {source_labels: [__tmp_port], action: keepequal, target_label: __port1}", &ports),
        Some(labels(&ports))
    );
    assert!(
        run("- {source_labels: [__tmp_port], action: dropequal, target_label: __port1}", &ports).is_none()
    );
    assert_eq!(
        run("- {source_labels: [__tmp_port], action: dropequal, target_label: __port2}", &ports),
        Some(labels(&ports))
    );
    assert!(
        run("- {source_labels: [__tmp_port], action: keepequal, target_label: __port2}", &ports).is_none()
    );
}

#[test]
fn hashmod() {
    // TestRelabel hashmod cases: md5, big-endian u64 of bytes 8..16, modulo.
    let out = run(
        "- {source_labels: [c], target_label: d, action: hashmod, modulus: 1000}",
        &[("a", "foo"), ("c", "baz")],
    );
    assert_eq!(out.unwrap().get("d"), Some("976"));
    let out =
        run("- {source_labels: [a], target_label: b, action: hashmod, modulus: 1000}", &[("a", "foo\nbar")]);
    assert_eq!(out.unwrap().get("b"), Some("734"));
}

#[test]
fn labelmap_labeldrop_labelkeep() {
    let input = [("a", "foo"), ("b1", "bar"), ("b2", "baz")];
    // TestRelabel labelmap cases.
    let out = run("- {regex: '(b.*)', replacement: 'bar_${1}', action: labelmap}", &input);
    assert_eq!(
        out,
        Some(labels(&[("a", "foo"), ("b1", "bar"), ("b2", "baz"), ("bar_b1", "bar"), ("bar_b2", "baz")]))
    );
    let meta = [("a", "foo"), ("__meta_my_bar", "aaa"), ("__meta_my_baz", "bbb"), ("__meta_other", "ccc")];
    let out = run("- {regex: '__meta_(my.*)', replacement: '${1}', action: labelmap}", &meta);
    let mut expected = meta.to_vec();
    expected.extend([("my_bar", "aaa"), ("my_baz", "bbb")]);
    assert_eq!(out, Some(labels(&expected)));
    // Documentation's common Kubernetes idiom with the default replacement "$1".
    let out = run(
        "- {regex: '__meta_kubernetes_pod_label_(.+)', action: labelmap}",
        &[("__meta_kubernetes_pod_label_app", "web")],
    );
    assert_eq!(out.unwrap().get("app"), Some("web"));
    // TestRelabel labelkeep / labeldrop cases.
    assert_eq!(
        run("- {regex: '(b.*)', action: labelkeep}", &input),
        Some(labels(&[("b1", "bar"), ("b2", "baz")]))
    );
    assert_eq!(run("- {regex: '(b.*)', action: labeldrop}", &input), Some(labels(&[("a", "foo")])));
    // TestRelabel case from prometheus#12283: "^...$" inside the anchors still works, and a
    // label dropped earlier is missing (empty) for later rules until set again.
    let out = run(
        r#"
- {regex: '^__meta_kubernetes_pod_container_port_name$', action: labeldrop}
- {source_labels: [__meta_kubernetes_pod_annotation_XXX_metrics_port], regex: '(.+)', replacement: metrics, target_label: __meta_kubernetes_pod_container_port_name}
- {source_labels: [__meta_kubernetes_pod_container_port_name], regex: '^metrics$', action: keep}
"#,
        &[
            ("__meta_kubernetes_pod_container_port_name", "foo"),
            ("__meta_kubernetes_pod_annotation_XXX_metrics_port", "9091"),
        ],
    );
    assert_eq!(
        out,
        Some(labels(&[
            ("__meta_kubernetes_pod_annotation_XXX_metrics_port", "9091"),
            ("__meta_kubernetes_pod_container_port_name", "metrics")
        ]))
    );
}

#[test]
fn lowercase_and_uppercase() {
    // TestRelabel lowercase/uppercase case.
    let out = run(
        "- {source_labels: [foo], action: uppercase, target_label: foo_uppercase}\n- {source_labels: [foo], action: lowercase, target_label: foo_lowercase}",
        &[("foo", "bAr123Foo")],
    );
    assert_eq!(
        out,
        Some(labels(&[("foo", "bAr123Foo"), ("foo_lowercase", "bar123foo"), ("foo_uppercase", "BAR123FOO")]))
    );
}

#[test]
fn actions_parse_case_insensitively() {
    let config: RelabelConfig = yaml_serde::from_str("{action: LabelMap}").unwrap();
    assert_eq!(config.action, Action::LabelMap);
    let err = yaml_serde::from_str::<RelabelConfig>("{action: rename}").unwrap_err().to_string();
    assert!(err.contains(r#"unknown relabel action "rename""#), "{err}");
}

#[test]
fn validation_matches_upstream_messages() {
    // TestRelabelValidate cases.
    assert_eq!(
        compile_error("{action: replace}"),
        "relabel configuration for replace action requires 'target_label' value"
    );
    assert_eq!(
        compile_error("{action: lowercase}"),
        "relabel configuration for lowercase action requires 'target_label' value"
    );
    assert_eq!(
        compile_error_legacy("{action: lowercase, target_label: '${3}'}"),
        r#""${3}" is invalid 'target_label' for lowercase action"#
    );
    assert_eq!(
        compile_error_legacy(
            "{source_labels: [a], regex: 'some-([^-]+)-([^,]+)', replacement: '${1}', target_label: '0${3}'}"
        ),
        r#""0${3}" is invalid 'target_label' for replace action"#
    );
    assert_eq!(
        compile_error_legacy(
            "{source_labels: [a], regex: 'some-([^-]+)-([^,]+)', replacement: '${1}', target_label: '-${3}'}"
        ),
        r#""-${3}" is invalid 'target_label' for replace action"#
    );
    // The remaining checks of Validate.
    assert_eq!(
        compile_error("{action: hashmod, target_label: x}"),
        "relabel configuration for hashmod requires non-zero modulus"
    );
    assert_eq!(
        compile_error("{action: uppercase, target_label: x, replacement: y}"),
        "'replacement' can not be set for uppercase action"
    );
    assert_eq!(
        compile_error("{action: labelmap, replacement: ''}"),
        r#""" is invalid 'replacement' for labelmap action"#
    );
    assert_eq!(
        compile_error("{action: keepequal, target_label: x, regex: 'a'}"),
        "keepequal action requires only 'source_labels' and `target_label`, and no other fields"
    );
    assert_eq!(
        compile_error("{action: labeldrop, regex: a, source_labels: [x]}"),
        "labeldrop action requires only 'regex', and no other fields"
    );
    assert_eq!(
        compile_error("{action: labelkeep, regex: a, separator: ','}"),
        "labelkeep action requires only 'regex', and no other fields"
    );
    assert_eq!(
        compile_error("{source_labels: [a], target_label: b, regex: 'a(b'}"),
        r#"invalid regex "a(b": unclosed group"#
    );
    assert_eq!(
        compile_error_legacy("{source_labels: [a-b], target_label: b}"),
        r#""a-b" is not a valid label name"#
    );
    // Valid under UTF-8: Prometheus 3 accepts any non-empty name.
    let config: RelabelConfig = yaml_serde::from_str("{source_labels: [a], target_label: 'a.b'}").unwrap();
    assert!(RelabelRule::compile(&config).is_ok());
    let config: RelabelConfig = yaml_serde::from_str("{source_labels: [a], target_label: 'a.b'}").unwrap();
    assert!(RelabelRule::compile_with(&config, NameValidation::Legacy).is_err());
}

#[test]
fn legacy_target_template_validity() {
    // TestTargetLabelValidity.
    let cases = [
        ("-label", false),
        ("label", true),
        ("label${1}", true),
        ("${1}label", true),
        ("${1}", true),
        ("${", false),
        ("$", false),
        ("${}", false),
        ("foo${", false),
        ("$1", true),
        ("asd$2asd", true),
        ("-foo${1}bar-", false),
        ("_${1}_", true),
        ("foo${bar}foo", true),
    ];
    for (template, valid) in cases {
        assert_eq!(is_legacy_template(template), valid, "{template:?}");
    }
}

#[test]
fn regex_source_round_trips() {
    let rule = &rules("- {source_labels: [a], regex: 'x(.*)', target_label: b}")[0];
    assert_eq!(rule.regex_source(), "x(.*)");
    assert_eq!(rule.action(), Action::Replace);
}
