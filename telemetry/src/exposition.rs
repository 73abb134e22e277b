//! The Prometheus text exposition format (0.0.4) and OpenMetrics 1.0 text, parsed in place.
//!
//! [`Parser`] is a cursor: [`Parser::advance`] moves to the next sample and the accessors
//! describe it. Nothing is copied per sample: the metric name, label names and values are
//! spans into the input, and only strings holding a backslash escape are unescaped, into a
//! scratch buffer the parser reuses. [`Parser::series_key`] is the series exactly as written,
//! so a scraper can look up an already-built label set by those bytes and skip the rest.
//!
//! The accepted language follows Prometheus's own parsers (`model/textparse/promparse.go`,
//! `openmetricsparse.go` and their lexers), quirks included:
//! - Prometheus text: `#` lines that are not `# HELP`/`# TYPE` are comments; blank lines and
//!   spaces/tabs between tokens are allowed (even between labels without a comma); label
//!   values may span lines; a NUL byte where a line should start ends the input; the
//!   timestamp is an int64 of milliseconds; values use Go float syntax minus `p`, `P`, `_`.
//! - OpenMetrics: exactly one space between tokens, no blank lines or free comments, `# EOF`
//!   must end the input, timestamps are float seconds (converted to ms, truncated),
//!   exemplars (` # {labels} value [timestamp]`) are validated and skipped, `# UNIT` must be
//!   a suffix of the metric name. `_created` series of counters, histograms and summaries are
//!   reported as ordinary samples, as Prometheus does unless created-timestamp ingestion is
//!   on; [`Parser::skip_created_series`] drops them instead.
//! - Both: Prometheus 3 quoted UTF-8 names (`{"my.metric", "label.x"="v"}`), escapes `\\`,
//!   `\"` and `\n` (any other backslash pair is kept as written), NaN normalised to
//!   Prometheus's NaN bit pattern. Duplicate label names are an error here (Prometheus
//!   fails the scrape for them a little later).
//! - [`Parser::labels`] normalises histogram `le` and summary `quantile` values the way
//!   Prometheus 3 does (`le="1"` becomes `1.0`).
//!
//! Errors carry the 1-based line and a message naming what was expected and what was found.

use std::borrow::Cow;

use crate::model::{Labels, METRIC_NAME};

mod number;
#[cfg(test)]
mod tests;

use number::{FloatError, NORMAL_NAN_BITS, format_openmetrics_float, parse_go_float};

/// Which exposition format a scrape body is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4.
    PrometheusText,
    /// OpenMetrics 1.0 text.
    OpenMetrics,
}

impl Format {
    /// Picks the format from a response's Content-Type (Prometheus text when absent/unknown).
    pub fn from_content_type(content_type: Option<&str>) -> Format {
        let Some(content_type) = content_type else {
            return Format::PrometheusText;
        };
        let media_type = content_type.split(';').next().unwrap_or("").trim();
        if media_type.eq_ignore_ascii_case("application/openmetrics-text") {
            Format::OpenMetrics
        } else {
            Format::PrometheusText
        }
    }
}

/// A metric family's declared type (`# TYPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    GaugeHistogram,
    Summary,
    Info,
    StateSet,
    #[default]
    Unknown,
}

/// A parse failure: the 1-based line and what was expected there.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

/// One sample with an owned label set, as returned by [`parse_all`].
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedSample {
    /// All labels including `__name__`; labels with empty values are dropped.
    pub labels: Labels,
    pub value: f64,
    pub timestamp_ms: Option<i64>,
}

/// Parses a whole body into owned samples. Convenient for tests and small bodies; scrapers
/// should drive a [`Parser`] and cache label sets by [`Parser::series_key`].
pub fn parse_all(input: &[u8], format: Format) -> Result<Vec<ParsedSample>, ParseError> {
    let mut parser = Parser::new(input, format);
    let mut samples = Vec::new();
    while parser.advance()? {
        let mut pairs: Vec<(String, String)> = Vec::with_capacity(parser.label_count() + 1);
        pairs.push((METRIC_NAME.to_string(), parser.metric_name().to_string()));
        pairs.extend(parser.labels().map(|(n, v)| (n.to_string(), v.into_owned())));
        samples.push(ParsedSample {
            labels: Labels::from_pairs(pairs),
            value: parser.value(),
            timestamp_ms: parser.timestamp_ms(),
        });
    }
    Ok(samples)
}

/// Where a string of the current sample lives: in the input, or (unescaped) in the scratch.
#[derive(Debug, Clone, Copy, Default)]
struct Span {
    start: usize,
    end: usize,
    in_scratch: bool,
}

/// Character classes of unquoted names.
const METRIC_START: u8 = 1;
const METRIC_CONTINUE: u8 = 2;
const LABEL_START: u8 = 4;
const LABEL_CONTINUE: u8 = 8;

