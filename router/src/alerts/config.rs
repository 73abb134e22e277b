//! The `alerting:` section of a prometheus.yml, as Prometheus 3's `config.AlertingConfig` and
//! `config.AlertmanagerConfig` have it:
//!
//! ```yaml
//! alerting:
//!   alert_relabel_configs: [...]      # applied to every alert, after the external labels
//!   alertmanagers:
//!     - static_configs:
//!         - targets: [alertmanager-0:9093, alertmanager-1:9093]
//!           labels: {cluster: eu-1}     # visible to relabel_configs
//!       scheme: http                    # default http
//!       path_prefix: /                  # prepended to /api/v2/alerts
//!       timeout: 10s                    # per POST; default 10s
//!       api_version: v2                 # the only version; v1 was removed in Prometheus 3
//!       relabel_configs: [...]          # on the Alertmanager targets (__address__, ...)
//!       alert_relabel_configs: [...]    # on alerts sent to this set only (Prometheus 2.51+)
//!       basic_auth: {...}               # and the rest of Prometheus's http_config
//! ```
//!
//! Deserialisation denies unknown fields. Alertmanagers can only be listed with
//! `static_configs`: every other service discovery mechanism Prometheus knows (and `sigv4`) is
//! accepted by the parser so that [`AlertingConfig::validate`] can refuse it with a message
//! naming the field, rather than a generic "unknown field".
//!
//! [`AlertingConfig::validate`] does what Prometheus's `AlertmanagerConfig.UnmarshalYAML` and
//! `Validate` do: the `http_config` checks, the "not a valid hostname" check on static targets
//! when there are no `relabel_configs`, and relabel rule validation; plus Harrier's own refusals
//! (unsupported discovery, a zero timeout, a scheme other than http/https).

use harrier_telemetry::config_diagnostic::FieldPath;
use harrier_telemetry::duration::PromDuration;
use harrier_telemetry::http_client::{self, HttpClientConfig};
use harrier_telemetry::relabel::{NameValidation, RelabelConfig, RelabelError, RelabelRule};
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

/// `alerting:`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertingConfig {
    /// Applied to every alert (after the external labels are added) before it is queued.
    #[serde(default)]
    pub alert_relabel_configs: Vec<RelabelConfig>,
    #[serde(default)]
    pub alertmanagers: Vec<AlertmanagerConfig>,
}

/// One entry of `alerting.alertmanagers`: a set of Alertmanagers sharing settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerConfig {
    #[serde(default)]
    pub static_configs: Vec<StaticConfig>,
    #[serde(default = "d_scheme")]
    pub scheme: String,
    #[serde(default)]
    pub path_prefix: String,
    #[serde(default = "d_timeout")]
    pub timeout: PromDuration,
    #[serde(default)]
    pub api_version: ApiVersion,
    /// Relabeling of the Alertmanager targets; a target relabeled away is not used.
    #[serde(default)]
    pub relabel_configs: Vec<RelabelConfig>,
    /// Relabeling of the alerts sent to this set only.
    #[serde(default)]
    pub alert_relabel_configs: Vec<RelabelConfig>,
    /// Authentication, TLS and proxy settings (Prometheus's inlined `http_config`).
    #[serde(flatten)]
    pub http: HttpClientConfig,
    /// Settings Prometheus accepts and Harrier refuses (in [`AlertingConfig::validate`]).
    #[serde(flatten)]
    pub unsupported: UnsupportedSettings,
}

fn d_scheme() -> String {
    "http".to_string()
}

fn d_timeout() -> PromDuration {
    PromDuration::from_secs(10)
}

impl Default for AlertmanagerConfig {
    fn default() -> Self {
        AlertmanagerConfig {
            static_configs: Vec::new(),
            scheme: d_scheme(),
            path_prefix: String::new(),
            timeout: d_timeout(),
            api_version: ApiVersion::V2,
            relabel_configs: Vec::new(),
            alert_relabel_configs: Vec::new(),
            http: HttpClientConfig::default(),
            unsupported: UnsupportedSettings::default(),
        }
    }
}

/// `static_configs` entry: `host:port` targets and labels common to them.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticConfig {
    #[serde(default)]
    pub targets: Vec<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// `api_version`: Alertmanager's API. Only `v2` exists since Prometheus 3.0 (Alertmanager
/// 0.27 removed v1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ApiVersion {
    #[default]
    V2,
}

impl ApiVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiVersion::V2 => "v2",
        }
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ApiVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let version = String::deserialize(d)?;
        match version.as_str() {
            "v2" => Ok(ApiVersion::V2),
            "v1" => Err(serde::de::Error::custom(
                "Alertmanager api_version v1 is not supported: it was removed in Prometheus 3.0 and \
                 Alertmanager 0.27; use v2",
            )),
            other => Err(serde::de::Error::custom(format_args!(
                "expected Alertmanager api version to be one of [v2] but got {other}"
            ))),
        }
    }
}

