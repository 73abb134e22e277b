//! Sources: where the agent's data comes from. Each hands batches of series to a
//! [`crate::sinks::MetricsFanout`].
//!
//! - [`scrape`]: Prometheus-style scraping of targets from `scrape_configs`.
//! - [`host`]: node_exporter-compatible host metrics read from /proc and /sys.

pub mod host;
pub mod logs;
pub mod scrape;
