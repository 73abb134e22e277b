//! `remote_write` entries, field for field as Prometheus has them, and Harrier's `buffer:`
//! section (the disk buffer behind each queue).

use crate::duration::{ByteSize, PromDuration};
use crate::http_client::HttpClientConfig;
use crate::relabel::RelabelConfig;
use serde::Deserialize;
use std::collections::BTreeMap;

/// One `remote_write` entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteWriteConfig {
    pub url: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub remote_timeout: Option<PromDuration>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub write_relabel_configs: Vec<RelabelConfig>,
    #[serde(default)]
    pub queue_config: QueueConfig,
    #[serde(flatten)]
    pub http: HttpClientConfig,

    /// Accepted so an unchanged prometheus.yml loads. Harrier speaks protocol 1.0 only and
    /// sends no exemplars, histograms or metadata yet (validation warns when set).
    #[serde(default)]
    pub send_exemplars: Option<bool>,
    #[serde(default)]
    pub send_native_histograms: Option<bool>,
    #[serde(default)]
    pub protobuf_message: Option<String>,
    #[serde(default)]
    pub metadata_config: Option<yaml_serde::Value>,
    #[serde(default)]
    pub round_robin_dns: Option<bool>,
    /// Cloud auth Harrier does not implement yet: rejected by validation by name.
    #[serde(default)]
    pub sigv4: Option<yaml_serde::Value>,
    #[serde(default)]
    pub azuread: Option<yaml_serde::Value>,
    #[serde(default)]
    pub google_iam: Option<yaml_serde::Value>,
}

/// `queue_config`, with Prometheus's defaults.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    #[serde(default = "d_capacity")]
    pub capacity: usize,
    #[serde(default = "d_max_shards")]
    pub max_shards: usize,
    #[serde(default = "d_min_shards")]
    pub min_shards: usize,
    #[serde(default = "d_max_samples")]
    pub max_samples_per_send: usize,
    #[serde(default = "d_deadline")]
    pub batch_send_deadline: PromDuration,
    #[serde(default = "d_min_backoff")]
    pub min_backoff: PromDuration,
    #[serde(default = "d_max_backoff")]
    pub max_backoff: PromDuration,
    #[serde(default = "d_true")]
    pub retry_on_http_429: bool,
    #[serde(default)]
    pub sample_age_limit: Option<PromDuration>,
}

fn d_capacity() -> usize {
    10_000
}
fn d_max_shards() -> usize {
    50
}
fn d_min_shards() -> usize {
    1
}
fn d_max_samples() -> usize {
    2_000
}
fn d_deadline() -> PromDuration {
    PromDuration::from_secs(5)
}
fn d_min_backoff() -> PromDuration {
    PromDuration::from_millis(30)
}
fn d_max_backoff() -> PromDuration {
    PromDuration::from_secs(5)
}
fn d_true() -> bool {
    true
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            capacity: d_capacity(),
            max_shards: d_max_shards(),
            min_shards: d_min_shards(),
            max_samples_per_send: d_max_samples(),
            batch_send_deadline: d_deadline(),
            min_backoff: d_min_backoff(),
            max_backoff: d_max_backoff(),
            retry_on_http_429: true,
            sample_age_limit: None,
        }
    }
}

/// `buffer:` (Harrier): each remote_write queue writes every batch to a checksummed on-disk
/// queue under `<data-dir>/remote_write/<queue name>/` before sending it, so a backend outage
/// or a kill -9 loses nothing. When a queue holds `max_bytes`, the oldest batches are dropped
/// and counted.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BufferConfig {
    #[serde(default = "d_buffer_max")]
    pub max_bytes: ByteSize,
    #[serde(default = "d_segment")]
    pub segment_bytes: ByteSize,
}

fn d_buffer_max() -> ByteSize {
    ByteSize(1 << 30)
}
fn d_segment() -> ByteSize {
    ByteSize(32 << 20)
}

impl Default for BufferConfig {
    fn default() -> Self {
        BufferConfig { max_bytes: d_buffer_max(), segment_bytes: d_segment() }
    }
}
