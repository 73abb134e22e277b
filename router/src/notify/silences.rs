//! Silences, with the semantics of Alertmanager's `silence` package.
//!
//! A silence is a set of label matchers and a time window; while it is *active* it mutes every
//! alert whose labels all its matchers match (a missing label reads as `""`).
//!
//! ## States
//! Taken from the store's [`Clock`] at each call: *pending* before `starts_at`, *expired* from
//! `ends_at` on, *active* in between. (Alertmanager, with nanosecond times, treats the instant
//! `ends_at` itself as still active; with millisecond times that would leave a silence expired
//! "now" muting for up to a millisecond, so here it is expired from `ends_at`.)
//!
//! ## Changes, as Alertmanager's `Silences.Set` / `Expire`
//! - A new silence (empty ID) gets a random UUID v4; a start in the past is moved to now.
//! - Validation (`validateSilence`): at least one matcher; not all matchers may match the empty
//!   string (`=""`, or a regex matching `""`; negative matchers never count as matching it);
//!   every label name non-empty and regexes valid; an end time, not before the start.
//!   Author and comment are free text (the v2 API requires the fields to be present).
//! - Setting an ID that does not exist is [`SilenceError::NotFound`].
//! - Setting an existing ID updates it in place when that does not rewrite history
//!   (`canUpdate`): same matchers, and either it is active, the start (in whole seconds) is
//!   unchanged and the new end is not in the past, or it is pending and the new start is not in
//!   the past. Otherwise a new silence with a new ID is created and the old one, unless already
//!   expired, is expired, so the history of what muted what stays visible.
//! - Expiring an active silence ends it now; a pending one gets start = end = now. Expiring an
//!   already expired silence succeeds and changes nothing (current Alertmanager: idempotent;
//!   0.25 and older answered an error).
//! - Expired silences are kept for `retention` after their end (Alertmanager's
//!   `--data.retention`, 120h), then removed by [`Silences::gc`].
//!
//! ## Limit
//! At most [`DEFAULT_MAX_SILENCES`] (or [`Silences::with_max_silences`]) silences may be
//! active or pending at once (Alertmanager's `--silences.max-silences`, which is off by default
//! and counts expired silences too; here the limit is on by default and counts only what can
//! still mute, so the retained history never blocks a new silence). A change that would add
//! one more non-expired silence (a new silence, or re-creating an expired one) fails with
//! [`SilenceError::TooMany`] (Alertmanager's message) and is counted; updating a silence, in
//! place or by replacing a non-expired one, always succeeds.
//!
//! ## Version
//! [`Silences::version`] changes on every change and whenever a silence's state changes with
//! time (a start or end passes), so a caller can cache [`Silences::mutes`] results per alert and
//! recompute only when the version moved. (Alertmanager's version counts only additions and
//! re-queries the silences it cached to see state changes; this is the same contract made
//! simpler for callers.)
//!
//! ## Persistence
//! With a directory, every change is written before it is applied: the whole set to
//! `<dir>/silences.json` in the format of [`crate::state_file`] (JSON, a `crc32c` line, atomic
//! replace keeping the previous generation). A write that fails leaves the store unchanged and
//! returns an error. Alertmanager snapshots only every 15 minutes and on clean shutdown, so a
//! crash loses recent silences; here nothing acknowledged is lost. Garbage collection
//! ([`Silences::run_gc`]) writes on the blocking pool.
//!
//! At open, a file that does not verify (checksum or JSON) is moved aside to
//! `silences.json.corrupt` and the previous generation is used if it verifies; a verified file
//! whose content is unusable (unknown format, invalid matcher) is ignored and the store starts
//! empty (the next change replaces it). Each such file is logged and counted
//! ([`Silences::corrupt_files`]), never a crash.
//!
//! ## Metrics
//! [`Silences::register_metrics`] exports, read at each scrape,
//! `harrier_router_alertmanager_silences{state="active|pending|expired"}` (Alertmanager's
//! `alertmanager_silences`), `harrier_router_alertmanager_silence_files_corrupt_total` and
//! `harrier_router_alertmanager_silences_refused_total` (new silences refused by the limit).

