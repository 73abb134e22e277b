//! Runner for Prometheus's promqltest script language, used to measure the PromQL engine against
//! upstream's own test data (`promql/promqltest/testdata/*.test`).
//!
//! - [`series_notation`]: the expanding series notation (`1+2x3 _ stale`), shared with
//!   promtool-style rule unit tests.
//! - [`script`]: the script parser (`load`, `clear`, `eval`, `expect` lines).
//! - [`compare`]: upstream's result, annotation and error checks.
//! - [`at_modifier`]: the `@`-modifier re-runs upstream makes of every instant query.
//! - the runner ([`run_script`], [`run_source`]): executes a script on a [`TestStorage`] with an
//!   [`Engine`](crate::promql::Engine); every `eval` is one case, reported pass or fail with a reason.
//!
//! As upstream, an instant eval runs the query at its time, then its `@` rewrites at other
//! times, then (unless the eval expects a range vector or a string, or the query uses
//! `start()`/`end()`/`range()`/`step()`) as a range query from one minute before to one minute
//! after with a one-minute step, whose middle step must give the same result.
//!
//! Native histograms: `{{...}}` values are loaded as histogram samples
//! ([`TestStorage::load_histograms`]), `load_with_nhcb` also loads the native histograms with
//! custom buckets derived from classic histograms ([`nhcb`]), and expected histograms compare
//! as upstream's `compareNativeHistogram` (see [`compare`]).
//!
//! Upstream's test engine (`promqltest.NewTestEngine`) limits queries to 10 000 samples, uses
//! the default 5 m lookback, a 1 m default subquery step, enables the `@` modifier, negative
//! offsets, experimental functions and delayed `__name__` removal; [`test_engine_options`]
//! mirrors what [`EngineOptions`] can express.

use crate::promql::EngineOptions;
use crate::store::model::ModelStorage;
use crate::store::{HistogramSample, Queryable, Store, StoreError};
use harrier_telemetry::model::{Labels, Sample, Series};
use std::time::Duration;

pub mod at_modifier;
pub mod compare;
pub mod nhcb;
mod runner;
pub mod script;
pub mod series_notation;

#[cfg(test)]
mod tests;

pub use runner::{CaseResult, ScriptReport, run_script, run_source};
pub use script::{Script, ScriptError, parse_script};

/// A storage the runner can load test data into and wipe.
pub trait TestStorage: Queryable {
    /// Adds float samples (oldest first) to the series `labels`.
    fn load(&self, labels: &Labels, samples: &[Sample]) -> Result<(), StoreError>;
    /// Adds native histogram samples (oldest first) to the series `labels`.
    fn load_histograms(&self, labels: &Labels, samples: &[HistogramSample]) -> Result<(), StoreError>;
    /// Removes all data (the `clear` command, and the start of every script).
    fn clear(&self) -> Result<(), StoreError>;
}

impl TestStorage for ModelStorage {
    fn load(&self, labels: &Labels, samples: &[Sample]) -> Result<(), StoreError> {
        self.append(labels, samples);
        Ok(())
    }

    fn load_histograms(&self, labels: &Labels, samples: &[HistogramSample]) -> Result<(), StoreError> {
        self.append_histograms(labels, samples);
        Ok(())
    }

    fn clear(&self) -> Result<(), StoreError> {
        ModelStorage::clear(self);
        Ok(())
    }
}

impl TestStorage for Store {
    /// Appends through the store's normal path; samples the store rejects (out of order,
    /// conflicting duplicates) make the load fail, since upstream's cases assume all are kept.
    fn load(&self, labels: &Labels, samples: &[Sample]) -> Result<(), StoreError> {
        let outcome = self.append(&[Series::new(labels.clone(), samples.to_vec())])?;
        if outcome.rejected() > 0 {
            return Err(StoreError::Other(format!(
                "the store rejected {} of {} samples of {labels}: {outcome:?}",
                outcome.rejected(),
                samples.len()
            )));
        }
        Ok(())
    }

    fn load_histograms(&self, labels: &Labels, samples: &[HistogramSample]) -> Result<(), StoreError> {
        let outcome = self.append_histograms(labels, samples)?;
        if outcome.rejected() > 0 {
            return Err(StoreError::Other(format!(
                "the store rejected {} of {} histogram samples of {labels}: {outcome:?}",
                outcome.rejected(),
                samples.len()
            )));
        }
        Ok(())
    }

    fn clear(&self) -> Result<(), StoreError> {
        Store::clear(self);
        Ok(())
    }
}

/// Upstream's `DefaultMaxSamplesPerQuery`.
pub const DEFAULT_MAX_SAMPLES_PER_QUERY: usize = 10_000;

/// The engine settings upstream's test engine uses (`promqltest.NewTestEngine`).
pub fn test_engine_options() -> EngineOptions {
    // The lookback is the default 5 m (upstream passes 0, meaning the default).
    EngineOptions {
        max_samples: DEFAULT_MAX_SAMPLES_PER_QUERY,
        timeout: Duration::from_secs(100),
        delayed_name_removal: true,
        default_subquery_step: Duration::from_secs(60),
        ..EngineOptions::default()
    }
}
