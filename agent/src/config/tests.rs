//! Loading tests: a real-world prometheus.yml loads with the expected inheritance and
//! warnings, and each kind of bad config is reported at its exact file:line:column and field.

use super::*;
use crate::relabel::process;
use harrier_telemetry::model::Labels;
use std::path::PathBuf;

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/config/testdata").join(name)
}

/// Loads a bad test file and returns its error as displayed, with the testdata directory
/// stripped so expectations read `name.yml:line:col: …`.
fn error_of(name: &str) -> String {
    let path = testdata(name);
    let err = load_file(&path).unwrap_err();
    let prefix = format!("{}/", testdata("").display().to_string().trim_end_matches('/'));
    err.to_string().replace(&prefix, "")
}

#[test]
fn real_world_prometheus_yml_loads() {
    let loaded = load_file(&testdata("prometheus-eks.yml")).unwrap();
    let config = &loaded.config;
    assert_eq!(config.global.scrape_interval, PromDuration::from_secs(30));
    // Unset global timeout: 10s (less than the interval).
    assert_eq!(config.global.scrape_timeout, PromDuration::from_secs(10));
    assert_eq!(config.global.external_labels.get("cluster").map(String::as_str), Some("prod-eu-west-1"));

    // Four jobs from the file, then the one from scrape_config_files.
    let names: Vec<&str> = loaded.scrape_jobs.iter().map(|j| j.job_name.as_str()).collect();
    assert_eq!(names, ["prometheus", "node", "kube-state-metrics", "apps", "blackbox"]);
    assert_eq!(config.scrape_configs.len(), loaded.scrape_jobs.len());

    let prometheus = &loaded.scrape_jobs[0];
    assert_eq!(prometheus.scrape_interval, Duration::from_secs(30), "inherited from global");
    assert_eq!(prometheus.scrape_timeout, Duration::from_secs(10));
    assert_eq!(prometheus.metrics_path, "/metrics");
    assert_eq!(prometheus.scheme, "http");
    assert!(prometheus.honor_timestamps);
    assert_eq!(prometheus.limits.sample_limit, 50_000, "inherited from global");
    // Filled in place, too.
    assert_eq!(config.scrape_configs[0].scrape_interval, Some(PromDuration::from_secs(30)));
    assert_eq!(config.scrape_configs[0].honor_timestamps, Some(true));

    let node = &loaded.scrape_jobs[1];
    assert_eq!(
        (node.scrape_interval, node.scrape_timeout),
        (Duration::from_secs(15), Duration::from_secs(10))
    );
    let mut target = Labels::from_pairs([("__address__", "10.0.1.10:9100")]);
    assert!(process(&mut target, &node.relabel_rules));
    assert_eq!(target.get("instance"), Some("10.0.1.10"));
    let mut series = Labels::from_pairs([("__name__", "node_scrape_collector_success"), ("id", "x")]);
    assert!(!process(&mut series, &node.metric_relabel_rules));
    let mut series = Labels::from_pairs([("__name__", "node_load1"), ("id", "x")]);
    assert!(process(&mut series, &node.metric_relabel_rules));
    assert_eq!(series, Labels::from_pairs([("__name__", "node_load1")]));

    let ksm = &config.scrape_configs[2];
    assert_eq!(loaded.scrape_jobs[2].scheme, "https");
    assert!(ksm.honor_labels);
    // Relative files are relative to the config file's directory; absolute ones stay.
    let auth = ksm.http.basic_auth.as_ref().unwrap();
    assert_eq!(auth.password_file.as_deref(), Some(testdata("secrets/ksm-password").to_str().unwrap()));
    assert_eq!(ksm.http.tls_config.as_ref().unwrap().ca_file.as_deref(), Some("/etc/prometheus/ca.crt"));
    assert_eq!(
        ksm.file_sd_configs[0].files,
        [testdata("targets/ksm-*.json").display().to_string(), "/etc/prometheus/targets/static.yaml".into()]
    );
    assert_eq!(ksm.file_sd_configs[0].refresh_interval, Some(PromDuration::from_secs(60)));
    // Static label idiom: empty source value, regex "" matches, replacement set.
    let mut target =
        Labels::from_pairs([("__meta_ec2_tag_team", "db"), ("__meta_ec2_availability_zone", "eu-west-1a")]);
    assert!(process(&mut target, &loaded.scrape_jobs[2].relabel_rules));
    assert_eq!(target.get("team"), Some("db"));
    assert_eq!(target.get("zone"), Some("eu-west-1a"));
    assert_eq!(target.get("env"), Some("production"));

    let apps = &loaded.scrape_jobs[3];
    assert_eq!(apps.scrape_timeout, Duration::from_secs(10), "min(global timeout, interval)");
    assert_eq!(apps.limits.sample_limit, 100_000);
    let mut series =
        Labels::from_pairs([("__name__", "http_request_duration_seconds_bucket"), ("le", "0.01")]);
    assert!(!process(&mut series, &apps.metric_relabel_rules), "joined with the @ separator");
    let mut series = Labels::from_pairs([("__name__", "up"), ("pod", "p")]);
    assert!(process(&mut series, &apps.metric_relabel_rules));
    assert!(series.get("shard").is_some_and(|s| s.parse::<u64>().unwrap() < 4));

    // From scrape_config_files: paths are relative to that file.
    let blackbox = &config.scrape_configs[4];
    assert_eq!(blackbox.http.bearer_token_file.as_deref(), Some(testdata("extra/token").to_str().unwrap()));
    assert_eq!(blackbox.params.get("module").unwrap(), &["http_2xx"]);

    let rw = &config.remote_write[0];
    assert_eq!(rw.queue_config.max_shards, 200);
    assert_eq!(rw.remote_timeout, Some(PromDuration::from_secs(30)));
    let mut series = Labels::from_pairs([("__name__", "go_goroutines")]);
    assert!(!process(&mut series, &loaded.remote_writes[0].write_relabel_rules));

    // rule_files, alerting and send_exemplars are accepted and warned about, with lines.
    let warnings = loaded.warnings.join("\n");
    assert!(warnings.contains("prometheus-eks.yml:10:1: rule_files: ignored"), "{warnings}");
    assert!(warnings.contains("prometheus-eks.yml:13:1: alerting: ignored"), "{warnings}");
    assert!(warnings.contains("remote_write[0].send_exemplars: ignored"), "{warnings}");
    assert_eq!(loaded.warnings.len(), 3, "{warnings}");
}

