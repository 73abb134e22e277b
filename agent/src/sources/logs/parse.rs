//! Turns the bytes of one log file into entries: CRI lines with their partial (`P`) parts
//! joined, docker json-file lines with their 16 KiB parts joined, plain lines, and optionally
//! multiline entries (a start pattern and the lines after it), each put into a
//! [`ChunkBuilder`] with its stream and timestamp.
//!
//! ```text
//!  fed bytes ─▶ physical lines ─▶ format (CRI | docker | plain) ─▶ partial runs ─▶ multiline ─▶ ChunkBuilder
//!               (cut at the         (time, stream, message)          (per stream)     (per stream,
//!                line limit)                                                            optional)
//! ```
//!
//! ## Stages
//! - **Physical lines.** Bytes up to each `\n`. A complete line inside the fed block is parsed
//!   straight from it: a CRI `F` line with no partial run or multiline pending goes from the
//!   fed bytes into [`ChunkBuilder::push`] without being copied or allocating. Only the
//!   unterminated last line of a block is copied, to be completed by the next feed. A line
//!   longer than `max_line_bytes` (plus room for the CRI prefix or JSON escaping) keeps its
//!   first bytes and the rest up to its `\n` is skipped as it is fed, never buffered.
//! - **Formats.** CRI (`<time> <stream> <P|F> <message>`, see `cri`), docker json-file (see
//!   `docker`; a `log` without its trailing `\n` is a part of a split line), plain (the line
//!   without a trailing `\r`, stream [`StdStream::None`], timestamped when read) and auto
//!   (`{` first: docker, else CRI). A line that does not parse is emitted as it is on stdout
//!   with the read time and counted `malformed`; a CRI or docker line whose only fault is its
//!   time keeps its stream and message, takes the read time and is counted `malformed` too.
//! - **Partial runs.** Per stream (stdout and stderr are independent), parts are joined until
//!   the last one (`F`, or a docker `log` ending in `\n`). The entry takes the *first* part's
//!   time, as Vector's `kubernetes_logs` merger does (it keeps the first event and appends the
//!   later messages). A run longer than `max_line_bytes` is cut there (counted
//!   `partial_overflow`) and its remaining parts are skipped until its last one. A run whose
//!   last part never comes is emitted by [`LineParser::flush_expired`] after the multiline
//!   timeout, or [`PARTIAL_RUN_TIMEOUT`] without multiline, since its last part.
//! - **Multiline** (optional, per stream): a message matching `start_pattern` starts an
//!   entry; the messages after it that do not match are appended with `\n`. The entry is
//!   emitted when the next start comes, when it has `max_lines` lines, when it reaches
//!   `max_line_bytes` (cut), or by [`LineParser::flush_expired`] `timeout` after its last line.
//!   A message that does not match while no entry is open starts one.
//!
//! Every emitted entry is at most `max_line_bytes` long (cut at a UTF-8 boundary when the text
//! is UTF-8) and counted in `lines`; one that was cut is counted in `truncated`.
//!
//! ## Resuming after a crash: [`LineParser::safe_offset`]
//! The file source commits, per chunk, the `safe_offset()` taken after the feed that filled
//! the chunk, and after a restart feeds the file again from the committed offset into a
//! fresh parser. The invariant that makes this lose nothing:
//!
//! - An entry is emitted only once all its bytes have been fed (the `\n` of its last line
//!   included; a cut line is emitted at its `\n`, a cut run at its last part).
//! - `safe_offset()` is the smallest start offset of what is held (the unterminated line; each
//!   stream's partial run; each stream's open multiline entry, whose start is that of its
//!   first line's first part), or the offset after everything fed when nothing is held.
//!
//! So every entry not yet emitted starts at or after `safe_offset()` and is read again in
//! full: **no loss**. An entry already emitted is produced again only if some of its bytes
//! lie after `safe_offset()`, which needs something older still held when it was emitted.
//! One stream's entries are strictly sequential (a run or multiline entry completes before
//! the next begins), so that older item belongs to the *other* stream: e.g. a stdout `P` run
//! is still open while stderr lines complete after it. A restart from the run's start emits
//! those stderr entries again (a stderr entry that itself began before the run's start comes
//! out as its tail only: its parts or lines after the offset). Likewise a malformed line,
//! emitted at once, is emitted again when it falls inside an open run of its stream. These
//! are the only **duplicates**: bounded by what one stream wrote while the other held a run
//! or an entry, and none at all for files with one stream (plain files, a container writing
//! only stdout). Entries emitted after a restart are otherwise the same as without it: at the
//! resume offset nothing of that stream is open, as in the original run. With multiline, the
//! other stream's lines right after the resume offset may also be grouped differently until
//! its next start line (a continuation line read first opens an entry of its own, and
//! `max_lines` counts from there): every line is still there, in order.
//!
//! The tests check both properties by restarting a parser at random points from its
//! `safe_offset()`: with one stream the output equals an uninterrupted parse exactly; with
//! two, nothing is missing and every extra entry repeats (or is the tail of) one emitted
//! before the restart.

