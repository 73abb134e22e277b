//! The evaluator proper: one [`Evaluator`] per evaluation range (the query's, or a
//! subquery's), evaluating a node for all its steps at once.
//!
//! - Vector selectors load their series once and walk a cursor per series over the steps
//!   (lookback `(t - lookback, t]`, a staleness marker as the latest sample hides the series).
//! - Functions over a range vector slice each series' samples to the left-open window
//!   `(t - offset - range, t - offset]` with two cursors per series; staleness markers are
//!   removed once after loading.
//! - Functions over instant values gather their arguments at each step and regroup the outputs
//!   into series with a [`Collector`].

use super::position::QueryPositions;
use super::{aggregate, binary, format};
use crate::promql::functions::{self, FnArg, FnCall, FnOutput};
use crate::promql::{Annotations, EngineOptions, InstantSample, MatrixSeries, PromqlError};
use crate::store::{HistogramSample, Queryable, SelectedSeries};
use harrier_telemetry::model::{Labels, METRIC_NAME, Sample, Series, is_stale_nan};
use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::value::ValueType;
use promql_parser::parser::{AggregateExpr, AtModifier, Call, Expr, Offset, SubqueryExpr, VectorSelector};
use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant, SystemTime};

/// What every evaluator of one query shares.
pub(crate) struct Context<'a> {
    pub storage: &'a dyn Queryable,
    /// The query text, for the positions annotations end with.
    query: &'a str,
    /// Where the query's nodes sit in its text, found when an annotation first needs one.
    positions: std::cell::OnceCell<QueryPositions<'a>>,
    pub lookback: i64,
    pub max_samples: usize,
    pub delayed_name_removal: bool,
    pub default_subquery_step: i64,
    /// The query's own start and end: what `@ start()` and `@ end()` mean.
    pub query_start: i64,
    pub query_end: i64,
    /// The query's step (0 for an instant query): what `step()` means.
    pub query_step: i64,
    deadline: Instant,
    annotations: RefCell<Annotations>,
    /// Samples currently held by loaded selectors and evaluated nodes (approximate, as
    /// Prometheus's own count).
    current_samples: Cell<usize>,
    /// Inside `histogram_count`/`histogram_sum`/`histogram_avg` (outside subqueries):
    /// selectors read histograms as Prometheus's `HistogramStatsIterator` does, with counter
    /// reset hints detected sample by sample ([`stats_hints`]).
    stats_hints: Cell<bool>,
}

impl<'a> Context<'a> {
    pub fn new(
        storage: &'a dyn Queryable,
        options: &EngineOptions,
        query: &'a str,
        query_start: i64,
        query_end: i64,
        query_step: i64,
    ) -> Self {
        Context {
            storage,
            query,
            positions: std::cell::OnceCell::new(),
            lookback: duration_ms(options.lookback_delta),
            max_samples: options.max_samples,
            delayed_name_removal: options.delayed_name_removal,
            default_subquery_step: duration_ms(options.default_subquery_step).max(1),
            query_start,
            query_end,
            query_step,
            deadline: Instant::now() + options.timeout,
            annotations: RefCell::new(Annotations::default()),
            current_samples: Cell::new(0),
            stats_hints: Cell::new(false),
        }
    }

    pub fn into_annotations(self) -> Annotations {
        self.annotations.into_inner()
    }

    pub fn warn(&self, message: impl Into<String>) {
        self.annotations.borrow_mut().warn(message);
    }

    pub fn info(&self, message: impl Into<String>) {
        self.annotations.borrow_mut().info(message);
    }

    /// The query's node positions (lexed and parsed again on first use).
    fn positions(&self) -> &QueryPositions<'a> {
        self.positions.get_or_init(|| QueryPositions::new(self.query))
    }

    /// Where the parameter of `aggregate` starts in the query, as Prometheus's `line:col`
    /// (`quantile by (a) (NaN, x)` points at `NaN`).
    pub fn aggregate_param_position(&self, aggregate: &AggregateExpr) -> Option<String> {
        let positions = self.positions();
        positions.aggregate_param(aggregate).map(|offset| positions.line_column(offset))
    }

    /// Where `call` starts in the query, as Prometheus's `line:col`.
    pub fn call_position(&self, call: &Call) -> Option<String> {
        let positions = self.positions();
        positions.call_start(call).map(|offset| positions.line_column(offset))
    }

    /// Where argument `index` of `call` starts in the query, as Prometheus's `line:col`.
    pub fn argument_position(&self, call: &Call, index: usize) -> Option<String> {
        let positions = self.positions();
        let offset = *positions.call_arguments(call)?.get(index)?;
        Some(positions.line_column(offset))
    }

    /// Ends the annotations a call of a library function emitted with the position of the
    /// argument each refers to ([`functions::annotation_argument`]), and records them.
    fn add_call_annotations(&self, call: &Call, annotations: Annotations) {
        let locate = |message: String| match functions::annotation_argument(call.func.name, &message)
            .and_then(|index| self.argument_position(call, index))
        {
            Some(position) if !message.ends_with(&format!("({position})")) => {
                format!("{message} ({position})")
            }
            _ => message,
        };
        let mut target = self.annotations.borrow_mut();
        for message in annotations.warnings {
            target.warn(locate(message));
        }
        for message in annotations.infos {
            target.info(locate(message));
        }
    }

    /// Prometheus's error for a label name given as a string literal that Go decodes to
    /// invalid UTF-8 (`"\xff"`): `label_replace`'s destination, `label_join`'s destination and
    /// sources. `promql-parser` decodes such escapes to characters, so the raw literal decides.
    fn check_label_name_literals(&self, call: &Call) -> Result<(), PromqlError> {
        let function = call.func.name;
        if !matches!(function, "label_replace" | "label_join") || !self.query.contains('\\') {
            return Ok(());
        }
        let positions = self.positions();
        let Some(arguments) = positions.call_arguments(call) else { return Ok(()) };
        let sources = if function == "label_join" { 3..arguments.len() } else { 0..0 };
        for index in sources.chain([1]) {
            let Some(bytes) = arguments.get(index).and_then(|&offset| positions.string_literal_bytes(offset))
            else {
                continue;
            };
            if std::str::from_utf8(&bytes).is_err() {
                let role = if index == 1 { "destination" } else { "source" };
                return Err(PromqlError::Eval(format!(
                    "invalid {role} label name in {function}(): {}",
                    String::from_utf8_lossy(&bytes)
                )));
            }
        }
        Ok(())
    }

    pub fn check_deadline(&self) -> Result<(), PromqlError> {
        if Instant::now() > self.deadline {
            return Err(PromqlError::Timeout("expression evaluation"));
        }
        Ok(())
    }

    /// Counts `n` more samples held, failing past the limit.
    pub fn hold(&self, n: usize) -> Result<(), PromqlError> {
        let now = self.current_samples.get().saturating_add(n);
        self.current_samples.set(now);
        if now > self.max_samples {
            return Err(PromqlError::TooManySamples("query execution"));
        }
        Ok(())
    }

    /// Counts `n` samples released.
    pub fn release(&self, n: usize) {
        self.current_samples.set(self.current_samples.get().saturating_sub(n));
    }
}

