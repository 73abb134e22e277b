use super::*;

fn header(req: RequestBuilder) -> Option<String> {
    let req = req.build().unwrap();
    req.headers().get(reqwest::header::AUTHORIZATION).map(|v| v.to_str().unwrap().to_string())
}

fn client() -> reqwest::Client {
    build_client(&HttpClientConfig::default(), Duration::from_secs(5)).unwrap()
}

#[tokio::test]
async fn password_file_is_read_fresh_and_trimmed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pw");
    std::fs::write(&path, "  first\n").unwrap();
    let cfg = HttpClientConfig {
        basic_auth: Some(BasicAuth {
            username: "user".into(),
            username_file: None,
            password: None,
            password_file: Some(path.to_string_lossy().into_owned()),
        }),
        ..Default::default()
    };
    let c = client();
    let first = header(apply_auth(c.get("http://127.0.0.1/"), &cfg).await.unwrap());
    std::fs::write(&path, "second\n").unwrap();
    let second = header(apply_auth(c.get("http://127.0.0.1/"), &cfg).await.unwrap());
    // base64("user:first") and base64("user:second")
    assert_eq!(first.as_deref(), Some("Basic dXNlcjpmaXJzdA=="));
    assert_eq!(second.as_deref(), Some("Basic dXNlcjpzZWNvbmQ="));
}

#[tokio::test]
async fn authorization_defaults_to_bearer_and_bearer_token_file_works() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    std::fs::write(&path, "tok\n").unwrap();
    let c = client();
    let cfg = HttpClientConfig {
        authorization: Some(Authorization {
            kind: None,
            credentials: Some("abc".into()),
            credentials_file: None,
        }),
        ..Default::default()
    };
    assert_eq!(header(apply_auth(c.get("http://x/"), &cfg).await.unwrap()).as_deref(), Some("Bearer abc"));
    let cfg = HttpClientConfig {
        authorization: Some(Authorization {
            kind: Some("Token".into()),
            credentials: Some("abc".into()),
            credentials_file: None,
        }),
        ..Default::default()
    };
    assert_eq!(header(apply_auth(c.get("http://x/"), &cfg).await.unwrap()).as_deref(), Some("Token abc"));
    let cfg = HttpClientConfig {
        bearer_token_file: Some(path.to_string_lossy().into_owned()),
        ..Default::default()
    };
    assert_eq!(header(apply_auth(c.get("http://x/"), &cfg).await.unwrap()).as_deref(), Some("Bearer tok"));
    assert_eq!(header(apply_auth(c.get("http://x/"), &HttpClientConfig::default()).await.unwrap()), None);
}

#[tokio::test]
async fn unreadable_credentials_file_is_named() {
    let cfg = HttpClientConfig {
        bearer_token_file: Some("/nonexistent/harrier-token".into()),
        ..Default::default()
    };
    let err = apply_auth(client().get("http://x/"), &cfg).await.unwrap_err();
    assert!(err.to_string().contains("/nonexistent/harrier-token"), "{err}");
}

#[test]
fn unreadable_ca_file_is_named_and_bad_pem_rejected() {
    let cfg = HttpClientConfig {
        tls_config: Some(TlsConfig { ca_file: Some("/nonexistent/ca.pem".into()), ..Default::default() }),
        ..Default::default()
    };
    let err = build_client(&cfg, Duration::from_secs(1)).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");

    let cfg = HttpClientConfig {
        tls_config: Some(TlsConfig { ca: Some("not a certificate".into()), ..Default::default() }),
        ..Default::default()
    };
    assert!(matches!(build_client(&cfg, Duration::from_secs(1)), Err(HttpClientError::Pem { .. })));
}

#[test]
fn tls_versions_are_checked() {
    let with = |min: &str, max: Option<&str>| HttpClientConfig {
        tls_config: Some(TlsConfig {
            min_version: Some(min.into()),
            max_version: max.map(str::to_string),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert!(build_client(&with("TLS12", None), Duration::from_secs(1)).is_ok());
    assert!(build_client(&with("TLS10", Some("TLS12")), Duration::from_secs(1)).is_ok());
    assert!(matches!(
        build_client(&with("SSL3", None), Duration::from_secs(1)),
        Err(HttpClientError::TlsVersion(_))
    ));
    assert!(matches!(
        build_client(&with("TLS13", Some("TLS12")), Duration::from_secs(1)),
        Err(HttpClientError::Tls(_))
    ));
}

#[test]
fn insecure_skip_verify_and_server_name_build() {
    let cfg = HttpClientConfig {
        tls_config: Some(TlsConfig {
            insecure_skip_verify: true,
            server_name: Some("example.internal".into()),
            ..Default::default()
        }),
        follow_redirects: Some(false),
        enable_http2: Some(false),
        ..Default::default()
    };
    assert!(build_client(&cfg, Duration::from_secs(1)).is_ok());
    let cfg = HttpClientConfig { oauth2: Some(yaml_serde::Value::Null), ..Default::default() };
    assert!(matches!(
        build_client(&cfg, Duration::from_secs(1)),
        Err(HttpClientError::Unsupported("oauth2"))
    ));
}
