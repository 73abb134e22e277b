//! Harrier's shared foundation: the data model, the wire codecs, the durable on-disk queue,
//! and the retry policy. Library code: no servers; the agent and the router
//! build their pipelines out of these pieces.
//!
//! - [`model`]: labels, samples, series.
//! - [`duration`]: Prometheus duration and size strings.
//! - [`exposition`]: the Prometheus text format and OpenMetrics, parsed without copying.
//! - [`remote_write`]: Prometheus remote_write 1.0 (protobuf + snappy), both directions.
//! - [`queue`]: a checksummed, byte-bounded, on-disk FIFO that survives kill -9.
//! - [`backoff`]: exponential backoff with jitter and `Retry-After`.
//! - [`http_client`]: the HTTP client settings every outbound connection shares (Prometheus's
//!   `http_config`: basic auth, authorization, `*_file` secrets, TLS), built into reqwest clients.
//! - [`config_diagnostic`]: file:line:column diagnostics for YAML configs.

pub mod backoff;
pub mod config_diagnostic;
pub mod duration;
pub mod exposition;
pub mod http_client;
pub mod model;
pub mod queue;
pub mod remote_write;
