//! Scraping, with Prometheus's semantics: `scrape_configs` -> targets (discovery + relabeling)
//! -> one loop per target -> one batch per scrape to the sinks.
//!
//! - [`job`]: a `scrape_configs` entry resolved against `global` ([`ScrapeJob`]).
//! - [`discovery`]: `static_configs` and `file_sd_configs` -> target groups.
//! - [`target`]: target groups -> targets (`PopulateLabels`, URL, scrape offset).
//! - [`scrape_loop`]: the per-target loop: HTTP, parsing, label merging, metric relabeling,
//!   limits, staleness and report series.
//! - [`cache`]: per-target series cache and staleness tracking.
//! - [`manager`]: [`ScrapeManager`], which diffs jobs and targets on every change.
//! - [`metrics`]: the manager's self-metrics.
//!
//! Usage: hand the jobs of a loaded configuration (built with
//! [`ScrapeJob::all_from_loaded`]) to [`ScrapeManager::apply_jobs`] on start and on every
//! reload, and call [`ScrapeManager::shutdown`] last.

mod cache;
pub mod config;
mod discovery;
mod job;
mod manager;
pub mod metrics;
mod plain_http;
mod scrape_loop;
mod target;

pub use job::{ScrapeError, ScrapeJob};
pub use manager::{DEFAULT_FILE_SD_POLL, ScrapeManager};

#[cfg(test)]
mod tests;
