//! One target's scrape loop, as Prometheus's `scrape/scrape.go` runs it.
//!
//! The first scrape waits for the target's offset (a phase derived from a hash of the target,
//! see [`Target::offset`]), then the loop scrapes every interval, skipping ticks it missed.
//! Each scrape:
//!
//! 1. GETs the URL with Prometheus's headers (`Accept` from the job's scrape protocols,
//!    `Accept-Encoding: gzip` or `identity`, `X-Prometheus-Scrape-Timeout-Seconds`, the
//!    configured credentials) within the timeout; anything but `200 OK` fails. The body is read
//!    as a stream, decompressed, and the scrape fails once it reaches `body_size_limit`.
//!    Plain-`http` targets of jobs without a proxy go through a lean hyper-util client with
//!    small fixed read buffers ([`super::plain_http`]); the rest (and redirects) through the
//!    job's reqwest client.
//! 2. Parses it; for each sample builds the final labels (target labels merged with
//!    honor_labels semantics; in one pass over the parsed labels when they come sorted, which
//!    is cheaper than looking a stored label set up) and finds the series in the cache by the
//!    labels' hash, checking new series against the label limits; jobs with
//!    `metric_relabel_configs` look the raw series text up in the cache instead, to relabel
//!    each series once (see the cache's module docs). Applies honor_timestamps and counts
//!    `sample_limit`.
//! 3. Adds staleness markers (at the scrape's timestamp) for series that disappeared (their
//!    labels rebuilt from the kept body of an earlier scrape when the cache stores none), and the
//!    report series `up`, `scrape_duration_seconds`, `scrape_samples_scraped`,
//!    `scrape_samples_post_metric_relabeling`, `scrape_series_added` (and with
//!    `extra_scrape_metrics`: `scrape_timeout_seconds`, `scrape_sample_limit`,
//!    `scrape_body_size_bytes`).
//! 4. Sends the whole scrape as one batch, by value, and keeps the body (compressed) when it
//!    holds series the kept one lacks.
//!
//! A failed scrape (connection, timeout, status, size, parse error, invalid label names, a
//! limit) delivers none of its samples: `up` is 0, every series of the previous scrape goes
//! stale, and a warning names the target and the error. `scrape_duration_seconds` covers the
//! fetch, the parsing and the appending, as in Prometheus.
//!
//! Stopping (see [`LoopStop`]): when the target disappears from discovery or its job is removed
//! the loop sends staleness markers for all its series, report series included. On agent
//! shutdown it sends none (Prometheus sends none when its context is cancelled: a restart must
//! not mark every series stale), and when a reload only changes the target's hidden labels the
//! loop hands its cache to the loop that replaces it instead (Prometheus's `restartLoops`).
//!
//! Samples without a timestamp get the scrape's start time; with `honor_timestamps: false`
//! every sample does. Series with explicit timestamps get staleness markers only with
//! `track_timestamps_staleness: true`. Like the Prometheus agent's appender, a sample is dropped
//! (and counted in `harrier_agent_scrape_samples_dropped_total`) when its timestamp is not newer
//! than the last one sent for its series, or more than 10 minutes in the future; the same
//! series twice in one scrape keeps the first and still counts in
//! `scrape_samples_post_metric_relabeling`.

use super::cache::{Admission, BodyCodec, BuiltAdmission, Lookup, PreviousBody, ScrapeCache};
use super::job::{JobSettings, Limits};
use super::metrics::ScrapeMetrics;
use super::plain_http::{self, PlainError, PlainResponse};
use super::target::Target;
use crate::http_client::{self, HttpClientError};
use crate::relabel::{NameValidation, is_legacy_label_name};
use crate::sinks::MetricsFanout;
use harrier_telemetry::exposition::{Format, ParseError, Parser};
use harrier_telemetry::model::{self, Labels, METRIC_NAME, PackedSamples, Sample};
use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The job-wide state every loop of a job watches: the current settings (a reload swaps them
/// without restarting loops) and a forced failure (the job exceeds `target_limit`).
#[derive(Debug)]
pub(crate) struct JobState {
    pub settings: Arc<JobSettings>,
    pub forced_error: Option<String>,
}

/// Why a scrape failed. Messages follow Prometheus's.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ScrapeFailure {
    #[error("{0}")]
    Http(String),
    #[error("scrape timed out after {0:?}")]
    Timeout(Duration),
    #[error("server returned HTTP status {0}")]
    Status(String),
    #[error("body size limit exceeded")]
    BodySizeLimit,
    #[error("{0}")]
    Parse(ParseError),
    #[error("sample limit exceeded")]
    SampleLimit,
    #[error("label_limit exceeded (metric: {metric}, number of labels: {count}, limit: {limit})")]
    LabelLimit { metric: String, count: usize, limit: u64 },
    #[error(
        "label_name_length_limit exceeded (metric: {metric}, label name: {name}, length: {length}, limit: {limit})"
    )]
    LabelNameLengthLimit { metric: String, name: String, length: usize, limit: u64 },
    #[error(
        "label_value_length_limit exceeded (metric: {metric}, label name: {name}, value: {value:?}, length: {length}, limit: {limit})"
    )]
    LabelValueLengthLimit { metric: String, name: String, value: String, length: usize, limit: u64 },
    #[error("missing metric name (__name__ label)")]
    MissingMetricName,
    #[error("invalid metric name or label names: {0}")]
    InvalidLabels(String),
    #[error("{0}")]
    Auth(HttpClientError),
    #[error("{0}")]
    Forced(String),
}