use super::clock::Clock;
use crate::route::matchers::{MatchType, Matcher};
use crate::state_file;
use harrier_telemetry::model::Labels;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

/// The file silences are kept in, inside the store's directory.
pub const SILENCES_FILE: &str = "silences.json";

/// How many silences may be active or pending at once unless set otherwise.
pub const DEFAULT_MAX_SILENCES: usize = 10_000;

/// A silence.
#[derive(Debug, Clone, PartialEq)]
pub struct Silence {
    /// Empty when creating.
    pub id: String,
    pub matchers: Vec<Matcher>,
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
    pub updated_at_ms: i64,
    pub created_by: String,
    pub comment: String,
}

impl Silence {
    /// The silence's state at `now_ms` (see the module docs).
    pub fn state_at(&self, now_ms: i64) -> SilenceState {
        if now_ms >= self.ends_at_ms {
            SilenceState::Expired
        } else if now_ms < self.starts_at_ms {
            SilenceState::Pending
        } else {
            SilenceState::Active
        }
    }

    /// Whether every matcher matches `labels` (a missing label reads as "").
    pub fn matches(&self, labels: &Labels) -> bool {
        self.matchers.iter().all(|m| m.matches(labels.get(&m.name).unwrap_or("")))
    }

    /// Alertmanager's silence filter (`CheckSilenceMatchesFilterLabels`): every filter matcher
    /// has a matcher in the silence with the same name, operator and value.
    pub fn has_matchers(&self, filter: &[Matcher]) -> bool {
        filter.iter().all(|f| self.matchers.iter().any(|m| m == f))
    }
}

/// A silence's state at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SilenceState {
    Expired,
    Active,
    Pending,
}