/// Generates [`UnsupportedSettings`]: one field per setting Prometheus accepts in an
/// `alertmanagers` entry that Harrier does not support.
macro_rules! unsupported_settings {
    ($($name:ident),* $(,)?) => {
        /// Prometheus settings of an `alertmanagers` entry that Harrier refuses: every service
        /// discovery mechanism but `static_configs`, and `sigv4`. Parsed only to be named in
        /// the error.
        #[derive(Debug, Clone, Default, PartialEq, Deserialize)]
        pub struct UnsupportedSettings {
            $(
                #[serde(default)]
                pub $name: Option<yaml_serde::Value>,
            )*
        }

        impl UnsupportedSettings {
            /// The first unsupported setting present, by its YAML name.
            pub fn first_present(&self) -> Option<&'static str> {
                $(
                    if self.$name.is_some() {
                        return Some(stringify!($name));
                    }
                )*
                None
            }
        }
    };
}

unsupported_settings!(
    azure_sd_configs,
    consul_sd_configs,
    digitalocean_sd_configs,
    docker_sd_configs,
    dockerswarm_sd_configs,
    dns_sd_configs,
    ec2_sd_configs,
    eureka_sd_configs,
    file_sd_configs,
    gce_sd_configs,
    hetzner_sd_configs,
    http_sd_configs,
    ionos_sd_configs,
    kubernetes_sd_configs,
    kuma_sd_configs,
    lightsail_sd_configs,
    linode_sd_configs,
    marathon_sd_configs,
    nerve_sd_configs,
    nomad_sd_configs,
    openstack_sd_configs,
    ovhcloud_sd_configs,
    puppetdb_sd_configs,
    scaleway_sd_configs,
    serverset_sd_configs,
    stackit_sd_configs,
    triton_sd_configs,
    uyuni_sd_configs,
    vultr_sd_configs,
    sigv4,
);

/// What is wrong with an `alerting:` section, and at which field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    pub path: FieldPath,
    pub message: String,
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

fn issue(path: FieldPath, message: impl Into<String>) -> ConfigIssue {
    ConfigIssue { path, message: message.into() }
}

/// Compiles a relabel list; an error points at the failing rule's field.
pub(super) fn compile_rules(
    configs: &[RelabelConfig],
    path: &FieldPath,
) -> Result<Vec<RelabelRule>, ConfigIssue> {
    RelabelRule::compile_all(configs, NameValidation::Utf8).map_err(|(index, err): (usize, RelabelError)| {
        let at = path.index(index);
        let at = match err.field() {
            Some(field) => at.key(field),
            None => at,
        };
        issue(at, err.to_string())
    })
}

/// Prometheus's `CheckTargetAddress`: a URL in place of `host:port` is refused.
pub(super) fn check_target_address(address: &str) -> Result<(), String> {
    if address.contains('/') {
        return Err(format!("{address:?} is not a valid hostname"));
    }
    Ok(())
}

impl AlertingConfig {
    /// Checks the section as Prometheus does when loading it, plus Harrier's refusals. `path`
    /// is where the section sits in the file (e.g. `alerting`); errors are below it.
    pub fn validate(&self, path: &FieldPath) -> Result<(), ConfigIssue> {
        compile_rules(&self.alert_relabel_configs, &path.key("alert_relabel_configs"))?;
        let ams = path.key("alertmanagers");
        for (i, am) in self.alertmanagers.iter().enumerate() {
            am.validate(&ams.index(i))?;
        }
        Ok(())
    }

    /// Joins every file setting of the `http_config`s (credentials, CA, certificate, key) to
    /// `dir`, the config file's directory, as Prometheus resolves them.
    pub fn resolve_paths(&mut self, dir: Option<&Path>) {
        for am in &mut self.alertmanagers {
            http_client::resolve_paths(dir, &mut am.http);
        }
    }
}

impl AlertmanagerConfig {
    /// Checks one `alertmanagers` entry; `path` is the entry's own path.
    pub fn validate(&self, path: &FieldPath) -> Result<(), ConfigIssue> {
        if let Some(name) = self.unsupported.first_present() {
            let message = if name == "sigv4" {
                "sigv4 is not supported by Harrier".to_string()
            } else {
                format!(
                    "{name} is not supported by Harrier: alertmanagers can only be listed with static_configs"
                )
            };
            return Err(issue(path.key(name), message));
        }
        http_client::validate(&self.http, path).map_err(|e| issue(e.path, e.message))?;
        if self.scheme != "http" && self.scheme != "https" {
            return Err(issue(
                path.key("scheme"),
                format!("unsupported scheme {:?} (expected http or https)", self.scheme),
            ));
        }
        if self.timeout.as_duration().is_zero() {
            return Err(issue(path.key("timeout"), "must be greater than 0"));
        }
        if self.relabel_configs.is_empty() {
            for (i, sc) in self.static_configs.iter().enumerate() {
                for (j, target) in sc.targets.iter().enumerate() {
                    check_target_address(target)
                        .map_err(|m| issue(path.key("static_configs").index(i).key("targets").index(j), m))?;
                }
            }
        }
        compile_rules(&self.relabel_configs, &path.key("relabel_configs"))?;
        compile_rules(&self.alert_relabel_configs, &path.key("alert_relabel_configs"))?;
        Ok(())
    }
}