mod cri;
mod docker;
mod timestamp;

pub use timestamp::parse_rfc3339_nanos;

use crate::logs::config::{LineFormat, MultilineConfig};
use crate::logs::{ChunkBuilder, StdStream};
use cri::parse_cri;
use docker::parse_docker;
use memchr::memchr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a partial run (CRI `P` parts, docker parts) waits for its last part when no
/// multiline timeout is configured, before [`LineParser::flush_expired`] emits it as it is.
pub const PARTIAL_RUN_TIMEOUT: Duration = Duration::from_secs(5);

/// Room for the CRI prefix on top of `max_line_bytes` in a physical line.
const PREFIX_ALLOWANCE: usize = 1024;
/// A docker line holds at most 16 KiB of log, but JSON escaping can make that up to six times
/// longer (`\u0000`); physical lines this long are always kept whole.
const DOCKER_PHYSICAL_MIN: usize = 16 * 1024 * 6 + PREFIX_ALLOWANCE;
/// Buffers that grew beyond this (a long run or entry) are freed once emitted, so an idle
/// file does not keep its largest line's memory.
const RETAINED_BUFFER_BYTES: usize = 64 * 1024;

/// How a file's bytes are parsed.
#[derive(Debug)]
pub struct ParserSettings {
    pub format: LineFormat,
    /// The longest entry emitted; longer ones are cut (and counted).
    pub max_line_bytes: usize,
    pub multiline: Option<CompiledMultiline>,
}

/// A [`MultilineConfig`] with its pattern compiled.
#[derive(Debug, Clone)]
pub struct CompiledMultiline {
    pub start: regex::Regex,
    pub timeout: Duration,
    pub max_lines: usize,
}

impl CompiledMultiline {
    pub fn compile(cfg: &MultilineConfig) -> Result<Self, regex::Error> {
        Ok(CompiledMultiline {
            start: regex::Regex::new(&cfg.start_pattern)?,
            timeout: cfg.timeout.as_duration(),
            max_lines: cfg.max_lines,
        })
    }

    fn is_start(&self, message: &[u8]) -> bool {
        match std::str::from_utf8(message) {
            Ok(text) => self.start.is_match(text),
            Err(_) => self.start.is_match(&String::from_utf8_lossy(message)),
        }
    }
}

/// Counters a parser adds to (the source exports them as metrics).
#[derive(Default, Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseCounters {
    /// Entries emitted (a joined run or multiline entry counts once).
    pub lines: u64,
    /// Entries cut at `max_line_bytes` (for any reason, partial runs included).
    pub truncated: u64,
    /// Lines that did not parse in the file's format, or whose time did not.
    pub malformed: u64,
    /// Partial runs longer than `max_line_bytes` (also counted in `truncated`).
    pub partial_overflow: u64,
}

/// Turns a file's bytes into entries. One per open file; see the module documentation.
#[derive(Debug)]
pub struct LineParser {
    settings: Arc<ParserSettings>,
    /// Physical lines longer than this are cut.
    physical_cap: usize,
    /// The file offset after the last byte fed.
    fed_end: u64,
    /// The unterminated last line (at most `physical_cap` bytes of it).
    pending: Vec<u8>,
    pending_start: u64,
    /// `pending` reached `physical_cap`: the bytes until the next `\n` are dropped.
    discarding: bool,
    /// Where docker's `log` is unescaped, reused line after line.
    docker_log: Vec<u8>,
    stages: Stages,
}

/// Partial runs and multiline entries of each stream, and the counters.
#[derive(Debug)]
struct Stages {
    max_line_bytes: usize,
    partial_timeout: Duration,
    /// Indexed by [`stream_index`].
    streams: [StreamState; 3],
    counters: ParseCounters,
}

#[derive(Debug, Default)]
struct StreamState {
    run: Held,
    entry: Held,
}

/// A partial run or a multiline entry being collected.
#[derive(Debug, Default)]
struct Held {
    active: bool,
    data: Vec<u8>,
    timestamp_ns: i64,
    /// The file offset of its first byte.
    start: u64,
    last_update: Option<Instant>,
    /// Bytes were cut from it.
    cut: bool,
    lines: usize,
}