impl ScrapeFailure {
    /// The `reason` label of `harrier_agent_scrape_failures_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            ScrapeFailure::Http(_) => "http",
            ScrapeFailure::Timeout(_) => "timeout",
            ScrapeFailure::Status(_) => "status",
            ScrapeFailure::BodySizeLimit => "body_size_limit",
            ScrapeFailure::Parse(_) | ScrapeFailure::MissingMetricName => "parse",
            ScrapeFailure::SampleLimit => "sample_limit",
            ScrapeFailure::LabelLimit { .. }
            | ScrapeFailure::LabelNameLengthLimit { .. }
            | ScrapeFailure::LabelValueLengthLimit { .. } => "label_limit",
            ScrapeFailure::InvalidLabels(_) => "invalid_labels",
            ScrapeFailure::Auth(_) => "auth",
            ScrapeFailure::Forced(_) => "target_limit",
        }
    }
}

/// Prometheus's `%.50s`: at most 50 characters.
fn clip(s: &str) -> String {
    s.chars().take(50).collect()
}

/// An error and its causes, `: `-joined (reqwest's own message omits the cause).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

/// The label limits of Prometheus's `verifyLabelLimits`, checked on a final label set.
fn verify_label_limits(labels: &Labels, limits: &Limits) -> Result<(), ScrapeFailure> {
    let metric = || clip(labels.metric_name().unwrap_or(""));
    if limits.label > 0 && labels.len() as u64 > limits.label {
        return Err(ScrapeFailure::LabelLimit { metric: metric(), count: labels.len(), limit: limits.label });
    }
    for l in labels {
        if limits.label_name_length > 0 && l.name.len() as u64 > limits.label_name_length {
            return Err(ScrapeFailure::LabelNameLengthLimit {
                metric: metric(),
                name: clip(l.name),
                length: l.name.len(),
                limit: limits.label_name_length,
            });
        }
        if limits.label_value_length > 0 && l.value.len() as u64 > limits.label_value_length {
            return Err(ScrapeFailure::LabelValueLengthLimit {
                metric: metric(),
                name: clip(l.name),
                value: clip(l.value),
                length: l.value.len(),
                limit: limits.label_value_length,
            });
        }
    }
    Ok(())
}

/// Prometheus's legacy metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
fn is_legacy_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'A'..=b'Z' | b'_' | b':'))
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

/// Prometheus's `Labels.IsValid`: every label name valid under `names` and the metric name valid
/// (values are always valid UTF-8 here).
pub(crate) fn labels_are_valid(labels: &Labels, names: NameValidation) -> bool {
    labels.iter().all(|l| {
        let name_ok = match names {
            NameValidation::Legacy => is_legacy_label_name(l.name),
            NameValidation::Utf8 => !l.name.is_empty(),
        };
        let metric_ok = l.name != METRIC_NAME
            || match names {
                NameValidation::Legacy => is_legacy_metric_name(l.value),
                NameValidation::Utf8 => !l.value.is_empty(),
            };
        name_ok && metric_ok
    })
}

/// A sample's labels merged with the target's (Prometheus's `mutateSampleLabels`), then
/// metric-relabeled. `None` when relabeling drops the series.
pub(crate) fn sample_labels<'a>(
    sample: impl Iterator<Item = (&'a str, &'a str)>,
    target: &Labels,
    settings: &JobSettings,
) -> Option<Labels> {
    // Collect the pairs first and pack once (a cache miss builds each series once).
    let sample: Vec<(&str, &str)> = sample.collect();
    let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(sample.len() + target.len());
    let mut exported: Vec<(String, &str)> = Vec::new();
    if settings.honor_labels {
        pairs.extend(sample.iter().copied());
        pairs.extend(
            target.iter().map(|t| (t.name, t.value)).filter(|(n, _)| !sample.iter().any(|(s, _)| s == n)),
        );
    } else {
        // Target labels win; a sample label they override moves to `exported_<name>` (more
        // prefixes until the name is free), shortest names first, as Prometheus does.
        let mut conflicts: Vec<(&str, &str)> = Vec::new();
        for &(name, value) in &sample {
            if target.get(name).is_some() {
                if !value.is_empty() {
                    conflicts.push((name, value));
                }
            } else {
                pairs.push((name, value));
            }
        }
        pairs.extend(target.iter().map(|t| (t.name, t.value)));
        conflicts.sort_by_key(|(name, _)| name.len());
        for (name, value) in conflicts {
            let mut name = name.to_string();
            loop {
                name.insert_str(0, "exported_");
                let taken = pairs.iter().any(|(n, v)| *n == name && !v.is_empty())
                    || exported.iter().any(|(n, _)| *n == name);
                if !taken {
                    exported.push((name, value));
                    break;
                }
            }
        }
    }
    let mut labels =
        Labels::from_pairs(pairs.into_iter().chain(exported.iter().map(|(n, v)| (n.as_str(), *v))));
    if !crate::relabel::process(&mut labels, &settings.metric_relabel_rules) || labels.is_empty() {
        return None;
    }
    Some(labels)
}

/// A target label in its packed encoding, decoded once per loop for [`build_fast`].
#[derive(Debug)]
struct TargetField {
    name: Box<str>,
    encoded: Box<[u8]>,
}

fn target_fields(labels: &Labels) -> Vec<TargetField> {
    labels.iter_encoded().map(|(l, raw)| TargetField { name: l.name.into(), encoded: raw.into() }).collect()
}