static NAME_CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0usize;
    while b < 256 {
        let c = b as u8;
        let letter = c.is_ascii_alphabetic() || c == b'_';
        let mut class = 0;
        if letter || c == b':' {
            class |= METRIC_START | METRIC_CONTINUE;
        }
        if c.is_ascii_digit() {
            class |= METRIC_CONTINUE | LABEL_CONTINUE;
        }
        if letter {
            class |= LABEL_START | LABEL_CONTINUE;
        }
        table[b] = class;
        b += 1;
    }
    table
};

#[inline]
fn has_class(b: u8, class: u8) -> bool {
    NAME_CLASS[b as usize] & class != 0
}

/// A quoted string found by [`Parser::scan_quoted`].
struct Quoted {
    /// Content without the quotes.
    start: usize,
    end: usize,
    escaped: bool,
    non_ascii: bool,
}

/// Which quoted-string rules apply.
#[derive(Clone, Copy)]
struct QuoteRules {
    allow_newline: bool,
    allow_nul: bool,
}

/// A cursor over the samples of one exposition body.
pub struct Parser<'a> {
    input: &'a [u8],
    /// `input` as text when it is valid UTF-8 as a whole (checked once, which is much cheaper
    /// than checking every name and value it hands out); `None` falls back to checking spans.
    input_str: Option<&'a str>,
    format: Format,
    skip_created: bool,
    /// Next byte to read, and the 1-based line it is on.
    pos: usize,
    cursor_line: usize,
    finished: bool,

    // The current sample.
    sample_line: usize,
    series_start: usize,
    series_end: usize,
    name: Option<Span>,
    labels: Vec<(Span, Span)>,
    scratch: String,
    value: f64,
    timestamp_ms: Option<i64>,

    // The last `# TYPE`.
    declared_type: MetricType,
    family_name: String,
    has_family: bool,
}

impl<'a> Parser<'a> {
    pub fn new(input: &'a [u8], format: Format) -> Self {
        Parser {
            input,
            input_str: std::str::from_utf8(input).ok(),
            format,
            skip_created: false,
            pos: 0,
            cursor_line: 1,
            finished: false,
            sample_line: 0,
            series_start: 0,
            series_end: 0,
            name: None,
            labels: Vec::new(),
            scratch: String::new(),
            value: 0.0,
            timestamp_ms: None,
            declared_type: MetricType::Unknown,
            family_name: String::new(),
            has_family: false,
        }
    }