impl SilenceState {
    pub fn as_str(self) -> &'static str {
        match self {
            SilenceState::Expired => "expired",
            SilenceState::Active => "active",
            SilenceState::Pending => "pending",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SilenceError {
    #[error("silence not found")]
    NotFound,
    #[error("invalid silence: {0}")]
    Invalid(String),
    /// Adding the silence would exceed the limit of non-expired silences.
    #[error("exceeded maximum number of silences: {count} (limit: {max})")]
    TooMany { count: usize, max: usize },
    #[error("silence storage {path}: {source}")]
    Io { path: std::path::PathBuf, source: std::io::Error },
    #[error("silence storage: {0}")]
    State(#[from] state_file::StateFileError),
}

/// What the store's readers see.
struct Current {
    silences: BTreeMap<String, Silence>,
    version: u64,
    /// The earliest start or end after the last state check: when a state changes next.
    next_transition_ms: Option<i64>,
}

/// The silence store: thread-safe, persisted on every change when it has a directory.
pub struct Silences {
    clock: Clock,
    retention_ms: i64,
    /// Most non-expired silences; `0`: no limit.
    max_silences: usize,
    file: Option<PathBuf>,
    /// Serializes changes (each change reads, writes the file, then publishes).
    writer: Mutex<()>,
    current: Mutex<Current>,
    corrupt_files: AtomicU64,
    /// New silences refused by the limit.
    refused: AtomicU64,
}

use crate::sync::lock;

/// The earliest start or end strictly after `now_ms`.
fn next_transition(silences: &BTreeMap<String, Silence>, now_ms: i64) -> Option<i64> {
    silences.values().flat_map(|s| [s.starts_at_ms, s.ends_at_ms]).filter(|&t| t > now_ms).min()
}

impl Silences {
    /// Opens (and loads) the store; `dir: None` keeps silences in memory only.
    /// `retention`: how long expired silences are kept (Alertmanager: 120h).
    pub fn open(dir: Option<&Path>, clock: Clock, retention: Duration) -> Result<Silences, SilenceError> {
        let retention_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
        let mut store = Silences {
            clock,
            retention_ms,
            max_silences: DEFAULT_MAX_SILENCES,
            file: None,
            writer: Mutex::new(()),
            current: Mutex::new(Current { silences: BTreeMap::new(), version: 0, next_transition_ms: None }),
            corrupt_files: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        };
        let Some(dir) = dir else { return Ok(store) };
        std::fs::create_dir_all(dir)
            .map_err(|source| SilenceError::Io { path: dir.to_path_buf(), source })?;
        let path = dir.join(SILENCES_FILE);
        let outcome = state_file::read::<SilencesFile>(&path)?;
        for (file, reason) in &outcome.corrupt {
            store.corrupt_files.fetch_add(1, Ordering::Relaxed);
            tracing::error!(file = %file.display(), %reason, "silences file is corrupt; set aside");
        }
        if outcome.from_previous {
            tracing::warn!(file = %path.display(), "silences restored from the previous generation");
        } else if outcome.value.is_none() && !outcome.corrupt.is_empty() {
            tracing::error!("no valid silences file: starting without silences");
        }
        let loaded = match outcome.value {
            Some(file) => decode(file).unwrap_or_else(|reason| {
                store.corrupt_files.fetch_add(1, Ordering::Relaxed);
                tracing::error!(file = %path.display(), %reason, "silences file unusable; starting without silences");
                BTreeMap::new()
            }),
            None => BTreeMap::new(),
        };
        store.file = Some(path);
        let now = store.clock.now_ms();
        let kept: BTreeMap<String, Silence> =
            loaded.into_iter().filter(|(_, s)| !store.past_retention(s, now)).collect();
        let current = store.current.get_mut().unwrap_or_else(PoisonError::into_inner);
        current.next_transition_ms = next_transition(&kept, now);
        current.silences = kept;
        current.version = 1;
        Ok(store)
    }

    /// Sets how many silences may be active or pending at once (`0`: no limit; default
    /// [`DEFAULT_MAX_SILENCES`]). Silences already loaded beyond it stay; only new ones are
    /// refused.
    pub fn with_max_silences(mut self, max: usize) -> Silences {
        self.max_silences = max;
        self
    }

    fn past_retention(&self, s: &Silence, now_ms: i64) -> bool {
        s.ends_at_ms.saturating_add(self.retention_ms) <= now_ms
    }

    /// Creates or updates a silence with Alertmanager's rules; returns its ID.
    pub fn set(&self, mut silence: Silence) -> Result<String, SilenceError> {
        let _writer = lock(&self.writer);
        let now = self.clock.now_ms();
        if silence.starts_at_ms == 0 {
            silence.starts_at_ms = now;
        }
        validate(&silence)?;
        let mut next = lock(&self.current).silences.clone();
        let previous = if silence.id.is_empty() {
            None
        } else {
            Some(next.get(&silence.id).cloned().ok_or(SilenceError::NotFound)?)
        };
        if let Some(prev) = &previous
            && can_update(prev, &silence, now)
        {
            silence.updated_at_ms = now;
            let id = silence.id.clone();
            next.insert(id.clone(), silence);
            self.commit(next, now)?;
            return Ok(id);
        }
        // A new silence, or one replacing `previous`: one more non-expired silence unless the
        // replaced one stops being one.
        if self.max_silences > 0 {
            let replaced_live = previous.as_ref().is_some_and(|p| p.state_at(now) != SilenceState::Expired);
            let live = next.values().filter(|s| s.state_at(now) != SilenceState::Expired).count();
            let after = live - usize::from(replaced_live) + 1;
            if after > self.max_silences {
                self.refused.fetch_add(1, Ordering::Relaxed);
                return Err(SilenceError::TooMany { count: live, max: self.max_silences });
            }
        }
        silence.id = new_uuid_v4();
        silence.starts_at_ms = silence.starts_at_ms.max(now);
        silence.updated_at_ms = now;
        if let Some(prev) = previous {
            expire_in(&mut next, &prev.id, now);
        }
        let id = silence.id.clone();
        next.insert(id.clone(), silence);
        self.commit(next, now)?;
        Ok(id)
    }

    /// Expires a silence now (see the module docs); an expired one stays as it is.
    pub fn expire(&self, id: &str) -> Result<(), SilenceError> {
        let _writer = lock(&self.writer);
        let now = self.clock.now_ms();
        let mut next = lock(&self.current).silences.clone();
        if !next.contains_key(id) {
            return Err(SilenceError::NotFound);
        }
        if expire_in(&mut next, id, now) {
            self.commit(next, now)?;
        }
        Ok(())
    }

    /// Removes the silences that ended more than `retention` ago; returns how many.
    pub fn gc(&self) -> Result<usize, SilenceError> {
        let _writer = lock(&self.writer);
        let now = self.clock.now_ms();
        let mut next = lock(&self.current).silences.clone();
        let before = next.len();
        next.retain(|_, s| !self.past_retention(s, now));
        let removed = before - next.len();
        if removed > 0 {
            self.commit(next, now)?;
        }
        Ok(removed)
    }

    /// Runs [`Silences::gc`] every `interval` until `shutdown` (Alertmanager's maintenance
    /// runs every 15 minutes), on the blocking pool (it writes and fsyncs the file). Failures
    /// are logged.
    pub async fn run_gc(self: Arc<Self>, interval: Duration, shutdown: tokio_util::sync::CancellationToken) {
        let mut ticker = tokio::time::interval(interval.max(Duration::from_millis(1)));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            tokio::select! {
                // Shutdown first: after a long collection the next tick is due at once.
                biased;
                () = shutdown.cancelled() => return,
                _ = ticker.tick() => {
                    let store = Arc::clone(&self);
                    match tokio::task::spawn_blocking(move || store.gc()).await {
                        Ok(Ok(0)) => {}
                        Ok(Ok(n)) => tracing::debug!(removed = n, "silences garbage-collected"),
                        Ok(Err(e)) => tracing::warn!(error = %e, "silence garbage collection failed"),
                        Err(e) => tracing::warn!(error = %e, "silence garbage collection did not complete"),
                    }
                }
            }
        }
    }

    /// Writes `next` (if the store has a file), then makes it current.
    fn commit(&self, next: BTreeMap<String, Silence>, now_ms: i64) -> Result<(), SilenceError> {
        if let Some(path) = &self.file {
            write_file(path, &next)?;
        }
        let mut current = lock(&self.current);
        current.next_transition_ms = next_transition(&next, now_ms);
        current.silences = next;
        current.version += 1;
        Ok(())
    }

    pub fn get(&self, id: &str) -> Option<(Silence, SilenceState)> {
        let now = self.clock.now_ms();
        lock(&self.current).silences.get(id).map(|s| (s.clone(), s.state_at(now)))
    }

    /// Every silence with its state now, by ID.
    pub fn list(&self) -> Vec<(Silence, SilenceState)> {
        let now = self.clock.now_ms();
        lock(&self.current).silences.values().map(|s| (s.clone(), s.state_at(now))).collect()
    }

    /// The silences that have every `filter` matcher among their own (same name, operator and
    /// value), as the v2 API's `filter` selects silences; all of them for an empty filter.
    pub fn list_matching(&self, filter: &[Matcher]) -> Vec<(Silence, SilenceState)> {
        let now = self.clock.now_ms();
        lock(&self.current)
            .silences
            .values()
            .filter(|s| s.has_matchers(filter))
            .map(|s| (s.clone(), s.state_at(now)))
            .collect()
    }

    /// IDs of the active silences whose matchers all match `labels`, sorted.
    pub fn mutes(&self, labels: &Labels) -> Vec<String> {
        let now = self.clock.now_ms();
        lock(&self.current)
            .silences
            .values()
            .filter(|s| s.state_at(now) == SilenceState::Active && s.matches(labels))
            .map(|s| s.id.clone())
            .collect()
    }

    /// Changes on every mutation and on every silence becoming active or expired (lets callers
    /// cache `mutes` results).
    pub fn version(&self) -> u64 {
        let now = self.clock.now_ms();
        let mut current = lock(&self.current);
        if current.next_transition_ms.is_some_and(|t| t <= now) {
            current.version += 1;
            current.next_transition_ms = next_transition(&current.silences, now);
        }
        current.version
    }

    /// How many silence files were found corrupt or unusable when opening (each generation
    /// that did not verify counts).
    pub fn corrupt_files(&self) -> u64 {
        self.corrupt_files.load(Ordering::Relaxed)
    }

    /// How many new silences the limit refused.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Silence counts by state now: (active, pending, expired).
    pub fn count_by_state(&self) -> (usize, usize, usize) {
        let now = self.clock.now_ms();
        let current = lock(&self.current);
        let mut counts = (0, 0, 0);
        for s in current.silences.values() {
            match s.state_at(now) {
                SilenceState::Active => counts.0 += 1,
                SilenceState::Pending => counts.1 += 1,
                SilenceState::Expired => counts.2 += 1,
            }
        }
        counts
    }

    /// Registers the store's metrics (see the module docs) in `registry`, read at each scrape;
    /// they disappear from the output once the store is dropped.
    pub fn register_metrics(self: &Arc<Self>, registry: &mut Registry) {
        registry
            .sub_registry_with_prefix("harrier_router_alertmanager")
            .register_collector(Box::new(SilencesCollector { silences: Arc::downgrade(self) }));
    }
}

/// The store's metrics, computed at scrape time.
#[derive(Debug)]
struct SilencesCollector {
    silences: Weak<Silences>,
}

impl Collector for SilencesCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(silences) = self.silences.upgrade() else { return Ok(()) };
        let (active, pending, expired) = silences.count_by_state();
        let gauge = ConstGauge::new(0i64);
        let mut family =
            encoder.encode_descriptor("silences", "Silences by state", None, gauge.metric_type())?;
        for (state, n) in [
            (SilenceState::Active, active),
            (SilenceState::Pending, pending),
            (SilenceState::Expired, expired),
        ] {
            let labels = [("state", state.as_str())];
            let value = ConstGauge::new(i64::try_from(n).unwrap_or(i64::MAX));
            value.encode(family.encode_family(&labels)?)?;
        }
        let corrupt = ConstCounter::new(silences.corrupt_files());
        corrupt.encode(encoder.encode_descriptor(
            "silence_files_corrupt",
            "Silence files found corrupt or unusable at start (set aside; the previous generation or no silences used)",
            None,
            corrupt.metric_type(),
        )?)?;
        let refused = ConstCounter::new(silences.refused());
        refused.encode(encoder.encode_descriptor(
            "silences_refused",
            "New silences refused because the limit of active and pending silences was reached",
            None,
            refused.metric_type(),
        )?)?;
        Ok(())
    }
}

