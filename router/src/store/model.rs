//! A naive in-memory [`Queryable`]: a sorted list of series scanned linearly. It is the
//! reference the embedded store is checked against in model tests, and a quick storage for
//! engine unit tests. Not for production: every query scans everything.

use super::{
    AppendOutcome, HistogramSample, HistogramSeries, Queryable, SelectedSeries, StoreError, matches_all,
    merge_selected,
};
use harrier_telemetry::model::{Labels, Sample, Series};
use promql_parser::label::Matcher;
use std::collections::BTreeMap;
use std::sync::RwLock;

/// Series by labels, samples oldest first.
#[derive(Debug, Default)]
pub struct ModelStorage {
    series: RwLock<BTreeMap<Labels, Vec<Sample>>>,
    histograms: RwLock<HistogramSeries>,
}

impl ModelStorage {
    pub fn new() -> Self {
        ModelStorage::default()
    }

    /// Adds samples to a series, keeping its samples sorted by timestamp; a sample with a
    /// timestamp already present replaces the old one.
    pub fn append(&self, labels: &Labels, samples: &[Sample]) {
        let mut all = self.series.write().unwrap_or_else(|p| p.into_inner());
        let stored = all.entry(labels.clone()).or_default();
        for sample in samples {
            match stored.binary_search_by_key(&sample.timestamp_ms, |s| s.timestamp_ms) {
                Ok(i) => stored[i] = *sample,
                Err(i) => stored.insert(i, *sample),
            }
        }
    }

    /// Adds native histogram samples (oldest first, after the series' last one) to a series.
    pub fn append_histograms(&self, labels: &Labels, samples: &[HistogramSample]) -> AppendOutcome {
        self.histograms.write().unwrap_or_else(|p| p.into_inner()).append(labels, samples, None)
    }

    /// Removes every series.
    pub fn clear(&self) {
        self.series.write().unwrap_or_else(|p| p.into_inner()).clear();
        self.histograms.write().unwrap_or_else(|p| p.into_inner()).clear();
    }

    fn histogram_labels(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<Labels> {
        let histograms = self.histograms.read().unwrap_or_else(|p| p.into_inner());
        histograms.select(matchers, mint, maxt).into_iter().map(|(labels, _)| labels).collect()
    }

    fn matching(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<Series> {
        let all = self.series.read().unwrap_or_else(|p| p.into_inner());
        all.iter()
            .filter(|(labels, _)| matches_all(labels, matchers))
            .filter_map(|(labels, samples)| {
                let in_range: Vec<Sample> = samples
                    .iter()
                    .filter(|s| s.timestamp_ms >= mint && s.timestamp_ms <= maxt)
                    .copied()
                    .collect();
                (!in_range.is_empty()).then(|| Series::new(labels.clone(), in_range))
            })
            .collect()
    }
}

impl Queryable for ModelStorage {
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<Series>, StoreError> {
        Ok(self.matching(matchers, mint, maxt))
    }

    fn select_series(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<SelectedSeries>, StoreError> {
        let floats = self.matching(matchers, mint, maxt);
        let histograms =
            self.histograms.read().unwrap_or_else(|p| p.into_inner()).select(matchers, mint, maxt);
        Ok(merge_selected(floats, histograms))
    }

    fn series(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<Labels>, StoreError> {
        let mut series: Vec<Labels> =
            self.matching(matchers, mint, maxt).into_iter().map(|s| s.labels).collect();
        series.extend(self.histogram_labels(matchers, mint, maxt));
        series.sort();
        series.dedup();
        Ok(series)
    }

    fn label_names(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<String>, StoreError> {
        let mut names: Vec<String> = self
            .matching(matchers, mint, maxt)
            .into_iter()
            .map(|s| s.labels)
            .chain(self.histogram_labels(matchers, mint, maxt))
            .flat_map(|labels| labels.iter().map(|l| l.name.to_string()).collect::<Vec<_>>())
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>, StoreError> {
        let mut values: Vec<String> = self
            .matching(matchers, mint, maxt)
            .into_iter()
            .map(|s| s.labels)
            .chain(self.histogram_labels(matchers, mint, maxt))
            .filter_map(|labels| labels.get(name).filter(|v| !v.is_empty()).map(str::to_string))
            .collect();
        values.sort();
        values.dedup();
        Ok(values)
    }
}