    /// OpenMetrics only: drop the `_created` series of counters, histograms and summaries
    /// instead of reporting them (Prometheus does so when created-timestamp ingestion is on).
    pub fn skip_created_series(mut self, skip: bool) -> Self {
        self.skip_created = skip;
        self
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// Advances to the next sample; `Ok(false)` at the end of input.
    pub fn advance(&mut self) -> Result<bool, ParseError> {
        if self.finished {
            return Ok(false);
        }
        let result = match self.format {
            Format::PrometheusText => self.advance_prometheus(),
            Format::OpenMetrics => self.advance_openmetrics(),
        };
        match result {
            Ok(true) => Ok(true),
            Ok(false) => {
                self.finished = true;
                Ok(false)
            }
            Err(e) => {
                self.finished = true;
                Err(e)
            }
        }
    }

    /// The current sample's series exactly as written (`name{a="b"}`): a cache key.
    pub fn series_key(&self) -> &[u8] {
        self.input.get(self.series_start..self.series_end).unwrap_or_default()
    }

    /// Where [`Parser::series_key`] lies in the input (the value follows it on the line).
    pub fn series_range(&self) -> std::ops::Range<usize> {
        self.series_start..self.series_end
    }

    /// Where the current sample's line ends in the input, its newline included (the input's
    /// end for a last line without one). The value, timestamp and exemplar lie between
    /// [`Parser::series_range`] and here; an exemplar's quoted label names may hold newlines.
    pub fn sample_end(&self) -> usize {
        self.pos
    }

    pub fn metric_name(&self) -> &str {
        self.name.map(|span| self.text(span)).unwrap_or_default()
    }

    /// The current sample's labels, `__name__` excluded, unescaped, in written order.
    /// Labels with empty values are included (Prometheus drops them when building the series).
    pub fn labels(&self) -> impl Iterator<Item = (&str, Cow<'_, str>)> + '_ {
        let normalised = match self.declared_type {
            MetricType::Histogram => Some("le"),
            MetricType::Summary => Some("quantile"),
            _ => None,
        };
        self.labels.iter().map(move |&(name, value)| {
            let name = self.text(name);
            let value = self.text(value);
            let value = match normalised {
                Some(special) if special == name => normalise_float_label(value),
                _ => Cow::Borrowed(value),
            };
            (name, value)
        })
    }

    /// How many labels [`Parser::labels`] yields.
    pub fn label_count(&self) -> usize {
        self.labels.len()
    }

    pub fn value(&self) -> f64 {
        self.value
    }

    pub fn timestamp_ms(&self) -> Option<i64> {
        self.timestamp_ms
    }

    /// The type of the current sample's family per the last `# TYPE`, or `Unknown` when the
    /// sample's name does not belong to that family (as Prometheus decides it).
    pub fn metric_type(&self) -> MetricType {
        if !self.has_family {
            return MetricType::Unknown;
        }
        if is_series_part_of_family(self.metric_name(), &self.family_name, self.declared_type, self.format) {
            self.declared_type
        } else {
            MetricType::Unknown
        }
    }

    /// The 1-based line the current sample starts on.
    pub fn line(&self) -> usize {
        self.sample_line
    }

    // ----- shared helpers -----

    #[inline]
    fn text(&self, span: Span) -> &str {
        if span.in_scratch {
            self.scratch.get(span.start..span.end).unwrap_or_default()
        } else if let Some(input) = self.input_str {
            input.get(span.start..span.end).unwrap_or_default()
        } else {
            // Validated when the sample was parsed; checking again keeps this free of unsafe
            // code.
            self.input.get(span.start..span.end).and_then(|b| std::str::from_utf8(b).ok()).unwrap_or_default()
        }
    }

    fn span_bytes(&self, span: Span) -> &[u8] {
        if span.in_scratch {
            self.scratch.as_bytes().get(span.start..span.end).unwrap_or_default()
        } else {
            self.input.get(span.start..span.end).unwrap_or_default()
        }
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    #[inline]
    fn peek_at(&self, at: usize) -> Option<u8> {
        self.input.get(at).copied()
    }

    #[inline]
    fn skip_blanks(&mut self) {
        while let Some(b' ' | b'\t') = self.peek() {
            self.pos += 1;
        }
    }

    /// Consumes through the end of the current line (or input).
    fn skip_line(&mut self) {
        match self.input[self.pos.min(self.input.len())..].iter().position(|&b| b == b'\n') {
            Some(offset) => {
                self.pos += offset + 1;
                self.cursor_line += 1;
            }
            None => self.pos = self.input.len(),
        }
    }

    fn error(&self, at: usize, message: impl Into<String>) -> ParseError {
        let end = at.min(self.input.len());
        let line = 1 + self.input[..end].iter().filter(|&&b| b == b'\n').count();
        ParseError { line, message: message.into() }
    }

    /// Describes the input at `at` for an error message: the next token-ish run of bytes.
    fn found(&self, at: usize) -> String {
        let Some(&first) = self.input.get(at) else {
            return "end of input".to_string();
        };
        if first == b'\n' {
            return "end of line".to_string();
        }
        let rest = &self.input[at..];
        let mut end = rest.iter().position(|&b| matches!(b, b' ' | b'\t' | b'\n')).unwrap_or(rest.len());
        end = end.clamp(1, 32);
        format!("{:?}", String::from_utf8_lossy(&rest[..end]))
    }

    fn expected(&self, what: &str, at: usize) -> ParseError {
        self.error(at, format!("expected {what}, got {}", self.found(at)))
    }

    fn begin_sample(&mut self) {
        self.sample_line = self.cursor_line;
        self.series_start = self.pos;
        self.name = None;
        self.labels.clear();
        self.scratch.clear();
        self.timestamp_ms = None;
    }

    /// Scans a double-quoted string starting at `self.pos` (the opening quote) and moves past
    /// it. `None` when it is not terminated under `rules`.
    #[inline(always)]
    fn scan_quoted(&mut self, rules: QuoteRules) -> Option<Quoted> {
        let input = self.input;
        let start = self.pos + 1;
        let mut i = start;
        let mut escaped = false;
        let mut high_bits = 0u8;
        let mut newlines = 0;
        loop {
            let b = *input.get(i)?;
            match b {
                b'"' => break,
                b'\\' => {
                    let next = *input.get(i + 1)?;
                    if next == b'\n' {
                        return None;
                    }
                    escaped = true;
                    high_bits |= next;
                    i += 2;
                }
                b'\n' => {
                    if !rules.allow_newline {
                        return None;
                    }
                    newlines += 1;
                    i += 1;
                }
                0 if !rules.allow_nul => return None,
                _ => {
                    high_bits |= b;
                    i += 1;
                }
            }
        }
        self.pos = i + 1;
        self.cursor_line += newlines;
        Some(Quoted { start, end: i, escaped, non_ascii: high_bits & 0x80 != 0 })
    }

    /// Turns a scanned quoted string into a span, validating UTF-8 and unescaping if needed.
    /// `Err(())` when it is not valid UTF-8.
    #[inline(always)]
    fn quoted_span(&mut self, quoted: &Quoted) -> Result<Span, ()> {
        if !quoted.escaped && !quoted.non_ascii {
            return Ok(Span { start: quoted.start, end: quoted.end, in_scratch: false });
        }
        self.quoted_span_slow(quoted)
    }

    #[cold]
    #[inline(never)]
    fn quoted_span_slow(&mut self, quoted: &Quoted) -> Result<Span, ()> {
        let raw = std::str::from_utf8(&self.input[quoted.start..quoted.end]).map_err(|_| ())?;
        if !quoted.escaped {
            return Ok(Span { start: quoted.start, end: quoted.end, in_scratch: false });
        }
        let start = self.scratch.len();
        unescape_into(raw, &mut self.scratch);
        Ok(Span { start, end: self.scratch.len(), in_scratch: true })
    }

    /// Reads an unquoted name at `self.pos` (whose first byte the caller has classified): the
    /// first byte and every following byte of `continue_class`.
    #[inline]
    fn scan_name(&mut self, continue_class: u8) -> Span {
        let start = self.pos;
        let mut i = start + 1;
        while i < self.input.len() && has_class(self.input[i], continue_class) {
            i += 1;
        }
        self.pos = i;
        Span { start, end: i, in_scratch: false }
    }

    /// Parses a label set; `self.pos` is just past `{`. Exemplar labels are validated but
    /// not kept.
    fn parse_label_set(&mut self, exemplar: bool) -> Result<(), ParseError> {
        let openmetrics = self.format == Format::OpenMetrics;
        let quoted_name_rules = QuoteRules { allow_newline: true, allow_nul: false };
        let value_rules = QuoteRules { allow_newline: !openmetrics, allow_nul: !exemplar };
        loop {
            if !openmetrics {
                self.skip_blanks();
            }
            let token_start = self.pos;
            let (name_span, quoted) = match self.peek() {
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(b) if has_class(b, LABEL_START) => (self.scan_name(LABEL_CONTINUE), false),
                Some(b'"') => {
                    let Some(q) = self.scan_quoted(quoted_name_rules) else {
                        return Err(self.expected("label name", token_start));
                    };
                    let Ok(span) = self.quoted_span(&q) else {
                        return Err(self.error(token_start, "invalid UTF-8 in quoted name"));
                    };
                    (span, true)
                }
                _ => return Err(self.expected("label name", token_start)),
            };
            if !openmetrics {
                self.skip_blanks();
            }
            if exemplar && matches!(self.peek(), Some(b',' | b'}')) {
                return Err(self.expected("label name", self.pos));
            }
            if quoted && matches!(self.peek(), Some(b',' | b'}')) {
                if self.name.is_some() {
                    return Err(self.error(token_start, "metric name already set"));
                }
                self.name = Some(name_span);
                if self.peek() == Some(b',') {
                    self.pos += 1;
                    continue;
                }
                self.pos += 1;
                return Ok(());
            }
            if self.peek() != Some(b'=') {
                return Err(self.expected("equal", self.pos));
            }
            self.pos += 1;
            if !openmetrics {
                self.skip_blanks();
            }
            let value_start = self.pos;
            if self.peek() != Some(b'"') {
                return Err(self.expected("label value", value_start));
            }
            let Some(q) = self.scan_quoted(value_rules) else {
                return Err(self.expected("label value", value_start));
            };
            let Ok(value_span) = self.quoted_span(&q) else {
                let raw = String::from_utf8_lossy(&self.input[value_start..self.pos]);
                return Err(self.error(value_start, format!("invalid UTF-8 label value: {raw:?}")));
            };
            if !exemplar {
                if self.span_bytes(name_span).is_empty() {
                    return Err(self.error(token_start, "invalid label name \"\""));
                }
                self.labels.push((name_span, value_span));
            }
            if openmetrics {
                match self.peek() {
                    Some(b',') => self.pos += 1,
                    Some(b'}') => {}
                    _ => return Err(self.expected("comma or brace close", self.pos)),
                }
            } else {
                self.skip_blanks();
                if self.peek() == Some(b',') {
                    self.pos += 1;
                }
            }
        }
    }

    /// Checks what Prometheus checks of a finished series: a non-empty metric name and
    /// unique label names (`__name__` counts as one).
    fn check_series(&self) -> Result<(), ParseError> {
        let Some(name) = self.name else {
            return Err(self.error(self.series_start, "metric name not set"));
        };
        if self.span_bytes(name).is_empty() {
            return Err(self.error(self.series_start, "metric name is empty"));
        }
        let count = self.labels.len();
        // Names compared in full only when their length and first and last bytes agree.
        let mut signatures = [0u32; 32];
        for i in 0..count {
            let name_i = self.span_bytes(self.labels[i].0);
            let signature = match name_i {
                [first, .., last] => (name_i.len() as u32) << 16 | u32::from(*first) << 8 | u32::from(*last),
                [only] => 1 << 16 | u32::from(*only),
                [] => 0,
            };
            let duplicate = name_i == METRIC_NAME.as_bytes()
                || (count <= 32
                    && (0..i)
                        .any(|j| signatures[j] == signature && self.span_bytes(self.labels[j].0) == name_i));
            if duplicate {
                return Err(self.duplicate_label(name_i));
            }
            if let Some(slot) = signatures.get_mut(i) {
                *slot = signature;
            }
        }
        if count > 32 {
            let mut names: Vec<&[u8]> = self.labels.iter().map(|&(n, _)| self.span_bytes(n)).collect();
            names.sort_unstable();
            if let Some(pair) = names.windows(2).find(|w| w[0] == w[1]) {
                return Err(self.duplicate_label(pair[0]));
            }
        }
        Ok(())
    }

    fn duplicate_label(&self, name: &[u8]) -> ParseError {
        self.error(self.series_start, format!("duplicate label name {:?}", String::from_utf8_lossy(name)))
    }

    fn float_error(&self, what: &str, at: usize, token: &[u8], error: FloatError) -> ParseError {
        let token = String::from_utf8_lossy(token);
        let message = match error {
            FloatError::UnsupportedCharacter => format!("unsupported character in float {token:?}"),
            FloatError::Syntax => format!("expected {what}, got {token:?}"),
            FloatError::Range => format!("{what}: {token:?} is out of range for a float64"),
        };
        self.error(at, message)
    }

    /// Parses the metric name (unquoted, or quoted inside the braces) and labels of a sample
    /// line; `self.pos` is at its first byte. The series key stops after the name or `}`.
    fn parse_series(&mut self) -> Result<(), ParseError> {
        self.begin_sample();
        if self.peek() != Some(b'{') {
            self.name = Some(self.scan_name(METRIC_CONTINUE));
            self.series_end = self.pos;
            if self.format == Format::PrometheusText {
                self.skip_blanks();
            }
            if self.peek() != Some(b'{') {
                return self.check_series();
            }
        }
        self.pos += 1;
        self.parse_label_set(false)?;
        self.series_end = self.pos;
        self.check_series()
    }

    // ----- Prometheus text -----

    fn advance_prometheus(&mut self) -> Result<bool, ParseError> {
        loop {
            self.skip_blanks();
            let Some(b) = self.peek() else {
                return Ok(false);
            };
            match b {
                b'\n' => {
                    self.pos += 1;
                    self.cursor_line += 1;
                }
                // Prometheus's lexer reads a NUL where a token should start as end of input.
                0 => {
                    self.pos = self.input.len();
                    return Ok(false);
                }
                b'#' => self.prometheus_comment()?,
                b'{' => {
                    self.parse_series()?;
                    self.prometheus_sample_suffix()?;
                    return Ok(true);
                }
                b if has_class(b, METRIC_START) => {
                    self.parse_series()?;
                    self.prometheus_sample_suffix()?;
                    return Ok(true);
                }
                _ => return Err(self.expected("a valid start token", self.pos)),
            }
        }
    }

    /// A `#` line: `# HELP`, `# TYPE`, or a comment. `self.pos` is at the `#`.
    fn prometheus_comment(&mut self) -> Result<(), ParseError> {
        let line_start = self.pos;
        self.pos += 1;
        let blanks_start = self.pos;
        self.skip_blanks();
        if self.pos == blanks_start {
            self.skip_line();
            return Ok(());
        }
        let rest = &self.input[self.pos..];
        let keyword = if rest.starts_with(b"HELP") {
            "HELP"
        } else if rest.starts_with(b"TYPE") {
            "TYPE"
        } else {
            self.skip_line();
            return Ok(());
        };
        if !matches!(rest.get(4), Some(b' ' | b'\t')) {
            self.skip_line();
            return Ok(());
        }
        self.pos += 4;
        self.skip_blanks();
        let name = self.metadata_name(keyword)?;
        let line_end = self.input[self.pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(self.input.len(), |o| self.pos + o);
        let rest = &self.input[self.pos..line_end];
        // The lexer's text token starts right after the name and drops its first character;
        // a rest of blanks only lexes as whitespace and leaves the text empty.
        let text: &[u8] = if rest.iter().all(|&b| b == b' ' || b == b'\t') { b"" } else { &rest[1..] };
        if keyword == "TYPE" {
            let declared = match text {
                b"counter" => MetricType::Counter,
                b"gauge" => MetricType::Gauge,
                b"histogram" => MetricType::Histogram,
                b"summary" => MetricType::Summary,
                b"untyped" => MetricType::Unknown,
                _ => {
                    let message = format!("invalid metric type {:?}", String::from_utf8_lossy(text));
                    return Err(self.error(line_start, message));
                }
            };
            self.set_family(name, declared);
        } else if std::str::from_utf8(text).is_err() {
            let message = format!("help text {:?} is not valid UTF-8", String::from_utf8_lossy(text));
            return Err(self.error(line_start, message));
        }
        self.skip_line();
        Ok(())
    }

    /// The metric name of a HELP/TYPE/UNIT line, unquoted and unescaped into `scratch`.
    fn metadata_name(&mut self, keyword: &str) -> Result<Span, ParseError> {
        let start = self.pos;
        match self.peek() {
            Some(b) if has_class(b, METRIC_START) => Ok(self.scan_name(METRIC_CONTINUE)),
            Some(b'"') => {
                self.scratch.clear();
                let rules = QuoteRules { allow_newline: true, allow_nul: false };
                let Some(q) = self.scan_quoted(rules) else {
                    return Err(self.expected(&format!("metric name after {keyword}"), start));
                };
                self.quoted_span(&q).map_err(|()| self.error(start, "invalid UTF-8 in quoted name"))
            }
            _ => Err(self.expected(&format!("metric name after {keyword}"), start)),
        }
    }

    fn set_family(&mut self, name: Span, declared: MetricType) {
        let mut family = std::mem::take(&mut self.family_name);
        family.clear();
        family.push_str(self.text(name));
        self.family_name = family;
        self.declared_type = declared;
        self.has_family = true;
    }

    /// Value and optional timestamp after the series of a Prometheus text sample.
    fn prometheus_sample_suffix(&mut self) -> Result<(), ParseError> {
        self.skip_blanks();
        let value_start = self.pos;
        let input = self.input;
        let mut i = value_start;
        while i < input.len() && !matches!(input[i], b'{' | b' ' | b'\t' | b'\n') {
            i += 1;
        }
        if i == value_start {
            return Err(self.expected("value after metric", value_start));
        }
        let token = &input[value_start..i];
        self.value = parse_go_float(token)
            .map_err(|e| self.float_error("value after metric", value_start, token, e))?;
        if self.value.is_nan() {
            self.value = f64::from_bits(NORMAL_NAN_BITS);
        }
        self.pos = i;
        self.skip_blanks();
        match self.peek() {
            None => return Ok(()),
            Some(b'\n') => {
                self.pos += 1;
                self.cursor_line += 1;
                return Ok(());
            }
            Some(b'0'..=b'9') => {}
            Some(_) => return Err(self.expected("timestamp or new record", self.pos)),
        }
        let ts_start = self.pos;
        let mut timestamp: i64 = 0;
        let mut overflow = false;
        while let Some(d @ b'0'..=b'9') = self.peek() {
            match timestamp.checked_mul(10).and_then(|t| t.checked_add(i64::from(d - b'0'))) {
                Some(t) => timestamp = t,
                None => overflow = true,
            }
            self.pos += 1;
        }
        if overflow {
            let token = String::from_utf8_lossy(&input[ts_start..self.pos]);
            return Err(self.error(ts_start, format!("timestamp {token:?} out of range")));
        }
        self.timestamp_ms = Some(timestamp);
        self.skip_blanks();
        match self.peek() {
            None => Ok(()),
            Some(b'\n') => {
                self.pos += 1;
                self.cursor_line += 1;
                Ok(())
            }
            Some(_) => Err(self.expected("next entry after timestamp", self.pos)),
        }
    }

    // ----- OpenMetrics -----

    fn advance_openmetrics(&mut self) -> Result<bool, ParseError> {
        loop {
            match self.peek() {
                None => return Err(self.error(self.pos, "data does not end with # EOF")),
                Some(b'#') => {
                    if !self.openmetrics_metadata()? {
                        return Ok(false);
                    }
                }
                Some(b) if b == b'{' || has_class(b, METRIC_START) => {
                    self.parse_series()?;
                    self.openmetrics_sample_suffix()?;
                    if self.skip_created && self.is_created_series() {
                        continue;
                    }
                    return Ok(true);
                }
                Some(_) => return Err(self.expected("a valid start token", self.pos)),
            }
        }
    }

    /// A `# HELP`, `# TYPE`, `# UNIT` or `# EOF` line. `Ok(false)` after `# EOF`.
    fn openmetrics_metadata(&mut self) -> Result<bool, ParseError> {
        let line_start = self.pos;
        let rest = &self.input[self.pos..];
        let keyword = if rest.starts_with(b"# HELP ") {
            "HELP"
        } else if rest.starts_with(b"# TYPE ") {
            "TYPE"
        } else if rest.starts_with(b"# UNIT ") {
            "UNIT"
        } else if rest.starts_with(b"# EOF") {
            let mut end = self.pos + 5;
            if self.peek_at(end) == Some(b'\n') {
                end += 1;
            }
            if end != self.input.len() {
                return Err(self.error(line_start, "unexpected data after # EOF"));
            }
            self.pos = end;
            return Ok(false);
        } else {
            return Err(self.expected("a valid start token", line_start));
        };
        self.pos += 7;
        let name = self.metadata_name(keyword)?;
        let Some(newline) = self.input[self.pos..].iter().position(|&b| b == b'\n').map(|o| self.pos + o)
        else {
            return Err(self.error(self.pos, format!("expected text in {keyword}")));
        };
        if self.peek() != Some(b' ') {
            return Err(self.error(self.pos, format!("expected text in {keyword}")));
        }
        let text = &self.input[self.pos + 1..newline];
        match keyword {
            "TYPE" => {
                let declared = match text {
                    b"counter" => MetricType::Counter,
                    b"gauge" => MetricType::Gauge,
                    b"histogram" => MetricType::Histogram,
                    b"gaugehistogram" => MetricType::GaugeHistogram,
                    b"summary" => MetricType::Summary,
                    b"info" => MetricType::Info,
                    b"stateset" => MetricType::StateSet,
                    b"unknown" => MetricType::Unknown,
                    _ => {
                        let message = format!("invalid metric type {:?}", String::from_utf8_lossy(text));
                        return Err(self.error(line_start, message));
                    }
                };
                self.set_family(name, declared);
            }
            "HELP" => {
                if std::str::from_utf8(text).is_err() {
                    let message = format!("help text {:?} is not valid UTF-8", String::from_utf8_lossy(text));
                    return Err(self.error(line_start, message));
                }
            }
            _ => {
                let metric = self.span_bytes(name);
                let valid = text.is_empty()
                    || (metric.len() > text.len()
                        && metric.ends_with(text)
                        && metric[metric.len() - text.len() - 1] == b'_');
                if !valid {
                    let message = format!(
                        "unit {:?} not a suffix of metric {:?}",
                        String::from_utf8_lossy(text),
                        String::from_utf8_lossy(metric)
                    );
                    return Err(self.error(line_start, message));
                }
            }
        }
        self.pos = newline + 1;
        self.cursor_line += 1;
        Ok(true)
    }

    /// ` value[ timestamp][ # {exemplar} value[ timestamp]]\n` after an OpenMetrics series.
    fn openmetrics_sample_suffix(&mut self) -> Result<(), ParseError> {
        let Some(value_token) = self.openmetrics_token() else {
            return Err(self.expected("value after metric", self.pos));
        };
        let token = &self.input[value_token.0..value_token.1];
        self.value = parse_go_float(token)
            .map_err(|e| self.float_error("value after metric", value_token.0, token, e))?;
        if self.value.is_nan() {
            self.value = f64::from_bits(NORMAL_NAN_BITS);
        }
        if self.openmetrics_line_end()? {
            return Ok(());
        }
        if self.at_exemplar() {
            return self.openmetrics_exemplar();
        }
        let Some(ts_token) = self.openmetrics_token() else {
            return Err(self.expected("timestamp or comment", self.pos));
        };
        let token = &self.input[ts_token.0..ts_token.1];
        let seconds =
            parse_go_float(token).map_err(|e| self.float_error("timestamp", ts_token.0, token, e))?;
        if !seconds.is_finite() {
            return Err(
                self.error(ts_token.0, format!("invalid timestamp {}", format_openmetrics_float(seconds)))
            );
        }
        self.timestamp_ms = Some((seconds * 1000.0) as i64);
        match self.peek() {
            Some(b'\n') => {
                self.pos += 1;
                self.cursor_line += 1;
                Ok(())
            }
            _ if self.at_exemplar() => self.openmetrics_exemplar(),
            _ => Err(self.expected("next entry after timestamp", self.pos)),
        }
    }

    /// ` token`: one space, then bytes up to a space or newline. Moves past it.
    fn openmetrics_token(&mut self) -> Option<(usize, usize)> {
        if self.peek() != Some(b' ') {
            return None;
        }
        let start = self.pos + 1;
        let mut end = start;
        while end < self.input.len() && !matches!(self.input[end], b' ' | b'\n') {
            end += 1;
        }
        if end == start {
            return None;
        }
        self.pos = end;
        Some((start, end))
    }

    /// After a value: `Ok(true)` and consumed at a newline, an error at end of input.
    fn openmetrics_line_end(&mut self) -> Result<bool, ParseError> {
        match self.peek() {
            None => Err(self.error(self.pos, "data does not end with # EOF")),
            Some(b'\n') => {
                self.pos += 1;
                self.cursor_line += 1;
                Ok(true)
            }
            Some(_) => Ok(false),
        }
    }

    fn at_exemplar(&self) -> bool {
        self.input[self.pos..].starts_with(b" # {")
    }

    /// Validates and skips ` # {labels} value[ timestamp]\n`.
    fn openmetrics_exemplar(&mut self) -> Result<(), ParseError> {
        self.pos += 4;
        self.parse_label_set(true)?;
        let Some(value_token) = self.openmetrics_token() else {
            return Err(self.expected("value after exemplar labels", self.pos));
        };
        let token = &self.input[value_token.0..value_token.1];
        parse_go_float(token)
            .map_err(|e| self.float_error("value after exemplar labels", value_token.0, token, e))?;
        if self.openmetrics_line_end()? {
            return Ok(());
        }
        let Some(ts_token) = self.openmetrics_token() else {
            return Err(self.expected("timestamp or comment", self.pos));
        };
        let token = &self.input[ts_token.0..ts_token.1];
        let seconds = parse_go_float(token)
            .map_err(|e| self.float_error("exemplar timestamp", ts_token.0, token, e))?;
        if !seconds.is_finite() {
            let message = format!("invalid exemplar timestamp {}", format_openmetrics_float(seconds));
            return Err(self.error(ts_token.0, message));
        }
        match self.peek() {
            Some(b'\n') => {
                self.pos += 1;
                self.cursor_line += 1;
                Ok(())
            }
            _ => Err(self.expected("next entry after exemplar timestamp", self.pos)),
        }
    }

    fn is_created_series(&self) -> bool {
        matches!(self.declared_type, MetricType::Counter | MetricType::Histogram | MetricType::Summary)
            && self.metric_name().ends_with("_created")
    }
}

/// Prometheus's escapes: `\\`, `\"` and `\n`; any other backslash pair stays as written.
fn unescape_into(raw: &str, out: &mut String) {
    let mut rest = raw;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        match after.as_bytes().first() {
            Some(b'\\') => {
                out.push('\\');
                rest = &after[1..];
            }
            Some(b'"') => {
                out.push('"');
                rest = &after[1..];
            }
            Some(b'n') => {
                out.push('\n');
                rest = &after[1..];
            }
            _ => {
                out.push('\\');
                rest = after;
            }
        }
    }
    out.push_str(rest);
}

/// Normalises an `le`/`quantile` value to OpenMetrics float text when it parses as a float.
fn normalise_float_label(value: &str) -> Cow<'_, str> {
    if value == "+Inf" || is_canonical_plain_decimal(value.as_bytes()) {
        return Cow::Borrowed(value);
    }
    match parse_go_float(value.as_bytes()) {
        Ok(f) => {
            let formatted = format_openmetrics_float(f);
            if formatted == value { Cow::Borrowed(value) } else { Cow::Owned(formatted) }
        }
        Err(_) => Cow::Borrowed(value),
    }
}

/// Whether `text` is already what [`format_openmetrics_float`] would print for it: a plain
/// decimal with a fraction, at most 15 significant digits (so no shorter string maps to the
/// same float), no redundant zeros, and a magnitude in Go's non-exponent range [1e-4, 1e6).
fn is_canonical_plain_decimal(text: &[u8]) -> bool {
    let digits = text.strip_prefix(b"-").unwrap_or(text);
    let Some(dot) = digits.iter().position(|&b| b == b'.') else {
        return false;
    };
    let (int_part, fraction) = (&digits[..dot], &digits[dot + 1..]);
    let all_digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    if int_part.is_empty() || fraction.is_empty() || !all_digits(int_part) || !all_digits(fraction) {
        return false;
    }
    if fraction.last() == Some(&b'0') && !(fraction.len() == 1 && int_part != b"0") {
        // `1.50` is not canonical; `1.0` is (the `.0` Prometheus appends), `0.0` is handled
        // by the caller's formatting.
        return false;
    }
    let significant = if int_part == b"0" {
        let leading_zeros = fraction.iter().take_while(|&&b| b == b'0').count();
        if leading_zeros >= 4 || leading_zeros == fraction.len() {
            return false;
        }
        fraction.len() - leading_zeros
    } else {
        if int_part[0] == b'0' || int_part.len() > 6 {
            return false;
        }
        int_part.len() + fraction.len()
    };
    significant <= 15
}

/// Whether a series named `name` belongs to the family declared as `family` of type
/// `declared`, per Prometheus's `isSeriesPartOfFamily` (plus OpenMetrics `_created`).
fn is_series_part_of_family(name: &str, family: &str, declared: MetricType, format: Format) -> bool {
    if !name.starts_with(family) {
        return false;
    }
    let openmetrics = format == Format::OpenMetrics;
    let cut_any = |suffixes: &[&str]| -> Option<&str> { suffixes.iter().find_map(|s| name.strip_suffix(s)) };
    let (family, base) = match declared {
        MetricType::Counter => {
            let family = family.strip_suffix("_total").unwrap_or(family);
            let suffixes: &[&str] = if openmetrics { &["_total", "_created"] } else { &["_total"] };
            (family, cut_any(suffixes).unwrap_or(name))
        }
        MetricType::Histogram => {
            let suffixes: &[&str] = if openmetrics {
                &["_bucket", "_sum", "_count", "_created"]
            } else {
                &["_bucket", "_sum", "_count"]
            };
            (family, cut_any(suffixes).unwrap_or(name))
        }
        MetricType::GaugeHistogram => (family, cut_any(&["_bucket", "_gsum", "_gcount"]).unwrap_or(name)),
        MetricType::Summary => {
            let suffixes: &[&str] =
                if openmetrics { &["_sum", "_count", "_created"] } else { &["_sum", "_count"] };
            (family, cut_any(suffixes).unwrap_or(name))
        }
        MetricType::Info => {
            (family.strip_suffix("_info").unwrap_or(family), cut_any(&["_info"]).unwrap_or(name))
        }
        _ => (family, name),
    };
    family == base
}