/// Expires `id` in `silences` at `now_ms`; false when it was already expired (or is absent).
fn expire_in(silences: &mut BTreeMap<String, Silence>, id: &str, now_ms: i64) -> bool {
    let Some(s) = silences.get_mut(id) else { return false };
    match s.state_at(now_ms) {
        SilenceState::Expired => return false,
        SilenceState::Active => s.ends_at_ms = now_ms,
        SilenceState::Pending => {
            s.starts_at_ms = now_ms;
            s.ends_at_ms = now_ms;
        }
    }
    s.updated_at_ms = now_ms;
    true
}

/// Alertmanager's `canUpdate`: whether `prev` can become `next` without rewriting history.
fn can_update(prev: &Silence, next: &Silence, now_ms: i64) -> bool {
    if prev.matchers != next.matchers {
        return false;
    }
    match prev.state_at(now_ms) {
        SilenceState::Active => {
            prev.starts_at_ms.div_euclid(1000) == next.starts_at_ms.div_euclid(1000)
                && next.ends_at_ms >= now_ms
        }
        SilenceState::Pending => next.starts_at_ms >= now_ms,
        SilenceState::Expired => false,
    }
}

/// Whether a matcher matches the empty string, as Alertmanager's `matchesEmpty` decides.
fn matches_empty(m: &Matcher) -> bool {
    match m.op {
        MatchType::Equal | MatchType::Regexp => m.matches(""),
        MatchType::NotEqual | MatchType::NotRegexp => false,
    }
}