/// Where emitted entries go, and the times of this call.
struct Emit<'a> {
    out: &'a mut ChunkBuilder,
    now: Instant,
    read_time_ns: i64,
}

impl LineParser {
    /// `start_offset`: the file offset of the first byte that will be fed.
    pub fn new(settings: Arc<ParserSettings>, start_offset: u64) -> Self {
        let max_line_bytes = settings.max_line_bytes.max(1);
        let physical_cap = match settings.format {
            LineFormat::Plain => max_line_bytes + 1,
            LineFormat::Cri => max_line_bytes + PREFIX_ALLOWANCE,
            LineFormat::Docker | LineFormat::Auto => {
                (max_line_bytes + PREFIX_ALLOWANCE).max(DOCKER_PHYSICAL_MIN)
            }
        };
        let partial_timeout = settings.multiline.as_ref().map_or(PARTIAL_RUN_TIMEOUT, |m| m.timeout);
        LineParser {
            settings,
            physical_cap,
            fed_end: start_offset,
            pending: Vec::new(),
            pending_start: start_offset,
            discarding: false,
            docker_log: Vec::new(),
            stages: Stages {
                max_line_bytes,
                partial_timeout,
                streams: Default::default(),
                counters: ParseCounters::default(),
            },
        }
    }

    /// Feeds the next bytes of the file (contiguous with what was fed before). Complete
    /// entries go to `out`; `read_time_ns` timestamps plain lines. An incomplete last line is
    /// kept.
    pub fn feed(&mut self, bytes: &[u8], read_time_ns: i64, out: &mut ChunkBuilder) {
        if bytes.is_empty() {
            return;
        }
        let mut emit = Emit { out, now: Instant::now(), read_time_ns };
        let base = self.fed_end;
        self.fed_end += bytes.len() as u64;
        let mut position = 0;

        if self.holds_line() {
            let Some(newline) = memchr(b'\n', bytes) else {
                self.append_pending(bytes);
                return;
            };
            self.append_pending(&bytes[..newline]);
            self.process_pending(&mut emit);
            position = newline + 1;
        }

        while let Some(length) = memchr(b'\n', &bytes[position..]) {
            let line = &bytes[position..position + length];
            let start = base + position as u64;
            if line.len() > self.physical_cap {
                self.process_line(&line[..self.physical_cap], start, true, &mut emit);
            } else {
                self.process_line(line, start, false, &mut emit);
            }
            position += length + 1;
        }

        if position < bytes.len() {
            self.pending_start = base + position as u64;
            self.append_pending(&bytes[position..]);
        }
    }

    /// Emits partial runs and multiline entries that have waited longer than their timeout
    /// since their last part or line.
    pub fn flush_expired(&mut self, now: Instant, out: &mut ChunkBuilder) {
        let mut emit = Emit { out, now, read_time_ns: 0 };
        let multiline = self.settings.multiline.as_ref();
        self.stages.flush(multiline, &mut emit, |held, timeout| {
            held.last_update.is_none_or(|last| now.saturating_duration_since(last) >= timeout)
        });
    }

    /// The file is done (rotated away and drained, or deleted): emits what is held,
    /// including an unterminated last line.
    pub fn finish(&mut self, read_time_ns: i64, out: &mut ChunkBuilder) {
        let mut emit = Emit { out, now: Instant::now(), read_time_ns };
        if self.holds_line() {
            self.process_pending(&mut emit);
        }
        let multiline = self.settings.multiline.as_ref();
        self.stages.flush(multiline, &mut emit, |_, _| true);
    }

    /// The offset to resume from after a restart so nothing not yet emitted is lost: the
    /// start of the oldest thing held back (incomplete line, partial run, multiline entry),
    /// or the offset after everything fed when nothing is held. See the module documentation
    /// for what a restart from here may emit twice.
    pub fn safe_offset(&self) -> u64 {
        let mut offset = self.fed_end;
        if self.holds_line() {
            offset = offset.min(self.pending_start);
        }
        for state in &self.stages.streams {
            for held in [&state.run, &state.entry] {
                if held.active {
                    offset = offset.min(held.start);
                }
            }
        }
        offset
    }

    /// Cumulative counts.
    pub fn counters(&self) -> ParseCounters {
        self.stages.counters
    }

    fn holds_line(&self) -> bool {
        self.discarding || !self.pending.is_empty()
    }