/// One series of a node's value: a point per step where it has a value (or, for a range
/// vector at the top of an instant query, the raw samples).
#[derive(Debug, Clone)]
pub(crate) struct RangeSeries {
    pub labels: Labels,
    pub drop_name: bool,
    /// Float points.
    pub samples: Vec<Sample>,
    /// Native histogram points (a step has a float or a histogram, not both).
    pub histograms: Vec<HistogramSample>,
}

impl RangeSeries {
    /// A series of float points.
    pub fn floats(labels: Labels, drop_name: bool, samples: Vec<Sample>) -> Self {
        RangeSeries { labels, drop_name, samples, histograms: Vec::new() }
    }

    pub fn into_series(self) -> MatrixSeries {
        MatrixSeries { labels: self.labels, samples: self.samples, histograms: self.histograms }
    }

    /// Points (floats and histograms).
    pub fn len(&self) -> usize {
        self.samples.len() + self.histograms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty() && self.histograms.is_empty()
    }
}

/// A node's value.
pub(crate) enum Evaluated {
    /// Instant vectors, scalars (one series without labels) and range vectors.
    Series(Vec<RangeSeries>),
    String(String),
}

/// Removes the metric name (and the other metadata labels) from a label set.
pub(crate) fn strip_name(labels: &mut Labels) {
    if labels.iter().any(|l| is_metadata_label(l.name)) {
        labels.retain(|l| !is_metadata_label(l.name));
    }
}

fn is_metadata_label(name: &str) -> bool {
    matches!(name, METRIC_NAME | "__type__" | "__unit__")
}

/// The end of the evaluation: drops the names of series marked so, and merges series that now
/// share a label set (an error where they have points at one timestamp).
pub(crate) fn finish_names(mut series: Vec<RangeSeries>) -> Result<Vec<RangeSeries>, PromqlError> {
    for s in series.iter_mut() {
        if s.drop_name {
            strip_name(&mut s.labels);
            s.drop_name = false;
        }
    }
    if series.len() <= 1 {
        return Ok(series);
    }
    let mut index: foldhash::HashMap<Labels, usize> = foldhash::HashMap::default();
    let mut duplicates = false;
    for (i, s) in series.iter().enumerate() {
        if index.insert(s.labels.clone(), i).is_some() {
            duplicates = true;
            break;
        }
    }
    if !duplicates {
        return Ok(series);
    }
    let mut merged: Vec<RangeSeries> = Vec::new();
    let mut positions: foldhash::HashMap<Labels, usize> = foldhash::HashMap::default();
    for s in series {
        match positions.get(&s.labels) {
            Some(&at) => {
                merged[at].samples.extend(s.samples);
                merged[at].histograms.extend(s.histograms);
            }
            None => {
                positions.insert(s.labels.clone(), merged.len());
                merged.push(s);
            }
        }
    }
    for s in merged.iter_mut() {
        s.samples.sort_by_key(|p| p.timestamp_ms);
        s.histograms.sort_by_key(|p| p.timestamp_ms);
        if s.samples.windows(2).any(|w| w[0].timestamp_ms == w[1].timestamp_ms)
            || s.histograms.windows(2).any(|w| w[0].timestamp_ms == w[1].timestamp_ms)
            || (!s.histograms.is_empty()
                && s.samples
                    .iter()
                    .any(|p| s.histograms.binary_search_by_key(&p.timestamp_ms, |h| h.timestamp_ms).is_ok()))
        {
            return Err(same_labelset());
        }
    }
    Ok(merged)
}

pub(crate) fn same_labelset() -> PromqlError {
    PromqlError::Eval("vector cannot contain metrics with the same labelset".into())
}

pub(crate) fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

pub(crate) fn offset_ms(offset: &Option<Offset>) -> i64 {
    match offset {
        None => 0,
        Some(Offset::Pos(d)) => duration_ms(*d),
        Some(Offset::Neg(d)) => -duration_ms(*d),
    }
}

