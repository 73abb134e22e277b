//! Prometheus's `global` configuration section, shared by the agent (scrape defaults,
//! external labels) and the router (evaluation interval, rule query offset, external labels),
//! so one prometheus.yml `global:` block means the same thing to both.

use crate::duration::{ByteSize, PromDuration};
use serde::Deserialize;
use std::collections::BTreeMap;

/// `global`, with Prometheus's defaults.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalConfig {
    #[serde(default = "d_scrape_interval")]
    pub scrape_interval: PromDuration,
    #[serde(default = "d_scrape_timeout")]
    pub scrape_timeout: PromDuration,
    #[serde(default = "d_eval_interval")]
    pub evaluation_interval: PromDuration,
    #[serde(default)]
    pub external_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub body_size_limit: Option<ByteSize>,
    #[serde(default)]
    pub sample_limit: Option<u64>,
    #[serde(default)]
    pub label_limit: Option<u64>,
    #[serde(default)]
    pub label_name_length_limit: Option<u64>,
    #[serde(default)]
    pub label_value_length_limit: Option<u64>,
    #[serde(default)]
    pub target_limit: Option<u64>,
    #[serde(default)]
    pub keep_dropped_targets: Option<u64>,
    #[serde(default)]
    pub query_log_file: Option<String>,
    #[serde(default)]
    pub scrape_failure_log_file: Option<String>,
    #[serde(default)]
    pub rule_query_offset: Option<PromDuration>,
    #[serde(default)]
    pub scrape_protocols: Option<Vec<String>>,
    #[serde(default)]
    pub metric_name_validation_scheme: Option<String>,
    #[serde(default)]
    pub metric_name_escaping_scheme: Option<String>,
    #[serde(default)]
    pub always_scrape_classic_histograms: Option<bool>,
    #[serde(default)]
    pub convert_classic_histograms_to_nhcb: Option<bool>,
    #[serde(default)]
    pub extra_scrape_metrics: Option<bool>,
}

pub fn d_scrape_interval() -> PromDuration {
    PromDuration::from_secs(60)
}
pub fn d_scrape_timeout() -> PromDuration {
    PromDuration::from_secs(10)
}
pub fn d_eval_interval() -> PromDuration {
    PromDuration::from_secs(60)
}

impl Default for GlobalConfig {
    fn default() -> Self {
        GlobalConfig {
            scrape_interval: d_scrape_interval(),
            scrape_timeout: d_scrape_timeout(),
            evaluation_interval: d_eval_interval(),
            external_labels: BTreeMap::new(),
            body_size_limit: None,
            sample_limit: None,
            label_limit: None,
            label_name_length_limit: None,
            label_value_length_limit: None,
            target_limit: None,
            keep_dropped_targets: None,
            query_log_file: None,
            scrape_failure_log_file: None,
            rule_query_offset: None,
            scrape_protocols: None,
            metric_name_validation_scheme: None,
            metric_name_escaping_scheme: None,
            always_scrape_classic_histograms: None,
            convert_classic_histograms_to_nhcb: None,
            extra_scrape_metrics: None,
        }
    }
}