    fn append_pending(&mut self, bytes: &[u8]) {
        if self.discarding {
            return;
        }
        let room = self.physical_cap - self.pending.len();
        if bytes.len() > room {
            self.pending.extend_from_slice(&bytes[..room]);
            self.discarding = true;
        } else {
            self.pending.extend_from_slice(bytes);
        }
    }

    /// Parses the held line (now complete, or the file is done).
    fn process_pending(&mut self, emit: &mut Emit<'_>) {
        let mut line = std::mem::take(&mut self.pending);
        let cut = std::mem::replace(&mut self.discarding, false);
        self.process_line(&line, self.pending_start, cut, emit);
        line.clear();
        if line.capacity() <= RETAINED_BUFFER_BYTES {
            self.pending = line;
        }
    }

    /// One physical line (without its `\n`); `cut`: it was longer than `physical_cap`.
    fn process_line(&mut self, line: &[u8], start: u64, cut: bool, emit: &mut Emit<'_>) {
        let multiline = self.settings.multiline.as_ref();
        let stages = &mut self.stages;
        match self.settings.format {
            LineFormat::Plain => {
                let line = if cut { line } else { line.strip_suffix(b"\r").unwrap_or(line) };
                let time = emit.read_time_ns;
                stages.complete(multiline, StdStream::None, time, line, start, cut, emit);
            }
            LineFormat::Cri => stages.cri(multiline, line, start, cut, emit),
            LineFormat::Docker => stages.docker(multiline, &mut self.docker_log, line, start, cut, emit),
            LineFormat::Auto if line.first() == Some(&b'{') => {
                stages.docker(multiline, &mut self.docker_log, line, start, cut, emit);
            }
            LineFormat::Auto => stages.cri(multiline, line, start, cut, emit),
        }
    }
}