#[test]
fn unknown_field_names_line_and_suggests() {
    let err = error_of("unknown-field.yml");
    assert!(
        err.starts_with(r#"unknown-field.yml:8:5: scrape_configs[1]: unknown field "scrape_intervall" (did you mean "scrape_interval"?), expected one of: job_name, "#),
        "{err}"
    );
}

#[test]
fn bad_regex_names_line_and_field() {
    assert_eq!(
        error_of("bad-regex.yml"),
        r#"bad-regex.yml:8:9: scrape_configs[0].metric_relabel_configs[0].regex: invalid regex "go_(.*": unclosed group"#
    );
}

#[test]
fn bad_duration_names_line_and_field() {
    assert_eq!(
        error_of("bad-duration.yml"),
        r#"bad-duration.yml:5:5: scrape_configs[0].scrape_interval: not a valid duration string: "5x" (expected e.g. "15s", "1m30s", "500ms")"#
    );
}

#[test]
fn missing_job_name() {
    assert_eq!(
        error_of("missing-job-name.yml"),
        "missing-job-name.yml:3:5: scrape_configs[1]: missing field `job_name`"
    );
}

#[test]
fn duplicate_job_name() {
    assert_eq!(
        error_of("duplicate-job-name.yml"),
        r#"duplicate-job-name.yml:6:5: scrape_configs[2].job_name: found multiple scrape configs with job name "node""#
    );
}

#[test]
fn timeout_greater_than_interval() {
    assert_eq!(
        error_of("timeout-over-interval.yml"),
        r#"timeout-over-interval.yml:5:5: scrape_configs[0].scrape_timeout: scrape timeout greater than scrape interval for scrape config with job name "slow" (20s > 15s)"#
    );
}

#[test]
fn kubernetes_sd_is_refused_by_name() {
    assert_eq!(
        error_of("kubernetes-sd.yml"),
        "kubernetes-sd.yml:3:5: scrape_configs[0].kubernetes_sd_configs: kubernetes_sd_configs is not supported yet by Harrier (supported: static_configs, file_sd_configs)"
    );
}

/// Loads inline YAML and returns the error text.
fn inline_error(yaml: &str) -> String {
    load_str(yaml, "agent.yml").unwrap_err().to_string()
}

#[test]
fn more_validation_errors_point_at_their_field() {
    let cases: &[(&str, &str)] = &[
        (
            "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - source_labels: [x]\n",
            "agent.yml:4:9: scrape_configs[0].relabel_configs[0].target_label: relabel configuration for replace action requires 'target_label' value",
        ),
        (
            "remote_write:\n  - url: 'not a url'\n",
            r#"agent.yml:2:5: remote_write[0].url: invalid URL "not a url": relative URL without a base (expected e.g. "https://prometheus.example.com/api/v1/write")"#,
        ),
        (
            "remote_write:\n  - url: http://x/api/v1/write\n    sigv4:\n      region: eu-west-1\n",
            "agent.yml:3:5: remote_write[0].sigv4: sigv4 is not supported yet by Harrier",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    oauth2:\n      client_id: x\n",
            "agent.yml:3:5: scrape_configs[0].oauth2: oauth2 is not supported yet by Harrier (use authorization, basic_auth or bearer_token_file)",
        ),
        (
            "global:\n  external_labels:\n    ok: x\n    bad-name: y\n  metric_name_validation_scheme: legacy\n",
            r#"agent.yml:4:5: global.external_labels.bad-name: "bad-name" is not a valid label name"#,
        ),
        (
            "scrape_configs:\n  - job_name: a\n    file_sd_configs:\n      - files: [targets.txt]\n",
            r#"agent.yml:4:17: scrape_configs[0].file_sd_configs[0].files[0]: path name "targets.txt" is not valid for file discovery (expected a .json, .yml or .yaml file; a * glob is allowed in the last path element)"#,
        ),
        (
            "scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: ['http://a:80/metrics']\n",
            r#"agent.yml:4:19: scrape_configs[0].static_configs[0].targets[0]: "http://a:80/metrics" is not a valid hostname (expected host:port, without scheme or path)"#,
        ),
        (
            "global:\n  scrape_interval: 5s\n  scrape_timeout: 10s\n",
            "agent.yml:3:3: global.scrape_timeout: global scrape timeout greater than scrape interval",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    tls_config:\n      ca_fil: x\n",
            r#"agent.yml:4:7: scrape_configs[0].tls_config: unknown field "ca_fil" (did you mean "ca_file"?), expected one of: ca, ca_file, cert, cert_file, key, key_file, server_name, insecure_skip_verify, min_version, max_version"#,
        ),
        (
            "scrape_configs:\n  - job_name: a\n    basic_auth:\n      username: u\n      password: p\n      password_file: f\n",
            "agent.yml:6:7: scrape_configs[0].basic_auth.password_file: at most one of basic_auth password & password_file must be configured",
        ),
        (
            "remote_write:\n  - url: http://x/api/v1/write\n    headers:\n      Content-Type: text/plain\n",
            "agent.yml:4:7: remote_write[0].headers.Content-Type: Content-Type is a reserved header. It must not be changed",
        ),
        (
            "scrape_configs: [\n",
            "agent.yml:2:1: did not find expected node content, while parsing a flow node",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    metric_relabel_configs:\n      - action: rename\n",
            r#"agent.yml:4:9: scrape_configs[0].metric_relabel_configs[0].action: unknown relabel action "rename" (expected one of: replace, keep, drop, keepequal, dropequal, hashmod, labelmap, labeldrop, labelkeep, lowercase, uppercase)"#,
        ),
        ("bogusfield: 1\n", "agent.yml:1:1: unknown field \"bogusfield\", expected one of: "),
        (
            "remote_write:\n  - url: http://x/api/v1/write\n  - url: http://x/api/v1/write\n",
            "agent.yml:3:5: remote_write[1].url: remote_write[1] would share the disk buffer",
        ),
        (
            "remote_write:\n  - url: http://x/api/v1/write\n    name: a/b\n  - url: http://y/api/v1/write\n    name: a_b\n",
            "agent.yml:5:5: remote_write[1].name: remote_write[1] would share the disk buffer",
        ),
    ];
    for (yaml, expected) in cases {
        let err = inline_error(yaml);
        assert!(err.starts_with(expected), "\n got: {err}\nwant: {expected}");
    }
}

#[test]
fn timeout_defaults_follow_the_interval() {
    // Global interval below the default timeout: the timeout shrinks to the interval.
    let loaded = load_str(
        "global:\n  scrape_interval: 5s\nscrape_configs:\n  - job_name: a\n    scrape_interval: 2s\n",
        "a.yml",
    )
    .unwrap();
    assert_eq!(loaded.config.global.scrape_timeout, PromDuration::from_secs(5));
    assert_eq!(loaded.scrape_jobs[0].scrape_timeout, Duration::from_secs(2));
}

#[test]
fn empty_file_is_the_default_config() {
    let loaded = load_str("# nothing here\n", "empty.yml").unwrap();
    assert_eq!(loaded.config.global.scrape_interval, PromDuration::from_secs(60));
    assert!(loaded.scrape_jobs.is_empty() && loaded.warnings.is_empty());
}

#[test]
fn default_config_scrapes_itself() {
    let loaded = load_default("127.0.0.1:9091").unwrap();
    assert!(loaded.config.host_metrics.enabled);
    assert!(loaded.config.remote_write.is_empty());
    assert_eq!(loaded.config.global.scrape_interval, PromDuration::from_secs(15));
    assert_eq!(loaded.scrape_jobs.len(), 1);
    assert_eq!(loaded.scrape_jobs[0].job_name, "harrier");
    assert_eq!(loaded.scrape_jobs[0].scrape_interval, Duration::from_secs(15));
    assert_eq!(loaded.config.scrape_configs[0].static_configs[0].targets, ["127.0.0.1:9091"]);
}

#[test]
fn listed_flattened_fields_are_known() {
    // Each name in our lists must be a real field: setting it to a wrong type must fail with
    // something other than "unknown field".
    for name in validate::SCRAPE_CONFIG_FIELDS.iter().filter(|n| **n != "job_name") {
        let yaml = format!("scrape_configs:\n  - job_name: a\n    {name}: [[[]]]\n");
        let err = inline_error(&yaml);
        assert!(!err.contains("unknown field"), "{name}: {err}");
    }
    for name in validate::LOKI_FIELDS.iter().filter(|n| **n != "url") {
        let yaml = format!("logs:\n  loki:\n    - url: http://x\n      {name}: [[[]]]\n");
        let err = load_str(&yaml, "a.yml").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(!err.contains("unknown field"), "{name}: {err}");
    }
    for name in validate::REMOTE_WRITE_FIELDS.iter().filter(|n| **n != "url") {
        let yaml = format!("remote_write:\n  - url: http://x\n    {name}: [[[]]]\n");
        let err = load_str(&yaml, "a.yml").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(!err.contains("unknown field"), "{name}: {err}");
    }
}

#[test]
fn duplicate_job_across_scrape_config_files_names_both_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("main.yml"),
        "scrape_config_files: ['jobs/*.yml']\nscrape_configs:\n  - job_name: a\n",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("jobs")).unwrap();
    std::fs::write(dir.path().join("jobs/one.yml"), "scrape_configs:\n  - job_name: b\n  - job_name: a\n")
        .unwrap();
    let err = load_file(&dir.path().join("main.yml")).unwrap_err().to_string();
    let one = dir.path().join("jobs/one.yml").display().to_string();
    let main = dir.path().join("main.yml").display().to_string();
    assert_eq!(
        err,
        format!(
            "{one}:3:5: scrape_configs[1].job_name: found multiple scrape configs with job name \"a\", first found in {main}"
        )
    );
}

