//! Harrier's shared foundation: the data model, the wire codecs, the durable on-disk queue,
//! and the retry policy. Library code: no servers; the agent and the router
//! build their pipelines out of these pieces.
//!
//! - [`model`]: labels, samples, series.
//! - [`duration`]: Prometheus duration and size strings.
//! - [`exposition`]: the Prometheus text format and OpenMetrics, parsed without copying.
//! - [`remote_write`]: Prometheus remote_write 1.0 (protobuf + snappy), both directions.
//! - [`remote_write_sink`]: a durable remote_write sender: sharded, disk-buffered (bounded in
//!   bytes), retrying with backoff; one per `remote_write` entry (agent and router).
//! - [`http_post`]: one POST of a body retried as a whole, and its outcome (remote_write, Loki).
//! - [`loki`]: Loki's push API (protobuf + snappy, JSON), the label-set string, a bounded decoder.
//! - [`queue`]: a checksummed, byte-bounded, on-disk FIFO that survives kill -9.
//! - [`backoff`]: exponential backoff with jitter and `Retry-After`.
//! - [`http_client`]: the HTTP client settings every outbound connection shares (Prometheus's
//!   `http_config`: basic auth, authorization, `*_file` secrets, TLS), built into reqwest clients.
//! - [`relabel`]: relabeling with Prometheus's semantics (`relabel_configs` and friends).
//! - [`global_config`]: Prometheus's `global:` section, shared by agent and router.
//! - [`config_diagnostic`]: file:line:column diagnostics for YAML configs.

pub mod backoff;
pub mod civil;
pub mod config_diagnostic;
pub mod duration;
pub mod exposition;
pub mod global_config;
pub mod http_client;
pub mod http_post;
pub mod loki;
pub mod model;
mod protowire;
pub mod queue;
pub mod relabel;
pub mod remote_write;
pub mod remote_write_sink;
mod snappy_block;