impl Stages {
    fn cri(
        &mut self,
        multiline: Option<&CompiledMultiline>,
        line: &[u8],
        start: u64,
        cut: bool,
        emit: &mut Emit<'_>,
    ) {
        match parse_cri(line) {
            Some(cri) => {
                let time = self.time_or_read_time(Some(cri.time), emit.read_time_ns);
                self.part(multiline, cri.stream, time, cri.message, start, cri.partial, cut, emit);
            }
            None => self.malformed(multiline, line, start, cut, emit),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn docker(
        &mut self,
        multiline: Option<&CompiledMultiline>,
        log: &mut Vec<u8>,
        line: &[u8],
        start: u64,
        cut: bool,
        emit: &mut Emit<'_>,
    ) {
        match parse_docker(line, log) {
            Some(docker) => {
                let time = self.time_or_read_time(docker.time, emit.read_time_ns);
                self.part(multiline, docker.stream, time, log, start, docker.partial, cut, emit);
            }
            None => self.malformed(multiline, line, start, cut, emit),
        }
    }

    fn time_or_read_time(&mut self, time: Option<&[u8]>, read_time_ns: i64) -> i64 {
        match time.and_then(parse_rfc3339_nanos) {
            Some(time) => time,
            None => {
                self.counters.malformed += 1;
                read_time_ns
            }
        }
    }

    /// A line that is not in the file's format: emitted as it is, on stdout, at read time.
    fn malformed(
        &mut self,
        multiline: Option<&CompiledMultiline>,
        line: &[u8],
        start: u64,
        cut: bool,
        emit: &mut Emit<'_>,
    ) {
        self.counters.malformed += 1;
        let time = emit.read_time_ns;
        self.complete(multiline, StdStream::Stdout, time, line, start, cut, emit);
    }

    /// A message that may be one part of a run (`partial`: more parts follow).
    #[allow(clippy::too_many_arguments)]
    fn part(
        &mut self,
        multiline: Option<&CompiledMultiline>,
        stream: StdStream,
        timestamp_ns: i64,
        message: &[u8],
        start: u64,
        partial: bool,
        cut: bool,
        emit: &mut Emit<'_>,
    ) {
        let index = stream.index();
        if !partial && !self.streams[index].run.active {
            self.complete(multiline, stream, timestamp_ns, message, start, cut, emit);
            return;
        }
        let run = &mut self.streams[index].run;
        if !run.active {
            run.begin(timestamp_ns, start, emit.now);
        }
        run.last_update = Some(emit.now);
        let was_cut = run.cut;
        if !run.append(message, self.max_line_bytes) || cut {
            run.cut = true;
        }
        if run.cut && !was_cut {
            self.counters.partial_overflow += 1;
        }
        if !partial {
            self.complete_run(multiline, index, emit);
        }
    }

    /// Hands stream `index`'s run, as one message, to the multiline stage.
    fn complete_run(&mut self, multiline: Option<&CompiledMultiline>, index: usize, emit: &mut Emit<'_>) {
        let mut run = std::mem::take(&mut self.streams[index].run);
        let stream = STREAMS[index];
        self.complete(multiline, stream, run.timestamp_ns, &run.data, run.start, run.cut, emit);
        run.reset();
        self.streams[index].run = run;
    }

    /// A complete message (a whole line or a joined run): emitted, or added to the stream's
    /// multiline entry.
    #[allow(clippy::too_many_arguments)]
    fn complete(
        &mut self,
        multiline: Option<&CompiledMultiline>,
        stream: StdStream,
        timestamp_ns: i64,
        message: &[u8],
        start: u64,
        cut: bool,
        emit: &mut Emit<'_>,
    ) {
        let max = self.max_line_bytes;
        let Some(multiline) = multiline else {
            let fits = message.len() <= max;
            let line = if fits { message } else { &message[..char_boundary(message, max)] };
            emit.out.push(stream, timestamp_ns, line);
            self.counters.lines += 1;
            if cut || !fits {
                self.counters.truncated += 1;
            }
            return;
        };
        let entry = &mut self.streams[stream.index()].entry;
        let full = if !entry.active || multiline.is_start(message) {
            if entry.active {
                entry.emit(stream, emit.out, &mut self.counters);
            }
            entry.begin(timestamp_ns, start, emit.now);
            !entry.append(message, max)
        } else {
            entry.last_update = Some(emit.now);
            !(entry.append(b"\n", max) && entry.append(message, max))
        };
        entry.lines += 1;
        if cut {
            entry.cut = true;
        }
        if full || entry.lines >= multiline.max_lines.max(1) {
            entry.emit(stream, emit.out, &mut self.counters);
        }
    }

    /// Emits the runs and multiline entries for which `due(held, timeout)` is true.
    fn flush(
        &mut self,
        multiline: Option<&CompiledMultiline>,
        emit: &mut Emit<'_>,
        due: impl Fn(&Held, Duration) -> bool,
    ) {
        for (index, stream) in STREAMS.into_iter().enumerate() {
            if self.streams[index].run.active && due(&self.streams[index].run, self.partial_timeout) {
                self.complete_run(multiline, index, emit);
            }
            if let Some(multiline) = multiline {
                let entry = &mut self.streams[index].entry;
                if entry.active && due(entry, multiline.timeout) {
                    entry.emit(stream, emit.out, &mut self.counters);
                }
            }
        }
    }
}

impl Held {
    fn begin(&mut self, timestamp_ns: i64, start: u64, now: Instant) {
        self.active = true;
        self.data.clear();
        self.timestamp_ns = timestamp_ns;
        self.start = start;
        self.last_update = Some(now);
        self.cut = false;
        self.lines = 0;
    }

    /// Appends what fits under `max` bytes; false if `bytes` had to be cut (or dropped).
    fn append(&mut self, bytes: &[u8], max: usize) -> bool {
        let room = max.saturating_sub(self.data.len());
        if bytes.len() <= room {
            self.data.extend_from_slice(bytes);
            true
        } else {
            self.data.extend_from_slice(&bytes[..char_boundary(bytes, room)]);
            self.cut = true;
            false
        }
    }

    fn emit(&mut self, stream: StdStream, out: &mut ChunkBuilder, counters: &mut ParseCounters) {
        out.push(stream, self.timestamp_ns, &self.data);
        counters.lines += 1;
        if self.cut {
            counters.truncated += 1;
        }
        self.reset();
    }

    fn reset(&mut self) {
        self.active = false;
        self.last_update = None;
        if self.data.capacity() > RETAINED_BUFFER_BYTES {
            self.data = Vec::new();
        } else {
            self.data.clear();
        }
    }
}

const STREAMS: [StdStream; 3] = [StdStream::Stdout, StdStream::Stderr, StdStream::None];

/// The largest length `<= max` that does not split a UTF-8 sequence of `bytes` (`max` itself
/// when `bytes` is not UTF-8 there).
fn char_boundary(bytes: &[u8], max: usize) -> usize {
    if max >= bytes.len() {
        return bytes.len();
    }
    let mut end = max;
    while end > 0 && max - end < 3 && (bytes[end] & 0xC0) == 0x80 {
        end -= 1;
    }
    if (bytes[end] & 0xC0) == 0x80 { max } else { end }
}

#[cfg(test)]
mod tests;