#[test]
fn logs_section_loads_with_defaults_and_resolves_relative_globs() {
    let yaml = "logs:\n  files:\n    - name: pods\n      include: ['pods/*/*/*.log']\n      structured_metadata: [pod_uid]\n      multiline:\n        start_pattern: '^\\S'\n  loki:\n    - url: http://loki:3100/loki/api/v1/push\n      tenant_id: team-a\n";
    let loaded = validate::load(yaml, "agent.yml", Some(Path::new("/etc/harrier"))).unwrap();
    let logs = &loaded.config.logs;
    assert_eq!(logs.files[0].include, ["/etc/harrier/pods/*/*/*.log"]);
    assert_eq!(logs.files[0].format, crate::logs::config::LineFormat::Cri);
    assert_eq!(logs.files[0].max_line_bytes.0, 256 << 10);
    assert_eq!(logs.loki[0].sink_name(), "loki:3100");
    assert_eq!(logs.loki[0].batch_size.0, 1 << 20);
    assert_eq!(logs.max_in_flight_bytes.0, 16 << 20);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);

    let only_files = "logs:\n  files:\n    - name: pods\n      include: ['/var/log/pods/*/*/*.log']\n";
    let loaded = load_str(only_files, "agent.yml").unwrap();
    assert!(loaded.warnings.iter().any(|w| w.contains("no logs.loki endpoint")), "{:?}", loaded.warnings);
}

