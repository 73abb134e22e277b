use super::*;
use harrier_telemetry::config_diagnostic::Position;
use std::time::Duration;

fn diagnostic(yaml: &str) -> Diagnostic {
    match load_str(yaml, "router.yml") {
        Err(ConfigError::Invalid(d)) => *d,
        other => panic!("expected an invalid config, got {other:?}"),
    }
}

#[test]
fn empty_file_is_the_defaults() {
    let loaded = load_str("", "router.yml").unwrap();
    assert_eq!(loaded.config, RouterConfig::default());
    assert!(loaded.warnings.is_empty());
    let options = loaded.config.engine_options();
    assert_eq!(options.lookback_delta, Duration::from_secs(300));
    assert_eq!(options.timeout, Duration::from_secs(120));
    assert_eq!(options.max_samples, 50_000_000);
    assert_eq!(loaded.config.storage.retention.as_duration(), Duration::from_secs(15 * 86400));
    assert!(loaded.config.remote_datasource().is_none());
}

#[test]
fn full_config_loads() {
    let yaml = r#"
storage:
  path: /var/lib/harrier
  retention: 30d
  max_bytes: 2GiB
query:
  lookback_delta: 2m
  timeout: 30s
  max_samples: 1000
  max_concurrency: 4
datasource:
  type: remote
  url: https://prometheus.example:9090
  headers: {X-Scope-OrgID: team-a}
  bearer_token: abc
  tls_config: {insecure_skip_verify: true}
"#;
    let config = load_str(yaml, "router.yml").unwrap().config;
    assert_eq!(config.storage.path.as_deref(), Some("/var/lib/harrier"));
    assert_eq!(config.storage.max_bytes.0, 2 << 30);
    assert_eq!(config.query.max_concurrency, 4);
    let remote = config.remote_datasource().unwrap();
    assert_eq!(remote.url, "https://prometheus.example:9090");
    assert_eq!(remote.timeout, Duration::from_secs(30), "defaults to query.timeout");
    assert_eq!(remote.headers.get("X-Scope-OrgID").map(String::as_str), Some("team-a"));
    assert_eq!(remote.http.bearer_token.as_deref(), Some("abc"));
    assert_eq!(config.engine_options().max_samples, 1000);
}

#[test]
fn unknown_field_has_position_and_path() {
    let d = diagnostic("query:\n  timeout: 1m\n  lookback: 5m\n");
    assert_eq!(d.position, Some(Position { line: 3, column: 3 }));
    assert_eq!(d.field.to_string(), "query");
    assert!(d.message.contains("unknown field `lookback`"), "{}", d.message);
    assert!(d.to_string().starts_with("router.yml:3:3: query: "), "{d}");
}

#[test]
fn bad_duration_points_at_its_field() {
    let d = diagnostic("storage:\n  retention: forever\n");
    assert_eq!(d.field.to_string(), "storage.retention");
    assert_eq!(d.position.map(|p| p.line), Some(2));
    assert!(d.message.contains("not a valid duration"), "{}", d.message);
}

#[test]
fn bad_datasource_type_is_reported() {
    let d = diagnostic("datasource:\n  type: thanos\n");
    assert_eq!(d.field.to_string(), "datasource.type");
    assert!(d.message.contains("unknown variant `thanos`"), "{}", d.message);
}

#[test]
fn remote_needs_a_valid_url() {
    let d = diagnostic("datasource:\n  type: remote\n");
    assert_eq!(d.field.to_string(), "datasource.type");
    assert_eq!(d.position, Some(Position { line: 2, column: 3 }));
    assert_eq!(d.message, "a remote datasource needs a url");

    let d = diagnostic("datasource:\n  type: remote\n  url: ftp://x\n");
    assert_eq!(d.field.to_string(), "datasource.url");
    assert_eq!(d.position, Some(Position { line: 3, column: 3 }));
}

#[test]
fn one_way_to_authenticate() {
    let d = diagnostic(
        "datasource:\n  type: remote\n  url: http://x\n  bearer_token: a\n  basic_auth: {username: u, password: p}\n",
    );
    assert_eq!(
        d.message,
        "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured"
    );
    let d = diagnostic(
        "datasource:\n  type: remote\n  url: http://x\n  bearer_token: a\n  bearer_token_file: f\n",
    );
    assert_eq!(d.field.to_string(), "datasource.bearer_token_file");
}