/// Alertmanager's `validateSilence`, with its messages.
fn validate(s: &Silence) -> Result<(), SilenceError> {
    let invalid = |m: String| Err(SilenceError::Invalid(m));
    if s.matchers.is_empty() {
        return invalid("at least one matcher required".into());
    }
    for (i, m) in s.matchers.iter().enumerate() {
        if m.name.is_empty() {
            return invalid(format!("invalid label matcher {i}: invalid label name \"\""));
        }
    }
    if s.matchers.iter().all(matches_empty) {
        return invalid("at least one matcher must not match the empty string".into());
    }
    if s.starts_at_ms == 0 {
        return invalid("invalid zero start timestamp".into());
    }
    if s.ends_at_ms == 0 {
        return invalid("invalid zero end timestamp".into());
    }
    if s.ends_at_ms < s.starts_at_ms {
        return invalid("end time must not be before start time".into());
    }
    Ok(())
}

/// A random (version 4) UUID, lowercase hyphenated, as Alertmanager's silence IDs.
fn new_uuid_v4() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

/// The file's JSON document.
#[derive(Debug, Serialize, Deserialize)]
struct SilencesFile {
    format: u32,
    silences: Vec<StoredSilence>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredSilence {
    id: String,
    matchers: Vec<StoredMatcher>,
    starts_at_ms: i64,
    ends_at_ms: i64,
    updated_at_ms: i64,
    created_by: String,
    comment: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredMatcher {
    name: String,
    /// `=`, `!=`, `=~` or `!~`.
    op: String,
    value: String,
}

const FILE_FORMAT: u32 = 1;

fn op_from_str(op: &str) -> Option<MatchType> {
    match op {
        "=" => Some(MatchType::Equal),
        "!=" => Some(MatchType::NotEqual),
        "=~" => Some(MatchType::Regexp),
        "!~" => Some(MatchType::NotRegexp),
        _ => None,
    }
}

fn encode(silences: &BTreeMap<String, Silence>) -> SilencesFile {
    SilencesFile {
        format: FILE_FORMAT,
        silences: silences
            .values()
            .map(|s| StoredSilence {
                id: s.id.clone(),
                matchers: s
                    .matchers
                    .iter()
                    .map(|m| StoredMatcher {
                        name: m.name.clone(),
                        op: m.op.as_str().into(),
                        value: m.value.clone(),
                    })
                    .collect(),
                starts_at_ms: s.starts_at_ms,
                ends_at_ms: s.ends_at_ms,
                updated_at_ms: s.updated_at_ms,
                created_by: s.created_by.clone(),
                comment: s.comment.clone(),
            })
            .collect(),
    }
}

/// The silences of a verified file.
fn decode(file: SilencesFile) -> Result<BTreeMap<String, Silence>, String> {
    if file.format != FILE_FORMAT {
        return Err(format!("unknown format {}", file.format));
    }
    let mut out = BTreeMap::new();
    for s in file.silences {
        let mut matchers = Vec::with_capacity(s.matchers.len());
        for m in s.matchers {
            let op =
                op_from_str(&m.op).ok_or_else(|| format!("silence {}: unknown operator {:?}", s.id, m.op))?;
            matchers.push(Matcher::new(&m.name, op, &m.value).map_err(|e| format!("silence {}: {e}", s.id))?);
        }
        let silence = Silence {
            id: s.id,
            matchers,
            starts_at_ms: s.starts_at_ms,
            ends_at_ms: s.ends_at_ms,
            updated_at_ms: s.updated_at_ms,
            created_by: s.created_by,
            comment: s.comment,
        };
        out.insert(silence.id.clone(), silence);
    }
    Ok(out)
}

/// Replaces `path` with the silences durably (see [`crate::state_file`]).
fn write_file(path: &Path, silences: &BTreeMap<String, Silence>) -> Result<(), SilenceError> {
    Ok(state_file::write(path, &encode(silences))?)
}

#[cfg(test)]
mod tests;