#[test]
fn logs_errors_point_at_their_field() {
    let files = "logs:\n  files:\n    - name: pods\n      include: ['/x/*.log']\n";
    let loki = "logs:\n  loki:\n    - url: http://loki:3100/loki/api/v1/push\n";
    let cases: Vec<(String, &str)> = vec![
        (
            format!("{files}      multiline:\n        start_pattern: '(unclosed'\n"),
            "agent.yml:6:9: logs.files[0].multiline.start_pattern: invalid regular expression: regex parse error:",
        ),
        (
            format!("{files}      format: syslog\n"),
            "agent.yml:5:15: logs.files[0].format: unknown variant `syslog`, expected one of `cri`, `docker`, `auto`, `plain`",
        ),
        (
            format!("{files}    - name: pods\n      include: ['/y']\n"),
            "agent.yml:5:7: logs.files[1].name: found multiple logs.files entries named \"pods\"",
        ),
        (
            "logs:\n  files:\n    - name: a\n      include: ['[unclosed']\n".to_string(),
            "agent.yml:4:17: logs.files[0].include[0]: invalid glob pattern \"[unclosed\":",
        ),
        (
            format!("{files}      labels:\n        bad-name: x\n"),
            "agent.yml:6:9: logs.files[0].labels.bad-name: invalid label name \"bad-name\"",
        ),
        (
            "logs:\n  loki:\n    - url: loki:3100\n".to_string(),
            "agent.yml:3:7: logs.loki[0].url: invalid URL \"loki:3100\": scheme must be http or https",
        ),
        (
            format!("{loki}      headers:\n        X-Scope-OrgID: other\n"),
            "agent.yml:5:9: logs.loki[0].headers.X-Scope-OrgID: X-Scope-OrgID is a reserved header. It must not be changed",
        ),
        (format!("{loki}      batch_wait: 1x\n"), "agent.yml:4:7: logs.loki[0].batch_wait: "),
        (
            format!("{loki}      batch_wait: 0s\n"),
            "agent.yml:4:7: logs.loki[0].batch_wait: must be greater than 0s",
        ),
        (
            format!("{loki}      min_backoff: 10s\n      max_backoff: 1s\n"),
            "agent.yml:5:7: logs.loki[0].max_backoff: 1s is less than min_backoff 10s",
        ),
        (
            format!("{loki}      tenat_id: a\n"),
            "agent.yml:4:7: logs.loki[0]: unknown field \"tenat_id\" (did you mean \"tenant_id\"?)",
        ),
        (
            format!("{loki}    - url: http://loki:3100/other\n"),
            "agent.yml:4:7: logs.loki[1].url: found multiple logs.loki entries named \"loki:3100\"",
        ),
    ];
    for (yaml, expected) in &cases {
        let err = inline_error(yaml);
        assert!(err.starts_with(expected), "\n got: {err}\nwant: {expected}");
    }
}