/// The final labels of a sample of a job without metric relabeling, packed into `out`
/// ([`Labels::encode_label_into`]): `pairs` (`__name__` and the parsed labels) sorted, merged
/// with the target's labels. Returns false, leaving the work to [`sample_labels`], in the rare
/// cases that need more than a merge: a sample label named like a target label (honor_labels
/// or `exported_` renaming), an empty value, or one name twice.
fn build_fast(pairs: &mut [(&str, Cow<'_, str>)], target: &[TargetField], out: &mut Vec<u8>) -> bool {
    sort_pairs(pairs);
    out.clear();
    let mut target = target.iter().peekable();
    let mut previous: Option<&str> = None;
    for (name, value) in pairs.iter() {
        if value.is_empty() || previous == Some(*name) {
            return false;
        }
        previous = Some(name);
        while let Some(t) = target.peek() {
            match cmp_names(&t.name, name) {
                std::cmp::Ordering::Less => out.extend_from_slice(&t.encoded),
                std::cmp::Ordering::Equal => return false,
                std::cmp::Ordering::Greater => break,
            }
            target.next();
        }
        Labels::encode_label_into(out, name, value);
    }
    for t in target {
        out.extend_from_slice(&t.encoded);
    }
    true
}

/// Sorts label pairs by name (an insertion sort: a sample has few labels, often nearly in
/// order).
fn sort_pairs(pairs: &mut [(&str, Cow<'_, str>)]) {
    for i in 1..pairs.len() {
        let mut j = i;
        while j > 0 && cmp_names(pairs[j - 1].0, pairs[j].0).is_gt() {
            pairs.swap(j - 1, j);
            j -= 1;
        }
    }
}

/// Orders two label names as `str`'s `Ord` does, deciding on the first byte inline when it
/// differs (most label names do), instead of a call to `memcmp`.
#[inline]
fn cmp_names(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.as_bytes().first(), b.as_bytes().first()) {
        (Some(x), Some(y)) if x != y => x.cmp(y),
        _ => a.cmp(b),
    }
}

/// [`build_fast`] in one pass over labels given in name order: no pairs are collected. Returns
/// false (`out` then holds garbage) when they are not in order (a name twice) or need
/// [`build_fast`]'s fallback.
fn build_streamed<'x>(
    metric: &str,
    labels: impl Iterator<Item = (&'x str, Cow<'x, str>)>,
    target: &[TargetField],
    out: &mut Vec<u8>,
) -> bool {
    struct Merge<'t, 'o> {
        target: &'t [TargetField],
        next: usize,
        out: &'o mut Vec<u8>,
    }
    impl Merge<'_, '_> {
        /// Emits the target labels below `name`, then `name`; false on a conflict.
        fn emit(&mut self, name: &str, value: &str) -> bool {
            if value.is_empty() {
                return false;
            }
            while let Some(t) = self.target.get(self.next) {
                match cmp_names(&t.name, name) {
                    std::cmp::Ordering::Less => self.out.extend_from_slice(&t.encoded),
                    std::cmp::Ordering::Equal => return false,
                    std::cmp::Ordering::Greater => break,
                }
                self.next += 1;
            }
            Labels::encode_label_into(self.out, name, value);
            true
        }
    }
    out.clear();
    let mut merge = Merge { target, next: 0, out };
    let mut name_pending = true;
    let mut last: Option<&'x str> = None;
    for (name, value) in labels {
        if last.is_some_and(|l| cmp_names(l, name).is_ge()) {
            return false;
        }
        if name_pending && cmp_names(METRIC_NAME, name).is_le() {
            if METRIC_NAME == name || !merge.emit(METRIC_NAME, metric) {
                return false;
            }
            name_pending = false;
        }
        if !merge.emit(name, &value) {
            return false;
        }
        last = Some(name);
    }
    if name_pending && !merge.emit(METRIC_NAME, metric) {
        return false;
    }
    for t in &target[merge.next..] {
        merge.out.extend_from_slice(&t.encoded);
    }
    true
}

/// [`build_streamed`] over a sample's labels (`__name__` excluded), sorted here first: most
/// exporters write them unsorted (client libraries keep declaration order, and histograms put
/// `le` last). False when [`build_streamed`] is.
fn build_ordered(
    metric: &str,
    pairs: &mut [(&str, Cow<'_, str>)],
    fields: &[TargetField],
    out: &mut Vec<u8>,
) -> bool {
    sort_pairs(pairs);
    let labels = pairs.iter().map(|(name, value)| (*name, Cow::Borrowed(value.as_ref())));
    build_streamed(metric, labels, fields, out)
}

/// An empty vector of borrowed pairs reusing `v`'s allocation for another lifetime (the pairs of
/// each sample borrow the parser only until it advances).
// `filter` would keep the old lifetime: the `filter_map` is what changes the element type (the
// in-place collect then reuses the allocation).
#[allow(clippy::unnecessary_filter_map)]
fn recycle<'b>(mut v: Vec<(&str, Cow<'_, str>)>) -> Vec<(&'b str, Cow<'b, str>)> {
    v.clear();
    v.into_iter().filter_map(|_| None).collect()
}

/// A sample's final labels under `settings`: packed into `encoded` (`Ok(None)`) when
/// [`build_fast`] applies, else built by [`sample_labels`] (`Ok(Some)`); `Err(())` when metric
/// relabeling drops the series.
fn final_labels(
    pairs: &mut [(&str, Cow<'_, str>)],
    target: &Labels,
    fields: &[TargetField],
    settings: &JobSettings,
    encoded: &mut Vec<u8>,
) -> Result<Option<Labels>, ()> {
    if settings.metric_relabel_rules.is_empty() && build_fast(pairs, fields, encoded) {
        return Ok(None);
    }
    sample_labels(pairs.iter().map(|(n, v)| (*n, v.as_ref())), target, settings).map(Some).ok_or(())
}

/// Builds each sample's final labels in buffers kept between samples: [`build_streamed`]
/// when it applies, else [`final_labels`].
struct SampleLabels {
    /// The sample's labels as pairs (for [`build_ordered`] and [`final_labels`]), empty between
    /// samples.
    spare: Vec<(&'static str, Cow<'static, str>)>,
    /// The packed labels of the last sample built in one pass (`Ok(None)` from `build`).
    encoded: Vec<u8>,
}

impl SampleLabels {
    fn new() -> Self {
        SampleLabels { spare: Vec::with_capacity(16), encoded: Vec::with_capacity(256) }
    }

    /// The current sample's final labels: packed into [`SampleLabels::encoded`] (`Ok(None)`),
    /// or built (`Ok(Some)`); `Err(())` when metric relabeling drops the series. `streamed`
    /// allows the one-pass builder (jobs without metric relabeling, [`build_ordered`]).
    fn build(
        &mut self,
        parser: &Parser<'_>,
        target: &Target,
        fields: &[TargetField],
        settings: &JobSettings,
        streamed: bool,
    ) -> Result<Option<Labels>, ()> {
        let mut pairs = recycle(std::mem::take(&mut self.spare));
        pairs.extend(parser.labels());
        let built = if streamed && build_ordered(parser.metric_name(), &mut pairs, fields, &mut self.encoded)
        {
            Ok(None)
        } else {
            // `build_fast` puts `__name__` in its place.
            pairs.push((METRIC_NAME, Cow::Borrowed(parser.metric_name())));
            final_labels(&mut pairs, &target.public_labels, fields, settings, &mut self.encoded)
        };
        self.spare = recycle(pairs);
        built
    }

    fn encoded(&self) -> &[u8] {
        &self.encoded
    }
}

/// Samples a scrape appends between yields to the runtime: a few milliseconds of work, so that
/// a large target (kube-state-metrics, say) does not hold a worker thread (the agent may run on
/// one) away from other scrapes, the sinks and the health endpoints for its whole parse.
const SAMPLES_PER_YIELD: u64 = 4096;

/// Yields to the runtime every [`SAMPLES_PER_YIELD`] samples (`samples` counts them so far).
async fn yield_periodically(samples: u64) {
    if samples.is_multiple_of(SAMPLES_PER_YIELD) {
        tokio::task::yield_now().await;
    }
}

/// Counts of one scrape, for the report series.
#[derive(Debug, Default)]
struct ScrapeCounts {
    /// Samples parsed.
    total: u64,
    /// Samples left after metric relabeling (duplicates and dropped samples included).
    added: u64,
    /// Samples counted against `sample_limit` (duplicates excluded).
    appended: u64,
    /// Series new to the cache.
    series_added: u64,
    /// Samples dropped: same series twice, or the same timestamp as last sent.
    duplicate_timestamp: u64,
    /// Samples dropped: older than the last one sent for the series.
    out_of_order: u64,
    /// Samples dropped: more than [`MAX_AHEAD_MS`] after the scrape.
    too_far_in_future: u64,
}

/// How far ahead of the scrape an explicit timestamp may be (Prometheus's `maxAheadTime`).
const MAX_AHEAD_MS: i64 = 10 * 60 * 1000;

/// How a loop is told to stop, and whether it then sends its end-of-run staleness markers.
#[derive(Debug, Clone, Default)]
pub(crate) struct LoopStop {
    token: CancellationToken,
    silent: Arc<AtomicBool>,
}

impl LoopStop {
    /// Stops the loop; it marks all its series stale (the target or its job went away).
    pub fn stop_with_staleness(&self) {
        self.token.cancel();
    }

    /// Stops the loop without staleness markers (shutdown, or its cache moves to a successor).
    pub fn stop_silently(&self) {
        self.silent.store(true, Ordering::SeqCst);
        self.token.cancel();
    }

    pub async fn stopped(&self) {
        self.token.cancelled().await;
    }

    /// Whether the loop was stopped without staleness markers.
    pub fn is_silent(&self) -> bool {
        self.silent.load(Ordering::SeqCst)
    }
}

/// What a stopped loop leaves to a successor for the same public labels.
#[derive(Debug)]
pub(crate) struct LoopLegacy {
    cache: ScrapeCache,
    reported: usize,
}

/// The report series names, in the order they are sent.
const REPORT_NAMES: [&str; 5] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];
const EXTRA_REPORT_NAMES: [&str; 3] =
    ["scrape_timeout_seconds", "scrape_sample_limit", "scrape_body_size_bytes"];

/// The loop of one target.
pub(crate) struct ScrapeLoop {
    target: Target,
    state: watch::Receiver<Arc<JobState>>,
    settings: Arc<JobSettings>,
    fanout: MetricsFanout,
    metrics: ScrapeMetrics,
    cache: ScrapeCache,
    /// The label sets of the report series (`__name__` + target labels), REPORT_NAMES order,
    /// then EXTRA_REPORT_NAMES.
    report_labels: Vec<Labels>,
    /// How many report series the last scrape sent (they go stale when the loop ends).
    reported: usize,
    /// The target's public labels, decoded once for [`build_fast`].
    target_fields: Vec<TargetField>,
    /// Capacity hint for the next body.
    last_body_size: usize,
    /// Capacity hint for the label bytes of the next scrape's batch.
    last_batch_label_bytes: usize,
}

impl ScrapeLoop {
    pub fn new(
        target: Target,
        state: watch::Receiver<Arc<JobState>>,
        fanout: MetricsFanout,
        metrics: ScrapeMetrics,
    ) -> Self {
        let settings = Arc::clone(&state.borrow().settings);
        // Prometheus's mutateReportSampleLabels: target labels win over the report's own.
        let report_labels = REPORT_NAMES
            .iter()
            .chain(EXTRA_REPORT_NAMES.iter())
            .map(|name| {
                let mut labels = target.public_labels.clone();
                labels.set(METRIC_NAME, *name);
                labels
            })
            .collect();
        let target_fields = target_fields(&target.public_labels);
        ScrapeLoop {
            target_fields,
            target,
            state,
            settings,
            fanout,
            metrics,
            cache: ScrapeCache::default(),
            report_labels,
            reported: 0,
            last_body_size: 0,
            last_batch_label_bytes: 0,
        }
    }

    /// Takes over the cache (staleness tracking, timestamps) of the loop this one replaces.
    pub fn inherit(&mut self, legacy: LoopLegacy) {
        self.cache = legacy.cache;
        // The job's settings may have changed: cached label results may no longer hold.
        self.cache.clear_entries();
        self.reported = legacy.reported;
    }

    /// Scrapes until `stop`, then (unless stopped silently) marks every series the target
    /// produced stale. Returns the loop's cache for a successor.
    pub async fn run(mut self, stop: LoopStop, offset_seed: u64) -> LoopLegacy {
        let interval = self.target.interval;
        let now_ns = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let offset = self.target.offset(interval, offset_seed, now_ns);
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + offset, interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                biased;
                _ = stop.stopped() => break,
                _ = ticker.tick() => {}
            }
            tokio::select! {
                biased;
                _ = stop.stopped() => break,
                _ = self.scrape_and_report() => {}
            }
        }
        // A scrape cancelled by the stop left what it recorded in the cache.
        self.cache.abandon_unfinished();
        if !stop.is_silent() {
            self.end_of_run_staleness();
        }
        LoopLegacy { cache: self.cache, reported: self.reported }
    }

    /// One scrape, delivered as one batch.
    pub async fn scrape_and_report(&mut self) {
        let state = Arc::clone(&self.state.borrow_and_update());
        if !Arc::ptr_eq(&state.settings, &self.settings) {
            // New settings (a reload): cached label results may no longer hold.
            self.settings = Arc::clone(&state.settings);
            self.cache.clear_entries();
        }
        let settings = Arc::clone(&self.settings);
        let started = Instant::now();
        let timestamp = model::now_ms();
        let fetched = match &state.forced_error {
            Some(error) => Err(ScrapeFailure::Forced(error.clone())),
            None => self.fetch(&settings).await,
        };
        let body_size: i64 = match &fetched {
            Ok((body, _)) => body.len() as i64,
            Err(ScrapeFailure::BodySizeLimit) => -1,
            Err(_) => 0,
        };

        // Room for as many series and label bytes as the last scrape produced.
        let mut batch = PackedSamples::with_capacity(
            self.cache.series_count() + self.report_labels.len(),
            self.last_batch_label_bytes,
        );
        let mut counts = ScrapeCounts::default();
        let mut scraped = None;
        let result = match fetched {
            Ok((body, content_type)) => {
                self.last_body_size = body.len();
                let format = Format::from_content_type(content_type.as_deref());
                let appended =
                    self.append(&body, format, timestamp, &settings, &mut batch, &mut counts).await;
                scraped = Some((body, format));
                appended
            }
            Err(failure) => Err(failure),
        };
        let mut stale = match &result {
            Ok(()) => self.cache.finish_success(timestamp),
            Err(_) => {
                // Only report series and staleness markers follow: no need for the room.
                batch = PackedSamples::new();
                self.cache.finish_failure(timestamp)
            }
        };
        self.recover_stale_labels(&mut stale);
        // Prometheus reports the time until the end of the append.
        let duration = started.elapsed();
        let delivered = batch.len() as u64;
        for labels in stale {
            batch.push(&labels, Sample { timestamp_ms: timestamp, value: model::stale_nan() });
        }
        let mut report = vec![
            if result.is_ok() { 1.0 } else { 0.0 },
            duration.as_secs_f64(),
            counts.total as f64,
            counts.added as f64,
            counts.series_added as f64,
        ];
        if settings.extra_scrape_metrics {
            report.extend([
                self.target.timeout.as_secs_f64(),
                settings.limits.sample as f64,
                body_size as f64,
            ]);
        }
        // Report series the previous scrape sent but this one does not (extra metrics
        // switched off by a reload) go stale.
        for labels in self.report_labels.iter().take(self.reported).skip(report.len()) {
            batch.push(labels, Sample { timestamp_ms: timestamp, value: model::stale_nan() });
        }
        for (labels, value) in self.report_labels.iter().zip(&report) {
            batch.push(labels, Sample { timestamp_ms: timestamp, value: *value });
        }
        self.reported = report.len();
        let failure = result.err();
        if let Some(error) = &failure {
            tracing::warn!(job = %settings.job_name, target = %self.target.url, error = %error, "scrape failed");
        }
        self.last_batch_label_bytes = batch.label_bytes();
        self.fanout.send_packed(batch);
        // The body of a successful scrape stays (compressed) for the staleness markers of
        // series that later scrapes lack, unless the kept one already holds all its series;
        // jobs with metric relabeling keep labels instead.
        if failure.is_none() {
            if !settings.metric_relabel_rules.is_empty() {
                self.cache.set_previous(None);
            } else if !self.cache.previous_covers_last_scrape() {
                if let Some((body, format)) = scraped {
                    let codec = BodyCodec::for_successor(self.cache.previous());
                    self.cache.set_previous(PreviousBody::new(&body, format, Arc::clone(&settings), codec));
                }
            } else {
                self.cache.settle_previous();
            }
        }
        self.metrics.record_scrape(
            &settings.job_name,
            failure.as_ref().map(ScrapeFailure::reason),
            delivered,
            duration.as_secs_f64(),
        );
        if failure.is_none() {
            for (reason, count) in [
                ("duplicate_timestamp", counts.duplicate_timestamp),
                ("out_of_order", counts.out_of_order),
                ("too_far_in_future", counts.too_far_in_future),
            ] {
                self.metrics.record_dropped(&settings.job_name, reason, count);
            }
        }
    }

    /// The HTTP part: the body (decompressed) and its Content-Type.
    async fn fetch(&self, settings: &JobSettings) -> Result<(Vec<u8>, Option<String>), ScrapeFailure> {
        use reqwest::header::{ACCEPT, ACCEPT_ENCODING, CONTENT_TYPE, USER_AGENT};
        let timeout = self.target.timeout;
        let request = settings
            .client
            .get(self.target.url.clone())
            .header(ACCEPT, &settings.accept_header)
            .header(ACCEPT_ENCODING, if settings.enable_compression { "gzip" } else { "identity" })
            .header(USER_AGENT, http_client::USER_AGENT)
            .header("X-Prometheus-Scrape-Timeout-Seconds", timeout.as_secs_f64().to_string())
            .timeout(timeout);
        let request = http_client::apply_auth(request, &settings.http).await.map_err(ScrapeFailure::Auth)?;
        let limit = settings.limits.body_size;
        let hint = self.last_body_size;
        let plain = settings.plain_client.as_ref().filter(|_| self.target.url.scheme() == "http");
        let exchange = async move {
            // Plain http: through the lean client (see `plain_http`); reqwest only for a
            // redirect.
            let request = match plain {
                Some(client) => {
                    let Some(fallback) = request.try_clone() else {
                        return Err(ScrapeFailure::Http("the scrape request cannot be repeated".into()));
                    };
                    let built = request.build().map_err(|e| ScrapeFailure::Http(error_chain(&e)))?;
                    match plain_http::fetch(client, &built, limit, hint, error_chain).await {
                        Ok(PlainResponse::Body(body, content_type)) => return Ok((body, content_type)),
                        Ok(PlainResponse::Fallback) => fallback,
                        Err(PlainError::Request(message)) => return Err(ScrapeFailure::Http(message)),
                        Err(PlainError::Status(status)) => return Err(ScrapeFailure::Status(status)),
                        Err(PlainError::BodySizeLimit) => return Err(ScrapeFailure::BodySizeLimit),
                        Err(e @ PlainError::Gzip(_)) => return Err(ScrapeFailure::Http(e.to_string())),
                    }
                }
                None => request,
            };
            let to_failure = |e: reqwest::Error| {
                if e.is_timeout() {
                    ScrapeFailure::Timeout(timeout)
                } else {
                    ScrapeFailure::Http(error_chain(&e))
                }
            };
            let mut response = request.send().await.map_err(to_failure)?;
            if response.status() != reqwest::StatusCode::OK {
                return Err(ScrapeFailure::Status(response.status().to_string()));
            }
            let content_type =
                response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
            let mut body = Vec::with_capacity(hint + hint / 8);
            while let Some(chunk) = response.chunk().await.map_err(to_failure)? {
                body.extend_from_slice(&chunk);
                // Prometheus reads at most the limit and fails when it got that many bytes.
                if limit > 0 && body.len() as u64 >= limit {
                    return Err(ScrapeFailure::BodySizeLimit);
                }
            }
            Ok((body, content_type))
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(ScrapeFailure::Timeout(timeout)),
        }
    }

    /// Adds to `stale` the labels of the series the cache marked stale without stored labels,
    /// rebuilt from the previous successful scrape's body (which produced them all).
    fn recover_stale_labels(&mut self, stale: &mut Vec<Labels>) {
        let unresolved = self.cache.take_unresolved();
        if unresolved.is_empty() {
            return;
        }
        let Some(previous) = self.cache.previous() else {
            tracing::warn!(target = %self.target.url, series = unresolved.len(), "no previous scrape to take the labels of vanished series from; their staleness markers are lost");
            return;
        };
        let body = match previous.body() {
            Ok(body) => body,
            Err(error) => {
                tracing::warn!(target = %self.target.url, %error, series = unresolved.len(), "cannot decompress the previous scrape; the staleness markers of vanished series are lost");
                return;
            }
        };
        let mut wanted: HashSet<u64> = unresolved.into_iter().collect();
        let mut parser = Parser::new(&body, previous.format);
        let mut builder = SampleLabels::new();
        let streamed = previous.settings.metric_relabel_rules.is_empty();
        while !wanted.is_empty() && matches!(parser.advance(), Ok(true)) {
            let built =
                builder.build(&parser, &self.target, &self.target_fields, &previous.settings, streamed);
            let labels = match built {
                Ok(None) => {
                    if !wanted.remove(&self.cache.hash_encoded(builder.encoded())) {
                        continue;
                    }
                    Labels::from_encoded(builder.encoded())
                }
                Ok(Some(labels)) => {
                    if !wanted.remove(&self.cache.hash_labels(&labels)) {
                        continue;
                    }
                    labels
                }
                Err(()) => continue,
            };
            stale.push(labels);
        }
        if !wanted.is_empty() {
            tracing::debug!(target = %self.target.url, series = wanted.len(), "vanished series not found in the previous scrape");
        }
    }

    /// Parses `body` into `batch`. On error the caller discards the batch.
    async fn append(
        &mut self,
        body: &[u8],
        format: Format,
        timestamp: i64,
        settings: &JobSettings,
        batch: &mut PackedSamples,
        counts: &mut ScrapeCounts,
    ) -> Result<(), ScrapeFailure> {
        let mut parser = Parser::new(body, format);
        if settings.metric_relabel_rules.is_empty() {
            return self.append_built(&mut parser, timestamp, settings, batch, counts).await;
        }
        let mut sample_limit_exceeded = false;
        let track_explicit = settings.track_timestamps_staleness;
        while parser.advance().map_err(ScrapeFailure::Parse)? {
            counts.total += 1;
            yield_periodically(counts.total).await;
            let explicit = if settings.honor_timestamps { parser.timestamp_ms() } else { None };
            let key = parser.series_key();
            let (hash, built) = match self.cache.lookup(key) {
                Lookup::Dropped => continue,
                Lookup::Kept(hash) => (hash, None),
                Lookup::Miss => {
                    let mut pairs: Vec<(&str, Cow<'_, str>)> = Vec::with_capacity(8);
                    pairs.push((METRIC_NAME, Cow::Borrowed(parser.metric_name())));
                    pairs.extend(parser.labels());
                    let built = sample_labels(
                        pairs.iter().map(|(n, v)| (*n, v.as_ref())),
                        &self.target.public_labels,
                        settings,
                    );
                    let Some(labels) = built else {
                        self.cache.insert_dropped(key);
                        continue;
                    };
                    if labels.metric_name().is_none() {
                        return Err(ScrapeFailure::MissingMetricName);
                    }
                    if !labels_are_valid(&labels, settings.name_validation) {
                        return Err(ScrapeFailure::InvalidLabels(labels.to_string()));
                    }
                    verify_label_limits(&labels, &settings.limits)?;
                    (self.cache.hash_labels(&labels), Some(labels))
                }
            };
            // Prometheus counts every sample left after relabeling, duplicates included.
            counts.added += 1;
            // Two lines for one series at the scrape's timestamp: keep the first, as the
            // TSDB would reject the second. Not counted against the sample limit.
            if explicit.is_none() && self.cache.is_present(hash) {
                counts.duplicate_timestamp += 1;
                continue;
            }
            counts.appended += 1;
            if settings.limits.sample > 0 && counts.appended > settings.limits.sample {
                sample_limit_exceeded = true;
                continue;
            }
            let sample_ts = explicit.unwrap_or(timestamp);
            if sample_ts > timestamp.saturating_add(MAX_AHEAD_MS) {
                counts.too_far_in_future += 1;
                continue;
            }
            let track = explicit.is_none() || track_explicit;
            match self.cache.admit(key, hash, built, sample_ts, timestamp, track) {
                Admission::Accepted { labels, new } => {
                    if new {
                        counts.series_added += 1;
                    }
                    batch.push(labels, Sample { timestamp_ms: sample_ts, value: parser.value() });
                }
                Admission::DuplicateTimestamp => counts.duplicate_timestamp += 1,
                Admission::OutOfOrder => counts.out_of_order += 1,
            }
        }
        if sample_limit_exceeded {
            return Err(ScrapeFailure::SampleLimit);
        }
        Ok(())
    }

    /// Parses into `batch` for a job without metric relabeling: each sample's final labels are
    /// built afresh and found in the cache by their hash (see the cache's module docs).
    async fn append_built(
        &mut self,
        parser: &mut Parser<'_>,
        timestamp: i64,
        settings: &JobSettings,
        batch: &mut PackedSamples,
        counts: &mut ScrapeCounts,
    ) -> Result<(), ScrapeFailure> {
        let mut sample_limit_exceeded = false;
        let track_explicit = settings.track_timestamps_staleness;
        let mut builder = SampleLabels::new();
        while parser.advance().map_err(ScrapeFailure::Parse)? {
            counts.total += 1;
            yield_periodically(counts.total).await;
            let explicit = if settings.honor_timestamps { parser.timestamp_ms() } else { None };
            let built = builder.build(parser, &self.target, &self.target_fields, settings, true);
            let (hash, mut labels) = match built {
                Ok(None) => (self.cache.hash_encoded(builder.encoded()), None),
                Ok(Some(labels)) => (self.cache.hash_labels(&labels), Some(labels)),
                // Not without metric relabeling, but an empty label set is dropped too.
                Err(()) => continue,
            };
            let touched = self.cache.touch(hash);
            if !touched.cached {
                // New to the cache: check the labels once.
                let labels = labels.get_or_insert_with(|| Labels::from_encoded(builder.encoded()));
                if labels.metric_name().is_none() {
                    return Err(ScrapeFailure::MissingMetricName);
                }
                if !labels_are_valid(labels, settings.name_validation) {
                    return Err(ScrapeFailure::InvalidLabels(labels.to_string()));
                }
                verify_label_limits(labels, &settings.limits)?;
            }
            // Prometheus counts every sample left after relabeling, duplicates included.
            counts.added += 1;
            // Two lines for one series at the scrape's timestamp: keep the first.
            if explicit.is_none() && touched.present {
                counts.duplicate_timestamp += 1;
                continue;
            }
            counts.appended += 1;
            if settings.limits.sample > 0 && counts.appended > settings.limits.sample {
                sample_limit_exceeded = true;
                continue;
            }
            let sample_ts = explicit.unwrap_or(timestamp);
            if sample_ts > timestamp.saturating_add(MAX_AHEAD_MS) {
                counts.too_far_in_future += 1;
                continue;
            }
            let track = explicit.is_none() || track_explicit;
            match self.cache.admit_built(hash, sample_ts, timestamp, track) {
                BuiltAdmission::Accepted { new } => {
                    if new {
                        counts.series_added += 1;
                    }
                    let sample = Sample { timestamp_ms: sample_ts, value: parser.value() };
                    match &labels {
                        Some(labels) => batch.push(labels, sample),
                        None => batch.push_encoded(builder.encoded(), sample),
                    }
                }
                BuiltAdmission::DuplicateTimestamp => counts.duplicate_timestamp += 1,
                BuiltAdmission::OutOfOrder => counts.out_of_order += 1,
            }
        }
        if sample_limit_exceeded {
            return Err(ScrapeFailure::SampleLimit);
        }
        Ok(())
    }

    /// The loop is ending: every series it produced, report series included, goes stale.
    fn end_of_run_staleness(&mut self) {
        let timestamp = model::now_ms();
        let stale = Sample { timestamp_ms: timestamp, value: model::stale_nan() };
        let mut labels = self.cache.finish_failure(timestamp);
        self.recover_stale_labels(&mut labels);
        let mut batch = PackedSamples::new();
        for labels in labels.iter().chain(self.report_labels.iter().take(self.reported)) {
            batch.push(labels, stale);
        }
        self.fanout.send_packed(batch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::scrape::config::ScrapeConfig;

    fn settings(honor_labels: bool) -> Arc<JobSettings> {
        let yaml =
            format!("job_name: j\nhonor_labels: {honor_labels}\nstatic_configs: [{{targets: ['x:1']}}]\n");
        let cfg: ScrapeConfig = yaml_serde::from_str(&yaml).unwrap();
        super::super::job::ScrapeJob::from_config(&cfg, &crate::config::GlobalConfig::default())
            .unwrap()
            .settings
    }

    #[test]
    fn label_name_order_is_str_order() {
        let names = ["", "a", "ab", "b", "B", "_", "__name__", "le", "lé", "ü", "Ü", "z\u{10348}", "\u{7f}"];
        for a in names {
            for b in names {
                assert_eq!(cmp_names(a, b), a.cmp(b), "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn pairs_sort_in_name_order() {
        let names = ["path", "le", "Zed", "method", "a", "le", "ü", "_x"];
        let mut expected = names.to_vec();
        expected.sort();
        let mut pairs: Vec<(&str, Cow<'_, str>)> = names.iter().map(|&n| (n, Cow::Borrowed("v"))).collect();
        sort_pairs(&mut pairs);
        assert_eq!(pairs.iter().map(|p| p.0).collect::<Vec<_>>(), expected);
    }

    /// Every sample's labels through the one-pass builder (as written, then ordered), the
    /// sorting one and the general path: each that applies must give what the general path gives.
    #[test]
    fn fast_label_builders_agree_with_the_general_path() {
        let body = concat!(
            "a{b=\"1\",c=\"2\"} 1\n",
            "a{c=\"2\",b=\"1\"} 1\n",
            "A_upper{Zed=\"z\",b=\"1\"} 1\n",
            "m{instance=\"mine\",b=\"1\"} 1\n",
            "m{job=\"\",b=\"1\"} 1\n",
            "m{z=\"\"} 1\n",
            "e{v=\"q\\\"uote\\\\back\\nnl\"} 1\n",
            "u{v=\"ünï\"} 1\n",
            "# TYPE h histogram\n",
            "h_bucket{le=\"1\"} 1\n",
            "h_bucket{x=\"y\",le=\"+Inf\"} 1\n",
            "w{zz=\"1\",aa=\"2\",mm=\"3\"} 1\n",
            "{\"dotted.name\",\"x.y\"=\"1\"} 1\n",
        );
        let target = Labels::from_pairs([("instance", "x:1"), ("job", "j"), ("team", "t")]);
        let fields = target_fields(&target);
        for honor in [false, true] {
            let settings = settings(honor);
            let mut parser = Parser::new(body.as_bytes(), Format::PrometheusText);
            let mut samples = 0;
            let mut encoded = Vec::new();
            while parser.advance().unwrap() {
                samples += 1;
                let mut pairs: Vec<(&str, Cow<'_, str>)> =
                    vec![(METRIC_NAME, Cow::Borrowed(parser.metric_name()))];
                pairs.extend(parser.labels());
                let general = sample_labels(pairs.iter().map(|(n, v)| (*n, v.as_ref())), &target, &settings);
                let streamed = build_streamed(parser.metric_name(), parser.labels(), &fields, &mut encoded)
                    .then(|| Labels::from_encoded(&encoded));
                let mut labels: Vec<(&str, Cow<'_, str>)> = parser.labels().collect();
                let ordered = build_ordered(parser.metric_name(), &mut labels, &fields, &mut encoded)
                    .then(|| Labels::from_encoded(&encoded));
                let fast =
                    build_fast(&mut pairs, &fields, &mut encoded).then(|| Labels::from_encoded(&encoded));
                let line = parser.line();
                for built in [&streamed, &ordered, &fast].into_iter().flatten() {
                    assert_eq!(Some(built), general.as_ref(), "line {line}, honor_labels {honor}");
                }
                // Sorted input takes the one-pass path as it comes, any other after ordering;
                // a conflict takes none.
                match line {
                    1 | 3 | 7 | 8 | 10 => assert!(streamed.is_some() && ordered.is_some(), "line {line}"),
                    2 | 11 | 12 => assert!(streamed.is_none() && ordered.is_some(), "line {line}"),
                    4..=6 => {
                        assert!(streamed.is_none() && ordered.is_none() && fast.is_none(), "line {line}")
                    }
                    _ => {}
                }
            }
            assert_eq!(samples, 12);
        }
    }
}
