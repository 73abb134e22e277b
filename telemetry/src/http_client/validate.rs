//! Validation of [`HttpClientConfig`] with no I/O, as prometheus/common's
//! `HTTPClientConfig.Validate` and `TLSConfig.Validate` do (plus Harrier's refusal of OAuth 2.0),
//! and resolution of its file settings relative to the config file. Shared by every config that
//! embeds an `http_config` (scrape jobs, remote_write, the router's remote datasource).

use super::{HttpClientConfig, TlsConfig};
use crate::config_diagnostic::FieldPath;
use std::path::Path;

/// What is wrong with an `http_config`, and at which field (below the path given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfigIssue {
    pub path: FieldPath,
    pub message: String,
}

fn issue(path: FieldPath, message: impl Into<String>) -> HttpConfigIssue {
    HttpConfigIssue { path, message: message.into() }
}

/// Prometheus's `JoinDir`: relative paths are relative to the config file's directory.
pub fn join_dir(dir: Option<&Path>, path: &str) -> String {
    match dir {
        Some(dir) if !path.is_empty() && !Path::new(path).is_absolute() && !dir.as_os_str().is_empty() => {
            dir.join(path).display().to_string()
        }
        _ => path.to_string(),
    }
}

fn join_opt(dir: Option<&Path>, path: &mut Option<String>) {
    if let Some(p) = path {
        *p = join_dir(dir, p);
    }
}

/// Joins every file setting (credentials, CA, certificate, key) to `dir`, as Prometheus
/// resolves them relative to the config file.
pub fn resolve_paths(dir: Option<&Path>, http: &mut HttpClientConfig) {
    if let Some(auth) = &mut http.basic_auth {
        join_opt(dir, &mut auth.username_file);
        join_opt(dir, &mut auth.password_file);
    }
    if let Some(auth) = &mut http.authorization {
        join_opt(dir, &mut auth.credentials_file);
    }
    join_opt(dir, &mut http.bearer_token_file);
    if let Some(tls) = &mut http.tls_config {
        join_opt(dir, &mut tls.ca_file);
        join_opt(dir, &mut tls.cert_file);
        join_opt(dir, &mut tls.key_file);
    }
}

/// prometheus/common's `HTTPClientConfig.Validate` and `TLSConfig.Validate`, plus Harrier's
/// refusal of OAuth 2.0.
pub fn validate(http: &HttpClientConfig, path: &FieldPath) -> Result<(), HttpConfigIssue> {
    let has_bearer = http.bearer_token.as_deref().is_some_and(|s| !s.is_empty())
        || http.bearer_token_file.as_deref().is_some_and(|s| !s.is_empty());
    if http.bearer_token.as_deref().is_some_and(|s| !s.is_empty())
        && http.bearer_token_file.as_deref().is_some_and(|s| !s.is_empty())
    {
        return Err(issue(
            path.key("bearer_token_file"),
            "at most one of bearer_token & bearer_token_file must be configured",
        ));
    }
    if (http.basic_auth.is_some() || http.oauth2.is_some()) && has_bearer {
        return Err(issue(
            path.key("bearer_token"),
            "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
        ));
    }
    if let Some(auth) = &http.basic_auth {
        let at = path.key("basic_auth");
        if !auth.username.is_empty() && auth.username_file.as_deref().is_some_and(|s| !s.is_empty()) {
            return Err(issue(
                at.key("username_file"),
                "at most one of basic_auth username & username_file must be configured",
            ));
        }
        if auth.password.as_deref().is_some_and(|s| !s.is_empty())
            && auth.password_file.as_deref().is_some_and(|s| !s.is_empty())
        {
            return Err(issue(
                at.key("password_file"),
                "at most one of basic_auth password & password_file must be configured",
            ));
        }
    }
    if let Some(auth) = &http.authorization {
        let at = path.key("authorization");
        if has_bearer {
            return Err(issue(at, "authorization is not compatible with bearer_token & bearer_token_file"));
        }
        if auth.credentials.as_deref().is_some_and(|s| !s.is_empty())
            && auth.credentials_file.as_deref().is_some_and(|s| !s.is_empty())
        {
            return Err(issue(
                at.key("credentials_file"),
                "at most one of authorization credentials & credentials_file must be configured",
            ));
        }
        if auth.kind.as_deref().is_some_and(|k| k.trim().eq_ignore_ascii_case("basic")) {
            return Err(issue(
                at.key("type"),
                "authorization type cannot be set to \"basic\", use \"basic_auth\" instead",
            ));
        }
        if http.basic_auth.is_some() || http.oauth2.is_some() {
            return Err(issue(at, "at most one of basic_auth, oauth2 & authorization must be configured"));
        }
    }
    if http.basic_auth.is_some() && http.oauth2.is_some() {
        return Err(issue(
            path.key("oauth2"),
            "at most one of basic_auth, oauth2 & authorization must be configured",
        ));
    }
    if http.oauth2.is_some() {
        return Err(issue(
            path.key("oauth2"),
            "oauth2 is not supported yet by Harrier (use authorization, basic_auth or bearer_token_file)",
        ));
    }
    if let Some(tls) = &http.tls_config {
        check_tls(tls, &path.key("tls_config"))?;
    }
    Ok(())
}

fn check_tls(tls: &TlsConfig, path: &FieldPath) -> Result<(), HttpConfigIssue> {
    let set = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.is_empty());
    if set(&tls.ca) && set(&tls.ca_file) {
        return Err(issue(path.key("ca_file"), "at most one of ca & ca_file must be configured"));
    }
    if set(&tls.cert) && set(&tls.cert_file) {
        return Err(issue(path.key("cert_file"), "at most one of cert & cert_file must be configured"));
    }
    if set(&tls.key) && set(&tls.key_file) {
        return Err(issue(path.key("key_file"), "at most one of key and key_file must be configured"));
    }
    let using_cert = set(&tls.cert) || set(&tls.cert_file);
    let using_key = set(&tls.key) || set(&tls.key_file);
    if using_cert && !using_key {
        return Err(issue(
            path.key("cert_file"),
            "exactly one of key or key_file must be configured when a client certificate is configured",
        ));
    }
    if using_key && !using_cert {
        return Err(issue(
            path.key("key_file"),
            "exactly one of cert or cert_file must be configured when a client key is configured",
        ));
    }
    for (field, version) in [("min_version", &tls.min_version), ("max_version", &tls.max_version)] {
        if let Some(v) = version
            && !matches!(v.as_str(), "TLS10" | "TLS11" | "TLS12" | "TLS13")
        {
            return Err(issue(
                path.key(field),
                format!("unknown TLS version: {v} (expected TLS10, TLS11, TLS12 or TLS13)"),
            ));
        }
    }
    Ok(())
}