#[test]
fn query_limits_checked() {
    assert_eq!(diagnostic("query:\n  max_concurrency: 0\n").message, "must be at least 1");
    assert_eq!(diagnostic("query:\n  timeout: 0\n").field.to_string(), "query.timeout");
}

#[test]
fn prometheus_server_sections_load() {
    let yaml = "global:\n  scrape_interval: 15s\n  evaluation_interval: 30s\n  external_labels: {cluster: eu1}\n\
                rule_files: [rules/*.yml]\n";
    let loaded = load_str(yaml, "prometheus.yml").unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert_eq!(loaded.config.global.evaluation_interval.as_millis(), 30_000);
    assert_eq!(loaded.config.global.external_labels.get("cluster").map(String::as_str), Some("eu1"));
    assert_eq!(loaded.config.rule_files, vec!["rules/*.yml".to_string()]);
    assert_eq!(diagnostic("rule_files: ['[']\n").field.to_string(), "rule_files[0]");
    assert_eq!(
        diagnostic("global:\n  evaluation_interval: 0s\n").field.to_string(),
        "global.evaluation_interval"
    );
    assert_eq!(diagnostic("web:\n  external_url: nope\n").field.to_string(), "web.external_url");
    let loaded = load_str("datasource:\n  url: http://x\n", "router.yml").unwrap();
    assert!(loaded.warnings[0].contains("ignored with type embedded"), "{:?}", loaded.warnings);
}

#[test]
fn relative_paths_join_the_config_directory() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("router.yml");
    std::fs::write(
        &file,
        "storage:\n  path: data\ndatasource:\n  type: remote\n  url: http://x\n  bearer_token_file: token\n",
    )
    .unwrap();
    let config = load_file(&file).unwrap().config;
    assert_eq!(config.storage.path, Some(dir.path().join("data").display().to_string()));
    assert_eq!(
        config.datasource.http.bearer_token_file,
        Some(dir.path().join("token").display().to_string())
    );
    assert!(matches!(load_file(&dir.path().join("missing.yml")), Err(ConfigError::Read { .. })));
}

#[test]
fn router_configs_told_apart_from_agent_configs() {
    assert!(looks_like_router_config("storage:\n  retention: 1d\n"));
    assert!(looks_like_router_config("datasource:\n  type: embedded\nrule_files: []\n"));
    assert!(!looks_like_router_config("scrape_configs: []\n"));
    assert!(!looks_like_router_config("global: {}\nstorage: {}\nscrape_configs: []\n"));
    assert!(!looks_like_router_config(": not yaml ["));
}

#[test]
fn notifications_config_is_checked_with_the_router_config() {
    let dir = tempfile::tempdir().unwrap();
    let router = dir.path().join("router.yml");
    std::fs::write(
        &router,
        "notifications:\n  alertmanager_config: am.yml\n  api_auth:\n    bearer_token_file: token\n",
    )
    .unwrap();
    // Missing: the error names the file it could not read.
    let err = load_file(&router).unwrap_err().to_string();
    assert!(err.contains("am.yml"), "{err}");
    // Invalid: Alertmanager's validation, positioned in alertmanager.yml.
    std::fs::write(dir.path().join("am.yml"), "route:\n  receiver: nobody\nreceivers:\n- name: r\n").unwrap();
    let err = load_file(&router).unwrap_err().to_string();
    assert!(err.contains("am.yml:2:") && err.contains("nobody"), "{err}");
    // Valid: paths are joined to the router config's directory.
    std::fs::write(dir.path().join("am.yml"), "route:\n  receiver: r\nreceivers:\n- name: r\n").unwrap();
    let config = load_file(&router).unwrap().config;
    assert_eq!(
        config.notifications.alertmanager_config,
        Some(dir.path().join("am.yml").display().to_string())
    );
    assert_eq!(
        config.notifications.api_auth,
        Some(ApiAuthConfig {
            bearer_token_file: Some(dir.path().join("token").display().to_string()),
            basic_auth: None
        })
    );
    std::fs::write(&router, "notifications:\n  api_auth: {}\n").unwrap();
    let err = load_file(&router).unwrap_err().to_string();
    assert!(
        err.contains("router.yml:2:") && err.contains("expected bearer_token_file or basic_auth"),
        "{err}"
    );
}
