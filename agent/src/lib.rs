//! The Harrier agent: a DaemonSet on every node.
//!
//! Sources ([`sources`]) produce series; a [`sinks::MetricsFanout`] hands them to every sink
//! ([`sinks`]), each of which batches, buffers on disk and delivers with retries.
//! [`config`] is the prometheus.yml superset that wires them together.

pub mod config;
pub use harrier_telemetry::http_client;
pub mod logs;
pub use harrier_telemetry::relabel;
pub mod run;
pub mod server;
pub mod sinks;
pub mod sources;