fn system_time_ms(t: &SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => duration_ms(d),
        Err(e) => -duration_ms(e.duration()),
    }
}

/// Strips parentheses around an expression.
pub(crate) fn unwrap_parens(mut expr: &Expr) -> &Expr {
    while let Expr::Paren(p) = expr {
        expr = &p.expr;
    }
    expr
}

/// Regroups the samples produced at each step into series (by label set). In an instant
/// evaluation every sample becomes its own series, in order (Prometheus keeps the order of
/// e.g. `sort()` and `topk()` for instant queries).
pub(crate) struct Collector {
    instant: bool,
    series: Vec<RangeSeries>,
    index: foldhash::HashMap<Labels, usize>,
    /// The series the sample at each output position went to at the previous step: outputs
    /// usually come in the same order, and labels cloned from one input share a buffer.
    guesses: Vec<usize>,
    capacity: usize,
}

impl Collector {
    pub fn new(instant: bool, steps: usize) -> Self {
        Collector {
            instant,
            series: Vec::new(),
            index: foldhash::HashMap::default(),
            guesses: Vec::new(),
            capacity: steps.min(4096),
        }
    }

    pub fn push(&mut self, position: usize, sample: InstantSample, t: i64) -> Result<(), PromqlError> {
        let (point, histogram) = match sample.h {
            None => (Some(Sample { timestamp_ms: t, value: sample.v }), None),
            Some(h) => (None, Some(HistogramSample { timestamp_ms: t, histogram: h })),
        };
        if self.instant {
            self.series.push(RangeSeries {
                labels: sample.labels,
                drop_name: sample.drop_name,
                samples: point.into_iter().collect(),
                histograms: histogram.into_iter().collect(),
            });
            return Ok(());
        }
        let guessed = self
            .guesses
            .get(position)
            .copied()
            .filter(|&g| self.series.get(g).is_some_and(|s| Labels::ptr_eq(&s.labels, &sample.labels)));
        let at = match guessed {
            Some(g) => g,
            None => match self.index.get(&sample.labels) {
                Some(&at) => at,
                None => {
                    let at = self.series.len();
                    self.index.insert(sample.labels.clone(), at);
                    self.series.push(RangeSeries {
                        labels: sample.labels,
                        drop_name: sample.drop_name,
                        samples: if point.is_some() { Vec::with_capacity(self.capacity) } else { Vec::new() },
                        histograms: Vec::new(),
                    });
                    at
                }
            },
        };
        let series = &mut self.series[at];
        if series.samples.last().is_some_and(|p| p.timestamp_ms == t)
            || series.histograms.last().is_some_and(|p| p.timestamp_ms == t)
        {
            return Err(same_labelset());
        }
        series.samples.extend(point);
        series.histograms.extend(histogram);
        if position < self.guesses.len() {
            self.guesses[position] = at;
        } else if position == self.guesses.len() {
            self.guesses.push(at);
        }
        Ok(())
    }

    pub fn finish(self) -> Vec<RangeSeries> {
        self.series
    }
}

/// Walks a node's series step by step: the samples at each step, as an instant vector.
pub(crate) struct StepCursor<'s> {
    series: &'s [RangeSeries],
    cursors: Vec<usize>,
    histogram_cursors: Vec<usize>,
}

impl<'s> StepCursor<'s> {
    pub fn new(series: &'s [RangeSeries]) -> Self {
        StepCursor { series, cursors: vec![0; series.len()], histogram_cursors: vec![0; series.len()] }
    }

    /// The histogram of series `i` at `t`, if it has one (call with increasing `t`).
    pub fn histogram_at(
        &mut self,
        i: usize,
        t: i64,
    ) -> Option<std::sync::Arc<crate::histogram::FloatHistogram>> {
        let histograms = &self.series[i].histograms;
        if histograms.is_empty() {
            return None;
        }
        let cursor = &mut self.histogram_cursors[i];
        while *cursor < histograms.len() && histograms[*cursor].timestamp_ms < t {
            *cursor += 1;
        }
        match histograms.get(*cursor) {
            Some(p) if p.timestamp_ms == t => {
                *cursor += 1;
                Some(p.histogram.clone())
            }
            _ => None,
        }
    }

    /// The value of series `i` at `t`, if it has one (call with increasing `t`).
    pub fn value_at(&mut self, i: usize, t: i64) -> Option<f64> {
        let samples = &self.series[i].samples;
        let cursor = &mut self.cursors[i];
        while *cursor < samples.len() && samples[*cursor].timestamp_ms < t {
            *cursor += 1;
        }
        match samples.get(*cursor) {
            Some(p) if p.timestamp_ms == t => {
                *cursor += 1;
                Some(p.value)
            }
            _ => None,
        }
    }

    /// The instant vector at `t`, with the index of each sample's series.
    pub fn gather(&mut self, t: i64, out: &mut Vec<InstantSample>, indexes: &mut Vec<usize>) {
        out.clear();
        indexes.clear();
        for i in 0..self.series.len() {
            if let Some(v) = self.value_at(i, t) {
                let s = &self.series[i];
                out.push(InstantSample { labels: s.labels.clone(), t, v, h: None, drop_name: s.drop_name });
                indexes.push(i);
            } else if let Some(h) = self.histogram_at(i, t) {
                let s = &self.series[i];
                out.push(InstantSample::histogram(s.labels.clone(), t, h, s.drop_name));
                indexes.push(i);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.series.len()
    }
}

/// An evaluator over one range of steps.
#[derive(Clone, Copy)]
pub(crate) struct Evaluator<'c, 'a> {
    pub ctx: &'c Context<'a>,
    pub start: i64,
    pub end: i64,
    pub interval: i64,
}

impl<'c, 'a> Evaluator<'c, 'a> {
    pub fn new(ctx: &'c Context<'a>, start: i64, end: i64, interval: i64) -> Self {
        Evaluator { ctx, start, end, interval: interval.max(1) }
    }

    pub fn is_instant(&self) -> bool {
        self.start == self.end
    }

    pub fn steps(&self) -> impl Iterator<Item = i64> + use<> {
        let (start, end, interval) = (self.start, self.end, self.interval);
        (0..).map(move |i| start + i * interval).take_while(move |t| *t <= end)
    }

    pub fn step_count(&self) -> usize {
        if self.end < self.start { 0 } else { ((self.end - self.start) / self.interval) as usize + 1 }
    }

    pub fn collector(&self) -> Collector {
        Collector::new(self.is_instant(), self.step_count())
    }

    /// Evaluates a node over this evaluator's steps.
    pub fn eval(&self, expr: &Expr) -> Result<Evaluated, PromqlError> {
        self.ctx.check_deadline()?;
        if self.end < self.start {
            return Ok(Evaluated::Series(Vec::new()));
        }
        match expr {
            Expr::Paren(p) => self.eval(&p.expr),
            Expr::NumberLiteral(n) => Ok(Evaluated::Series(vec![self.constant(n.val)])),
            Expr::StringLiteral(s) => Ok(Evaluated::String(s.val.clone())),
            Expr::Unary(u) => {
                let mut series = self.eval_series(&u.expr)?;
                let scalar = u.expr.value_type() == ValueType::Scalar;
                for s in series.iter_mut() {
                    for p in s.samples.iter_mut() {
                        p.value = -p.value;
                    }
                    for p in s.histograms.iter_mut() {
                        let mut negated = (*p.histogram).clone();
                        negated.mul(-1.0);
                        p.histogram = std::sync::Arc::new(negated);
                    }
                    if !scalar {
                        self.mark_drop_name(&mut s.labels, &mut s.drop_name);
                    }
                }
                if !self.ctx.delayed_name_removal {
                    series = finish_names(series)?;
                }
                Ok(Evaluated::Series(series))
            }
            Expr::VectorSelector(vs) => Ok(Evaluated::Series(self.vector_selector(vs, false)?)),
            Expr::MatrixSelector(ms) => {
                if !self.is_instant() {
                    return Err(PromqlError::Eval("cannot do range evaluation of matrix selector".into()));
                }
                let range = duration_ms(ms.range);
                let windowed = self.load_range(&ms.vs, range)?;
                let (lo, hi) = self.window(&ms.vs.at, offset_ms(&ms.vs.offset), range, self.start);
                Ok(Evaluated::Series(
                    windowed
                        .into_iter()
                        .filter_map(|s| {
                            let samples: Vec<Sample> = s
                                .samples
                                .into_iter()
                                .filter(|p| p.timestamp_ms > lo && p.timestamp_ms <= hi)
                                .collect();
                            let histograms: Vec<HistogramSample> = s
                                .histograms
                                .into_iter()
                                .filter(|p| p.timestamp_ms > lo && p.timestamp_ms <= hi)
                                .collect();
                            (!samples.is_empty() || !histograms.is_empty()).then_some(RangeSeries {
                                labels: s.labels,
                                drop_name: false,
                                samples,
                                histograms,
                            })
                        })
                        .collect(),
                ))
            }
            Expr::Subquery(sq) => Ok(Evaluated::Series(self.subquery(sq)?)),
            Expr::Binary(b) => Ok(Evaluated::Series(binary::eval(self, b)?)),
            Expr::Aggregate(a) => Ok(Evaluated::Series(aggregate::eval(self, a)?)),
            Expr::Call(c) => self.call(c),
            Expr::Extension(_) => {
                Err(PromqlError::Unsupported("extension expressions are not supported".into()))
            }
        }
    }

    /// Evaluates a node that must yield series (vectors, scalars, matrices).
    pub fn eval_series(&self, expr: &Expr) -> Result<Vec<RangeSeries>, PromqlError> {
        match self.eval(expr)? {
            Evaluated::Series(s) => Ok(s),
            Evaluated::String(_) => Err(PromqlError::Eval("unexpected string expression".into())),
        }
    }

    /// Evaluates a scalar expression: its value at each step (NaN where it has none).
    pub fn eval_scalar_steps(&self, expr: &Expr) -> Result<Vec<f64>, PromqlError> {
        let series = self.eval_series(expr)?;
        Ok(scalar_values(self, &series))
    }

    /// A scalar: one series without labels, `value` at every step.
    pub fn constant(&self, value: f64) -> RangeSeries {
        RangeSeries {
            labels: Labels::new(),
            drop_name: false,
            samples: self.steps().map(|t| Sample { timestamp_ms: t, value }).collect(),
            histograms: Vec::new(),
        }
    }

    /// Marks a series' metric name for removal (or removes it now without delayed removal).
    pub fn mark_drop_name(&self, labels: &mut Labels, drop_name: &mut bool) {
        if self.ctx.delayed_name_removal {
            *drop_name = true;
        } else {
            strip_name(labels);
        }
    }

    /// `@ t`, `@ start()`, `@ end()` in milliseconds.
    pub fn at_time(&self, at: &Option<AtModifier>) -> Option<i64> {
        match at {
            None => None,
            Some(AtModifier::Start) => Some(self.ctx.query_start),
            Some(AtModifier::End) => Some(self.ctx.query_end),
            Some(AtModifier::At(t)) => Some(system_time_ms(t)),
        }
    }

    /// The series of a selector whose samples lie in `[mint, maxt]`: one storage read per
    /// `or` group of matchers, merged.
    fn select(&self, vs: &VectorSelector, mint: i64, maxt: i64) -> Result<Vec<SelectedSeries>, PromqlError> {
        let name_matcher = vs.name.as_ref().map(|n| Matcher::new(MatchOp::Equal, METRIC_NAME, n));
        let mut groups: Vec<Vec<Matcher>> = Vec::new();
        if vs.matchers.or_matchers.is_empty() {
            groups.push(vs.matchers.matchers.clone());
        } else {
            for group in &vs.matchers.or_matchers {
                let mut g = group.clone();
                g.extend(vs.matchers.matchers.iter().cloned());
                groups.push(g);
            }
        }
        let mut all: Vec<SelectedSeries> = Vec::new();
        for mut group in groups {
            if let Some(m) = &name_matcher {
                group.push(m.clone());
            }
            let selected = self
                .ctx
                .storage
                .select_series(&group, mint, maxt)
                .map_err(|e| PromqlError::Storage(e.to_string()))?;
            all.extend(selected);
        }
        if vs.matchers.or_matchers.len() > 1 {
            all.sort_by(|a, b| a.labels.cmp(&b.labels));
            all.dedup_by(|a, b| a.labels == b.labels);
        }
        if self.ctx.stats_hints.get() {
            for s in all.iter_mut() {
                stats_hints(&mut s.histograms);
            }
        }
        self.ctx.hold(all.iter().map(|s| s.floats.len() + s.histograms.len()).sum())?;
        Ok(all)
    }

    /// An instant vector selector over every step. With `record_timestamps`, each point's value
    /// is the timestamp of the sample it comes from (for `timestamp()`).
    pub fn vector_selector(
        &self,
        vs: &VectorSelector,
        record_timestamps: bool,
    ) -> Result<Vec<RangeSeries>, PromqlError> {
        let offset = offset_ms(&vs.offset);
        let at = self.at_time(&vs.at);
        let lookback = self.ctx.lookback;
        let (first, last) = match at {
            Some(a) => (a - offset, a - offset),
            None => (self.start - offset, self.end - offset),
        };
        let selected = self.select(vs, first - lookback + 1, last)?;
        let loaded: usize = selected.iter().map(|s| s.floats.len() + s.histograms.len()).sum();
        let mut out = Vec::with_capacity(selected.len());
        let steps = self.step_count();
        let mut produced = 0;
        for series in selected {
            let samples = &series.floats;
            let histograms = &series.histograms;
            let mut next = 0;
            let mut next_histogram = 0;
            let mut points = Vec::new();
            let mut histogram_points = Vec::new();
            for t in self.steps() {
                let reference = at.unwrap_or(t) - offset;
                while next < samples.len() && samples[next].timestamp_ms <= reference {
                    next += 1;
                }
                while next_histogram < histograms.len()
                    && histograms[next_histogram].timestamp_ms <= reference
                {
                    next_histogram += 1;
                }
                let float = next.checked_sub(1).map(|i| samples[i]);
                let histogram = next_histogram.checked_sub(1).map(|i| &histograms[i]);
                // The latest sample of either kind is the one the selector sees.
                match (float, histogram) {
                    (None, None) => continue,
                    (Some(sample), h) if h.is_none_or(|h| h.timestamp_ms < sample.timestamp_ms) => {
                        if sample.timestamp_ms <= reference - lookback || is_stale_nan(sample.value) {
                            continue;
                        }
                        if points.is_empty() {
                            points.reserve(steps.min(4096));
                        }
                        let value = if record_timestamps { sample.timestamp_ms as f64 } else { sample.value };
                        points.push(Sample { timestamp_ms: t, value });
                    }
                    (_, Some(h)) => {
                        if h.timestamp_ms <= reference - lookback || is_stale_nan(h.histogram.sum) {
                            continue;
                        }
                        if record_timestamps {
                            points.push(Sample { timestamp_ms: t, value: h.timestamp_ms as f64 });
                        } else {
                            histogram_points
                                .push(HistogramSample { timestamp_ms: t, histogram: h.histogram.clone() });
                        }
                    }
                    (Some(_), None) => continue,
                }
            }
            if !points.is_empty() || !histogram_points.is_empty() {
                produced += points.len() + histogram_points.len();
                out.push(RangeSeries {
                    labels: series.labels,
                    drop_name: false,
                    samples: points,
                    histograms: histogram_points,
                });
            }
        }
        self.ctx.release(loaded);
        self.ctx.hold(produced)?;
        Ok(out)
    }

    /// The series of a range selector with every sample any step's window needs, staleness
    /// markers removed.
    pub fn load_range(&self, vs: &VectorSelector, range: i64) -> Result<Vec<RangeSeries>, PromqlError> {
        let offset = offset_ms(&vs.offset);
        let (first, last) = match self.at_time(&vs.at) {
            Some(a) => (a - offset, a - offset),
            None => (self.start - offset, self.end - offset),
        };
        let selected = self.select(vs, first - range + 1, last)?;
        Ok(selected
            .into_iter()
            .filter_map(|mut s| {
                if s.floats.iter().any(|p| is_stale_nan(p.value)) {
                    s.floats.retain(|p| !is_stale_nan(p.value));
                }
                if s.histograms.iter().any(|p| is_stale_nan(p.histogram.sum)) {
                    s.histograms.retain(|p| !is_stale_nan(p.histogram.sum));
                }
                (!s.floats.is_empty() || !s.histograms.is_empty()).then_some(RangeSeries {
                    labels: s.labels,
                    drop_name: false,
                    samples: s.floats,
                    histograms: s.histograms,
                })
            })
            .collect())
    }

    /// The window `(lo, hi]` a range at step `t` covers.
    pub fn window(&self, at: &Option<AtModifier>, offset: i64, range: i64, t: i64) -> (i64, i64) {
        let hi = self.at_time(at).unwrap_or(t) - offset;
        (hi - range, hi)
    }

    /// A subquery: the inner expression evaluated at multiples of its step.
    pub fn subquery(&self, sq: &SubqueryExpr) -> Result<Vec<RangeSeries>, PromqlError> {
        let offset = offset_ms(&sq.offset);
        let range = duration_ms(sq.range);
        let step = sq.step.map(duration_ms).unwrap_or(self.ctx.default_subquery_step);
        if step <= 0 {
            return Err(PromqlError::Eval("subquery step must be positive".into()));
        }
        let (outer_start, outer_end) = match self.at_time(&sq.at) {
            Some(a) => (a, a),
            None => (self.start, self.end),
        };
        let lower = outer_start - offset - range;
        let mut start = step * (lower / step);
        if start <= lower {
            start += step;
        }
        let inner = Evaluator::new(self.ctx, start, outer_end - offset, step);
        let stats_hints = self.ctx.stats_hints.replace(false);
        let series = inner.eval_series(&sq.expr);
        self.ctx.stats_hints.set(stats_hints);
        let mut series = series?;
        for s in series.iter_mut() {
            unknown_subquery_hints(&mut s.histograms);
        }
        Ok(series)
    }

    /// A function call.
    fn call(&self, call: &Call) -> Result<Evaluated, PromqlError> {
        let stats_hints = match call.func.name {
            "histogram_count" | "histogram_sum" | "histogram_avg" => Some(true),
            "histogram_quantile"
            | "histogram_quantiles"
            | "histogram_fraction"
            | "histogram_stddev"
            | "histogram_stdvar" => Some(false),
            _ => None,
        };
        let Some(stats_hints) = stats_hints else { return self.call_function(call) };
        let previous = self.ctx.stats_hints.replace(stats_hints);
        let result = self.call_function(call);
        self.ctx.stats_hints.set(previous);
        result
    }

    fn call_function(&self, call: &Call) -> Result<Evaluated, PromqlError> {
        let name = call.func.name;
        let args = &call.args.args;
        self.ctx.check_label_name_literals(call)?;
        let seconds = |ms: i64| ms as f64 / 1000.0;
        match (name, args.len()) {
            ("step", 0) => return Ok(Evaluated::Series(vec![self.constant(seconds(self.ctx.query_step))])),
            ("range", 0) => {
                let range = self.ctx.query_end - self.ctx.query_start;
                return Ok(Evaluated::Series(vec![self.constant(seconds(range))]));
            }
            ("start", 0) => return Ok(Evaluated::Series(vec![self.constant(seconds(self.ctx.query_start))])),
            ("end", 0) => return Ok(Evaluated::Series(vec![self.constant(seconds(self.ctx.query_end))])),
            ("min_of" | "max_of", 2) => {
                let a = self.eval_scalar_steps(&args[0])?;
                let b = self.eval_scalar_steps(&args[1])?;
                let samples = self
                    .steps()
                    .zip(a.iter().zip(b.iter()))
                    .map(|(t, (&x, &y))| Sample {
                        timestamp_ms: t,
                        value: go_min_max(name == "min_of", x, y),
                    })
                    .collect();
                return Ok(Evaluated::Series(vec![RangeSeries::floats(Labels::new(), false, samples)]));
            }
            _ => {}
        }
        if self.ctx.query_step > 0
            && matches!(name, "sort" | "sort_desc" | "sort_by_label" | "sort_by_label_desc")
        {
            let position = self.ctx.call_position(call).map(|p| format!(" ({p})")).unwrap_or_default();
            self.ctx.warn(format!(
                "PromQL warning: sort is ineffective for range queries since results are always ordered by labels{position}"
            ));
        }
        if name == "timestamp"
            && let Some(Expr::VectorSelector(vs)) = args.first().map(|a| unwrap_parens(a))
        {
            let series = self.vector_selector(vs, true)?;
            return self.call_per_step(call, vec![ArgValue::Timestamps(series)]);
        }
        let matrix_index =
            args.iter().position(|a| matches!(unwrap_parens(a), Expr::MatrixSelector(_) | Expr::Subquery(_)));
        match matrix_index {
            Some(index) => self.call_over_range(call, index),
            None => {
                let mut values = Vec::with_capacity(args.len());
                for arg in args {
                    values.push(match self.eval(arg)? {
                        Evaluated::String(s) => ArgValue::String(s),
                        Evaluated::Series(series) if arg.value_type() == ValueType::Scalar => {
                            ArgValue::Scalar(scalar_values(self, &series))
                        }
                        Evaluated::Series(series) => ArgValue::Vector(series),
                    });
                }
                self.call_per_step(call, values)
            }
        }
    }

    /// Calls a function once per step with its arguments' values at that step.
    fn call_per_step(&self, call: &Call, values: Vec<ArgValue>) -> Result<Evaluated, PromqlError> {
        let mut cursors: Vec<Option<StepCursor<'_>>> = values
            .iter()
            .map(|v| match v {
                ArgValue::Vector(s) | ArgValue::Timestamps(s) => Some(StepCursor::new(s)),
                _ => None,
            })
            .collect();
        let mut collector = self.collector();
        let mut indexes = Vec::new();
        for (step, t) in self.steps().enumerate() {
            self.ctx.check_deadline()?;
            let mut args = Vec::with_capacity(values.len());
            for (value, cursor) in values.iter().zip(cursors.iter_mut()) {
                args.push(match (value, cursor) {
                    (ArgValue::String(s), _) => FnArg::String(s.clone()),
                    (ArgValue::Scalar(v), _) => FnArg::Scalar(v.get(step).copied().unwrap_or(f64::NAN)),
                    (ArgValue::Timestamps(_), Some(cursor)) => {
                        let mut vector = Vec::with_capacity(cursor.len());
                        cursor.gather(t, &mut vector, &mut indexes);
                        for s in vector.iter_mut() {
                            s.t = s.v as i64;
                        }
                        FnArg::Vector(vector)
                    }
                    (_, Some(cursor)) => {
                        let mut vector = Vec::with_capacity(cursor.len());
                        cursor.gather(t, &mut vector, &mut indexes);
                        FnArg::Vector(vector)
                    }
                    (ArgValue::Vector(_) | ArgValue::Timestamps(_), None) => FnArg::Vector(Vec::new()),
                });
            }
            self.collect_output(call, args, t, &mut collector, None)?;
        }
        Ok(Evaluated::Series(collector.finish()))
    }

    /// Calls a function over a range vector (a range selector or a subquery) at each step.
    fn call_over_range(&self, call: &Call, matrix_index: usize) -> Result<Evaluated, PromqlError> {
        let args = &call.args.args;
        let mut others: Vec<Option<ArgValue>> = Vec::with_capacity(args.len());
        for (i, arg) in args.iter().enumerate() {
            if i == matrix_index {
                others.push(None);
                continue;
            }
            others.push(Some(match self.eval(arg)? {
                Evaluated::String(s) => ArgValue::String(s),
                Evaluated::Series(series) => ArgValue::Scalar(scalar_values(self, &series)),
            }));
        }
        let (windowed, range, offset, at) = match unwrap_parens(&args[matrix_index]) {
            Expr::MatrixSelector(ms) => {
                let range = duration_ms(ms.range);
                (self.load_range(&ms.vs, range)?, range, offset_ms(&ms.vs.offset), ms.vs.at.clone())
            }
            Expr::Subquery(sq) => {
                (self.subquery(sq)?, duration_ms(sq.range), offset_ms(&sq.offset), sq.at.clone())
            }
            _ => return Err(PromqlError::Eval("expected a range vector argument".into())),
        };
        let name = call.func.name;
        // last_over_time and first_over_time act like an offset: they keep the metric name.
        let drop_name = name != "last_over_time" && name != "first_over_time";
        if (name == "rate" || name == "increase") && !windowed.is_empty() {
            let position = self.ctx.argument_position(call, 0).map(|p| format!(" ({p})")).unwrap_or_default();
            for s in windowed.iter().filter(|s| !s.samples.is_empty()) {
                if let Some(metric) = s.labels.metric_name()
                    && !["_total", "_sum", "_count", "_bucket"].iter().any(|suffix| metric.ends_with(suffix))
                {
                    self.ctx.info(format!(
                        "PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {}{position}",
                        format::go_quote(metric)
                    ));
                }
            }
        }
        // A series whose name an inner expression (a subquery) dropped keeps that mark.
        let inner_drops: foldhash::HashSet<Labels> =
            windowed.iter().filter(|s| s.drop_name).map(|s| s.labels.clone()).collect();
        let mut low = vec![0usize; windowed.len()];
        let mut high = vec![0usize; windowed.len()];
        let mut histogram_low = vec![0usize; windowed.len()];
        let mut histogram_high = vec![0usize; windowed.len()];
        let mut collector = self.collector();
        let mut held = 0usize;
        for (step, t) in self.steps().enumerate() {
            self.ctx.check_deadline()?;
            let (lo, hi) = self.window(&at, offset, range, t);
            let mut in_window = Vec::new();
            let mut histograms_in_window = Vec::new();
            let mut window_samples = 0;
            for (i, s) in windowed.iter().enumerate() {
                let histograms = &s.histograms;
                while histogram_low[i] < histograms.len() && histograms[histogram_low[i]].timestamp_ms <= lo {
                    histogram_low[i] += 1;
                }
                if histogram_high[i] < histogram_low[i] {
                    histogram_high[i] = histogram_low[i];
                }
                while histogram_high[i] < histograms.len() && histograms[histogram_high[i]].timestamp_ms <= hi
                {
                    histogram_high[i] += 1;
                }
                let histogram_window = &histograms[histogram_low[i]..histogram_high[i]];
                let samples = &s.samples;
                while low[i] < samples.len() && samples[low[i]].timestamp_ms <= lo {
                    low[i] += 1;
                }
                if high[i] < low[i] {
                    high[i] = low[i];
                }
                while high[i] < samples.len() && samples[high[i]].timestamp_ms <= hi {
                    high[i] += 1;
                }
                if high[i] > low[i] || !histogram_window.is_empty() {
                    window_samples += high[i] - low[i] + histogram_window.len();
                    in_window.push(Series::new(s.labels.clone(), samples[low[i]..high[i]].to_vec()));
                    histograms_in_window.push(histogram_window.to_vec());
                }
            }
            self.ctx.hold(window_samples)?;
            self.ctx.release(window_samples);
            let mut call_args = Vec::with_capacity(others.len());
            let mut matrix = Some(FnArg::Matrix {
                series: in_window,
                histograms: histograms_in_window,
                range_start: lo,
                range_end: hi,
            });
            for other in &others {
                call_args.push(match other {
                    None => matrix.take().unwrap_or(FnArg::Vector(Vec::new())),
                    Some(ArgValue::String(s)) => FnArg::String(s.clone()),
                    Some(ArgValue::Scalar(v)) => FnArg::Scalar(v.get(step).copied().unwrap_or(f64::NAN)),
                    Some(_) => FnArg::Vector(Vec::new()),
                });
            }
            held +=
                self.collect_output(call, call_args, t, &mut collector, Some((drop_name, &inner_drops)))?;
        }
        self.ctx.hold(held)?;
        Ok(Evaluated::Series(collector.finish()))
    }

    /// Calls the function and adds its output at `t` to `collector`; returns the samples added.
    fn collect_output(
        &self,
        call: &Call,
        args: Vec<FnArg>,
        t: i64,
        collector: &mut Collector,
        drop_name: Option<(bool, &foldhash::HashSet<Labels>)>,
    ) -> Result<usize, PromqlError> {
        let mut annotations = Annotations::default();
        let output = functions::call(
            FnCall { name: call.func.name, args, arg_exprs: &call.args.args, t },
            &mut annotations,
        );
        if !annotations.warnings.is_empty() || !annotations.infos.is_empty() {
            self.ctx.add_call_annotations(call, annotations);
        }
        match output? {
            FnOutput::Scalar(v) => {
                collector.push(
                    0,
                    InstantSample { labels: Labels::new(), t, v, h: None, drop_name: false },
                    t,
                )?;
                Ok(1)
            }
            FnOutput::Vector(vector) => {
                let n = vector.len();
                for (position, mut sample) in vector.into_iter().enumerate() {
                    if let Some((drop, inner_drops)) = drop_name {
                        sample.drop_name =
                            drop || (!inner_drops.is_empty() && inner_drops.contains(&sample.labels));
                    }
                    if sample.drop_name && !self.ctx.delayed_name_removal {
                        strip_name(&mut sample.labels);
                        sample.drop_name = false;
                    }
                    collector.push(position, sample, t)?;
                }
                Ok(n)
            }
            FnOutput::String(_) => Err(PromqlError::Eval(format!(
                "function {} returned a string, which the engine cannot place in a vector",
                call.func.name
            ))),
        }
    }
}

/// An evaluated function argument.
enum ArgValue {
    String(String),
    /// A scalar's value at each step.
    Scalar(Vec<f64>),
    Vector(Vec<RangeSeries>),
    /// A vector selector whose point values are the samples' own timestamps.
    Timestamps(Vec<RangeSeries>),
}

/// Counter reset hints as Prometheus's `HistogramStatsIterator` gives them: a known hint stays;
/// an unknown one becomes `CounterReset` or `NotCounterReset` by comparison with the previous
/// selected histogram (the first stays unknown).
fn stats_hints(histograms: &mut [HistogramSample]) {
    use crate::histogram::CounterResetHint;
    let mut previous: Option<std::sync::Arc<crate::histogram::FloatHistogram>> = None;
    for point in histograms.iter_mut() {
        let current = point.histogram.clone();
        if current.counter_reset_hint == CounterResetHint::Unknown
            && let Some(previous) = &previous
        {
            let mut copy = (*current).clone();
            copy.counter_reset_hint = if current.detect_reset(previous) {
                CounterResetHint::CounterReset
            } else {
                CounterResetHint::NotCounterReset
            };
            point.histogram = std::sync::Arc::new(copy);
        }
        previous = Some(current);
    }
}

/// A subquery's histograms skip and repeat samples, so their counter reset hints (relative to
/// the stored predecessor) no longer hold: they become `Unknown`, and counter resets are then
/// detected by comparing consecutive points (a repeat is no reset, a skipped reset still is).
fn unknown_subquery_hints(histograms: &mut [HistogramSample]) {
    use crate::histogram::CounterResetHint;
    for point in histograms.iter_mut() {
        if matches!(
            point.histogram.counter_reset_hint,
            CounterResetHint::CounterReset | CounterResetHint::NotCounterReset
        ) {
            let mut copy = (*point.histogram).clone();
            copy.counter_reset_hint = CounterResetHint::Unknown;
            point.histogram = std::sync::Arc::new(copy);
        }
    }
}

/// Go's `math.Min` / `math.Max`: NaN wins, and -0 is below +0.
fn go_min_max(min: bool, x: f64, y: f64) -> f64 {
    if x.is_nan() || y.is_nan() {
        return f64::NAN;
    }
    if x == y && x == 0.0 {
        let negative = x.is_sign_negative() || y.is_sign_negative();
        let positive = x.is_sign_positive() || y.is_sign_positive();
        return match (min, negative, positive) {
            (true, true, _) | (false, _, false) => -0.0,
            _ => 0.0,
        };
    }
    if min { x.min(y) } else { x.max(y) }
}

/// A scalar node's value at each step of `evaluator`.
fn scalar_values(evaluator: &Evaluator<'_, '_>, series: &[RangeSeries]) -> Vec<f64> {
    let mut values = vec![f64::NAN; evaluator.step_count()];
    if let Some(s) = series.first() {
        for p in &s.samples {
            let step = (p.timestamp_ms - evaluator.start) / evaluator.interval;
            if let Some(v) = usize::try_from(step).ok().and_then(|i| values.get_mut(i)) {
                *v = p.value;
            }
        }
    }
    values
}
