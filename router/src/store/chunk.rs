//! Compressed sample chunks: timestamps as deviations from the scrape interval, values as
//! scaled decimal integers when they are exact decimals (VictoriaMetrics's idea) with Gorilla's
//! XOR encoding as the fallback; bit-exact for every float, including NaN payloads, staleness
//! markers, -0.0 and infinities.
//!
//! # Layout
//! A chunk is a byte string: a 2-byte big-endian sample count, then a bit stream written most
//! significant bit first. Every field is written as soon as its sample is appended, so an open
//! chunk's bytes decode (queries read open chunks as they are).
//!
//! ## Timestamps
//! - sample 0: the timestamp, zigzagged, as a varint (bytes of 7 bits and a continuation bit);
//! - sample 1: the delta to sample 0 in the [signed code](#the-signed-code); it sets the
//!   *interval*: the delta, snapped to the nearest whole second when within
//!   [`SNAP_TOLERANCE_MS`] of it (so that ms jitter on the first delta does not offset every
//!   later residual);
//! - sample n ≥ 2: the residual `delta - interval`: `0` for 0 (a regular scrape costs one
//!   bit), `10` + 4 bits for 1 ≤ |r| ≤ 8 (scrape jitter of a few ms), `110` + 14 bits, `1110` +
//!   20 bits or `1111` + 64 bits (two's complement). A residual beyond ±8 sets the interval
//!   again from this delta (the scrape interval changed, or samples were missed).
//!
//! ## Values
//! Encoder and decoder track the previous value's bits, a decimal *scale* `s` (0 to
//! [`MAX_SCALE`], 0 at the start of the chunk) and, when the previous value is an exact decimal
//! at that scale, its *mantissa* `m` (the value is `m / 10^s` as an f64 division, or `m` when
//! `s = 0`, with `|m| < 2^53`; the encoder checks bit equality, so this is exact by
//! construction). Each value (sample 0's included, against a previous value of `+0.0` with
//! mantissa 0) is one of:
//!
//! - `0`: the same bits as the previous value;
//! - `10` + signed code of `m - prediction`: a decimal at the current scale. The prediction is
//!   `m_prev` (0 when the previous value is no decimal at this scale), or `m_prev + step`
//!   (`step`: the mantissa's last change when the previous value was in this form, else 0)
//!   while that has been the shorter choice: both sides keep a score of the code lengths the
//!   two predictions would have taken, so steady counters cost their jitter, and random
//!   increments their size, with no flag in the stream;
//! - `1111` + 4 bits of a larger scale + signed code of `m - m_prev·10^(new - old)`: a decimal
//!   that needs more digits than the current scale; the scale stays for the rest of the chunk;
//! - `110` or `1110`: XOR against the previous bits, Gorilla's "same window" (`110`, then the
//!   meaningful bits inside the previous leading/trailing-zero window) or "new window" (`1110`,
//!   5 bits of leading zeros, 6 bits of meaningful-bit count with 64 written as 0, and the
//!   bits). After an XOR value both sides compute the mantissa from the bits (the same
//!   function; the decoder only when a decimal form follows), so a decimal series continues
//!   with small residuals.
//!
//! The encoder picks the shortest of the decimal and XOR forms for each changed value (binary
//! values such as multiples of 4096 are often cheaper in XOR form).
//!
//! ## The signed code
//! The value zigzagged (`0, -1, 1, -2, …` → `0, 1, 2, 3, …`) then a unary bucket prefix and the
//! payload: `0` + 3 bits, `10` + 7, `110` + 10, `1110` + 16, `11110` + 24, `11111` + 64.
//!
//! Timestamps must strictly increase within a chunk (the head checks this); arithmetic on them
//! wraps, so any i64 round-trips. Decoding never panics: a malformed chunk just ends early.
//!
//! Memory: an open chunk grows its buffer to the size projected from its bytes per sample so
//! far (rather than by a fixed factor), so a full chunk carries little unused capacity; its
//! capacity never shrinks (the head accounts growth per append).

use std::sync::Arc;

#[cfg(test)]
mod tests;

/// Samples per chunk before the head cuts a new one, as Prometheus.
pub(super) const SAMPLES_PER_CHUNK: u16 = 120;

/// Bytes before the bit stream: the sample count.
const HEADER_LEN: usize = 2;

/// Samples before an open chunk's growth projects its final size from its bytes per sample.
const PROJECT_AFTER: usize = 16;

/// The largest decimal scale (digits after the point) a value is stored with.
const MAX_SCALE: u32 = 15;

/// A first delta within this many ms of a whole second sets an interval of that second.
const SNAP_TOLERANCE_MS: i64 = 8;

/// Mantissas stay below this in magnitude: every integer below it is an exact f64.
const MANTISSA_LIMIT: f64 = 9_007_199_254_740_992.0; // 2^53

/// Powers of ten up to `10^MAX_SCALE`, all exact in f64.
const POWERS_OF_TEN: [f64; MAX_SCALE as usize + 1] =
    [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];

/// The signed code's buckets: (prefix bits, prefix length, payload bits).
const SIGNED_BUCKETS: [(u64, u32, u32); 6] =
    [(0b0, 1, 3), (0b10, 2, 7), (0b110, 3, 10), (0b1110, 4, 16), (0b11110, 5, 24), (0b11111, 5, 64)];

/// Timestamp residual buckets after `0` and the ±8 bucket: (prefix, prefix length, payload).
const RESIDUAL_BUCKETS: [(u64, u32, u32); 3] = [(0b110, 3, 14), (0b1110, 4, 20), (0b1111, 4, 64)];

/// The largest timestamp residual of the 4-bit bucket (and the smallest that resets the
/// interval, plus one).
const SMALL_RESIDUAL: i64 = 8;

fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

fn sign_extend(value: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((value << shift) as i64) >> shift
}

/// Whether `value` fits in `bits` bits as two's complement.
fn fits_signed(value: i64, bits: u32) -> bool {
    let half = 1i64 << (bits - 1);
    (-half..half).contains(&value)
}

/// The signed code's bucket for each bit width of a zigzagged value (0 to 64).
const SIGNED_BUCKET_BY_WIDTH: [u8; 65] = {
    let mut table = [0u8; 65];
    let mut width = 0;
    while width <= 64 {
        let mut bucket = 0;
        while SIGNED_BUCKETS[bucket].2 < width as u32 {
            bucket += 1;
        }
        table[width] = bucket as u8;
        width += 1;
    }
    table
};

/// The bucket of the signed code that holds `zigzagged`.
fn signed_bucket(zigzagged: u64) -> (u64, u32, u32) {
    let width = 64 - zigzagged.leading_zeros();
    SIGNED_BUCKETS[usize::from(SIGNED_BUCKET_BY_WIDTH[width as usize])]
}

/// Bits the signed code takes for `value`.
fn signed_len(value: i64) -> u32 {
    let (_, prefix_len, payload) = signed_bucket(zigzag(value));
    prefix_len + payload
}

/// `value` at `scale` as a float: the one function both sides use, so the encoder's check
/// that a mantissa reproduces a value's bits holds when decoding.
fn decimal_value(mantissa: i64, scale: u32) -> f64 {
    match POWERS_OF_TEN.get(scale as usize) {
        Some(_) if scale == 0 => mantissa as f64,
        Some(power) => mantissa as f64 / power,
        None => f64::NAN,
    }
}

/// The mantissa `m` with `decimal_value(m, scale)` bit-equal to `bits`, if there is one.
fn decimal_mantissa(bits: u64, scale: u32) -> Option<i64> {
    let value = f64::from_bits(bits);
    let power = *POWERS_OF_TEN.get(scale as usize)?;
    let scaled = value * power;
    if scaled.is_nan() || scaled.abs() >= MANTISSA_LIMIT {
        return None;
    }
    // Rounded half away from zero without `f64::round` (a libm call on baseline x86-64); a
    // rare miss only costs compression, as the result is checked.
    let mantissa = (scaled + 0.5f64.copysign(scaled)) as i64;
    (decimal_value(mantissa, scale).to_bits() == bits).then_some(mantissa)
}

/// The interval a delta sets: snapped to the nearest whole second when close to one.
fn snapped_interval(delta: i64) -> i64 {
    let second = delta.saturating_add(500).div_euclid(1000).saturating_mul(1000);
    if second > 0 && delta.abs_diff(second) <= SNAP_TOLERANCE_MS as u64 { second } else { delta }
}

/// A bit stream being written, most significant bit first, after the chunk header.
#[derive(Debug, Clone)]
struct BitWriter {
    bytes: Vec<u8>,
    /// Unused low bits of the last byte (0 when the stream ends on a byte boundary).
    free_bits: u8,
    /// Samples complete (the one being written excluded): the chunk's count, and what growth
    /// projects from.
    samples: u16,
    /// The length when the third sample started.
    base_len: u16,
}

impl BitWriter {
    /// Makes room for `needed` more bytes: grows to the length projected from the bytes per
    /// sample since the third sample (the first two carry the chunk's fixed costs), so that a
    /// full chunk has little unused capacity; doubles while there are too few samples to
    /// project from.
    #[cold]
    fn grow(&mut self, needed: usize) {
        let len = self.bytes.len();
        let samples = usize::from(self.samples);
        let target = if samples >= PROJECT_AFTER {
            let since_base = usize::from(self.samples - 2);
            let left = usize::from(SAMPLES_PER_CHUNK).saturating_sub(samples);
            // Aimed a little short: a short projection costs a small growth or two near the
            // end, a long one stays unused.
            len + len.saturating_sub(usize::from(self.base_len)) * left * 7 / (since_base * 8)
        } else {
            len * 2
        };
        let target = target.max(len + needed.max(8));
        self.bytes.reserve_exact(target - len);
    }

    fn push(&mut self, byte: u8) {
        if self.bytes.len() == self.bytes.capacity() {
            self.grow(1);
        }
        self.bytes.push(byte);
    }

    fn write_bit(&mut self, bit: bool) {
        self.write_bits(u64::from(bit), 1);
    }

    /// Writes the low `count` bits of `value` (count ≤ 64).
    fn write_bits(&mut self, value: u64, count: u32) {
        let mut remaining = count;
        let free_bits = u32::from(self.free_bits);
        if free_bits > 0 && remaining > 0 {
            let take = remaining.min(free_bits);
            remaining -= take;
            let bits = ((value >> remaining) & ((1u64 << take) - 1)) as u8;
            if let Some(last) = self.bytes.last_mut() {
                *last |= bits << (free_bits - take);
            }
            self.free_bits = (free_bits - take) as u8;
        }
        while remaining >= 8 {
            remaining -= 8;
            self.push((value >> remaining) as u8);
        }
        if remaining > 0 {
            self.push((value << (8 - remaining)) as u8);
            self.free_bits = (8 - remaining) as u8;
        }
    }

    /// Writes `value` in the signed code.
    fn write_signed(&mut self, value: i64) {
        let zigzagged = zigzag(value);
        let (prefix, prefix_len, payload) = signed_bucket(zigzagged);
        self.write_bits(prefix, prefix_len);
        self.write_bits(zigzagged, payload);
    }
}

/// Reads a bit stream written by [`BitWriter`] through a 64-bit buffer refilled a word at a
/// time. Every read returns `None` past the end.
#[derive(Debug, Clone)]
struct BitReader<'a> {
    bytes: &'a [u8],
    /// The next byte to load into the buffer.
    next_byte: usize,
    /// Unread bits, left-aligned: `available` loaded ones, then either the bits that follow
    /// or zeros.
    buffer: u64,
    available: u32,
}

impl<'a> BitReader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        BitReader { bytes, next_byte: 0, buffer: 0, available: 0 }
    }

    /// Loads at least 56 bits into the buffer, or all that is left.
    fn refill(&mut self) {
        if let Some(word) = self.bytes.get(self.next_byte..self.next_byte + 8) {
            let mut array = [0u8; 8];
            array.copy_from_slice(word);
            // ORs in the whole word: the bits past the bytes counted as loaded are the ones
            // the next refill puts in the same place.
            self.buffer |= u64::from_be_bytes(array) >> self.available;
            self.next_byte += ((63 - self.available) / 8) as usize;
            self.available |= 56;
        } else {
            while self.available <= 56 {
                let Some(&byte) = self.bytes.get(self.next_byte) else { break };
                self.buffer |= u64::from(byte) << (56 - self.available);
                self.available += 8;
                self.next_byte += 1;
            }
        }
    }

    /// Reads `count` bits, 1 to 56.
    #[inline]
    fn read_short(&mut self, count: u32) -> Option<u64> {
        if self.available < count {
            self.refill();
            if self.available < count {
                return None;
            }
        }
        let value = self.buffer >> (64 - count);
        self.buffer <<= count;
        self.available -= count;
        Some(value)
    }

    fn read_bits(&mut self, count: u32) -> Option<u64> {
        match count {
            0 => Some(0),
            1..=56 => self.read_short(count),
            _ => {
                let high = self.read_short(32)?;
                let low = self.read_short(count - 32)?;
                Some((high << (count - 32)) | low)
            }
        }
    }

    /// Reads up to `max` (< 8) one bits, and the zero after them when fewer: the length of a
    /// unary prefix.
    #[inline]
    fn read_ones(&mut self, max: u32) -> Option<u32> {
        if self.available < 8 {
            self.refill();
        }
        // The bits past `available` are the following ones or zeros past the end, so the ones
        // counted are real.
        let ones = (!self.buffer).leading_zeros().min(max);
        let consumed = if ones == max { max } else { ones + 1 };
        if self.available < consumed {
            return None;
        }
        self.buffer <<= consumed;
        self.available -= consumed;
        Some(ones)
    }

    #[inline]
    fn read_signed(&mut self) -> Option<i64> {
        if self.available < 32 {
            self.refill();
        }
        let bucket = (!self.buffer).leading_zeros().min(5);
        let (_, prefix_len, payload) = SIGNED_BUCKETS[bucket as usize];
        let len = prefix_len + payload;
        if payload < 64 && len <= self.available {
            // Prefix and payload from the buffer at once (at most 29 bits).
            let zigzagged = (self.buffer << prefix_len) >> (64 - payload);
            self.buffer <<= len;
            self.available -= len;
            return Some(unzigzag(zigzagged));
        }
        let bucket = self.read_ones(5)?;
        let (_, _, payload) = SIGNED_BUCKETS[bucket as usize];
        Some(unzigzag(self.read_bits(payload)?))
    }

    /// Consumes the next two bits when both are zero.
    #[inline]
    fn skip_two_zeros(&mut self) -> bool {
        if self.available < 2 {
            self.refill();
        }
        let zeros = self.available >= 2 && self.buffer >> 62 == 0;
        if zeros {
            self.buffer <<= 2;
            self.available -= 2;
        }
        zeros
    }
}

/// The value state encoder and decoder share (small fields: an open chunk's encoder lives
/// in every series).
#[derive(Debug, Clone, Copy)]
struct ValueState {
    /// The previous value.
    bits: u64,
    /// Its mantissa at `scale`, when `has_mantissa` (it is a decimal at this scale).
    mantissa: i64,
    has_mantissa: bool,
    /// Decoder only: the mantissa is yet to be computed from `bits` (after an XOR value; it
    /// is computed when a decimal form needs it, so XOR-only series never compute it).
    mantissa_pending: bool,
    /// The mantissa step of the last value when it was a decimal at this scale after another
    /// (0 otherwise).
    step: i64,
    /// Which prediction the decimal form's residual is from: above 0 the last step again
    /// (steady counters), else the previous mantissa (random increments, walks).
    trend_score: i8,
    /// Encoder only: changed values in a row that were no decimal at any scale (the search
    /// for a scale is then skipped most of the time).
    decimal_misses: u8,
    scale: u8,
    /// The XOR window of the last value that set one (`leading == NO_WINDOW`: none yet).
    leading: u8,
    trailing: u8,
}

/// `ValueState::leading` before any XOR window.
const NO_WINDOW: u8 = u8::MAX;

impl ValueState {
    const START: ValueState = ValueState {
        bits: 0,
        mantissa: 0,
        has_mantissa: true,
        mantissa_pending: false,
        step: 0,
        trend_score: 0,
        decimal_misses: 0,
        scale: 0,
        leading: NO_WINDOW,
        trailing: 0,
    };

    fn scale(&self) -> u32 {
        u32::from(self.scale)
    }

    fn mantissa(&mut self) -> Option<i64> {
        if self.mantissa_pending {
            self.mantissa_pending = false;
            self.set_mantissa(decimal_mantissa(self.bits, self.scale()));
        }
        self.has_mantissa.then_some(self.mantissa)
    }

    /// The mantissa the decimal form's residual is from, given the previous one.
    fn prediction(&self, previous: Option<i64>) -> i64 {
        match previous {
            Some(previous) if self.trend_score > 0 => previous.wrapping_add(self.step),
            Some(previous) => previous,
            None => 0,
        }
    }

    /// Records a value in decimal form at the current scale, following `previous`: the step
    /// and which prediction would have been shorter.
    fn record_decimal(&mut self, previous: Option<i64>, mantissa: i64) {
        let step = previous.map_or(0, |previous| mantissa.wrapping_sub(previous));
        if previous.is_some() {
            let gain = signed_len(step) as i32 - signed_len(step.wrapping_sub(self.step)) as i32;
            self.trend_score = (i32::from(self.trend_score) + gain).clamp(-16, 16) as i8;
        }
        self.step = step;
        self.set_mantissa(Some(mantissa));
    }

    fn set_mantissa(&mut self, mantissa: Option<i64>) {
        self.has_mantissa = mantissa.is_some();
        self.mantissa = mantissa.unwrap_or(0);
    }

    /// The previous mantissa rescaled to `scale` (above the current one); 0 when there is
    /// none or it would overflow.
    fn rescaled_mantissa(&mut self, scale: u32) -> i64 {
        let factor = 10i64.pow(scale - self.scale());
        self.mantissa().and_then(|m| m.checked_mul(factor)).unwrap_or(0)
    }

    /// Whether a non-zero `xor` fits the XOR window.
    fn fits_window(&self, xor: u64) -> bool {
        self.leading != NO_WINDOW
            && xor.leading_zeros().min(31) >= u32::from(self.leading)
            && xor.trailing_zeros() >= u32::from(self.trailing)
    }

    /// Meaningful bits in the XOR window.
    fn window_bits(&self) -> u32 {
        64 - u32::from(self.leading) - u32::from(self.trailing)
    }

    /// Bits the XOR form of `bits` takes.
    fn xor_len(&self, bits: u64) -> u32 {
        let xor = bits ^ self.bits;
        if self.fits_window(xor) {
            3 + self.window_bits()
        } else {
            4 + 11 + 64 - xor.leading_zeros().min(31) - xor.trailing_zeros()
        }
    }
}

/// The chunk being appended to: the encoded bytes plus the state the next sample needs.
#[derive(Debug, Clone)]
pub(super) struct ChunkEncoder {
    writer: BitWriter,
    first_t: i64,
    last_t: i64,
    interval: i64,
    value: ValueState,
}

impl Default for ChunkEncoder {
    fn default() -> Self {
        ChunkEncoder::new()
    }
}

/// How the encoder writes a changed value.
enum ValueForm {
    Decimal { residual: i64, mantissa: i64 },
    Rescaled { scale: u32, residual: i64, mantissa: i64 },
    Xor,
}

impl ChunkEncoder {
    pub(super) fn new() -> Self {
        let mut bytes = Vec::with_capacity(16);
        bytes.extend_from_slice(&[0; HEADER_LEN]);
        ChunkEncoder {
            writer: BitWriter { bytes, free_bits: 0, samples: 0, base_len: 0 },
            first_t: 0,
            last_t: 0,
            interval: 0,
            value: ValueState::START,
        }
    }

    pub(super) fn count(&self) -> u16 {
        self.writer.samples
    }

    pub(super) fn is_full(&self) -> bool {
        self.writer.samples >= SAMPLES_PER_CHUNK
    }

    /// Timestamp of the first sample (meaningless when empty).
    pub(super) fn min_t(&self) -> i64 {
        self.first_t
    }

    /// Timestamp of the last sample (meaningless when empty).
    pub(super) fn max_t(&self) -> i64 {
        self.last_t
    }

    /// The encoded chunk so far (header included).
    pub(super) fn bytes(&self) -> &[u8] {
        &self.writer.bytes
    }

    /// Heap bytes held (capacity, not length: what the allocator gave us).
    pub(super) fn heap_bytes(&self) -> usize {
        self.writer.bytes.capacity()
    }

    /// Appends a sample. The caller guarantees `timestamp` is above the previous one.
    pub(super) fn append(&mut self, timestamp: i64, value_bits: u64) {
        if self.writer.samples == 2 {
            self.writer.base_len = u16::try_from(self.writer.bytes.len()).unwrap_or(u16::MAX);
        }
        match self.writer.samples {
            0 => {
                let mut rest = zigzag(timestamp);
                loop {
                    let byte = rest & 0x7f;
                    rest >>= 7;
                    if rest == 0 {
                        self.writer.write_bits(byte, 8);
                        break;
                    }
                    self.writer.write_bits(byte | 0x80, 8);
                }
                self.first_t = timestamp;
            }
            1 => {
                let delta = timestamp.wrapping_sub(self.last_t);
                self.writer.write_signed(delta);
                self.interval = snapped_interval(delta);
            }
            _ => {
                let delta = timestamp.wrapping_sub(self.last_t);
                let residual = delta.wrapping_sub(self.interval);
                if residual == 0 {
                    self.writer.write_bit(false);
                } else if residual.unsigned_abs() <= SMALL_RESIDUAL as u64 {
                    // ±1..=±8 as 4 bits: 1..=8 → 0..=7, -1..=-8 → 8..=15.
                    let code = if residual > 0 { residual - 1 } else { 7 - residual };
                    self.writer.write_bits(0b10, 2);
                    self.writer.write_bits(code as u64, 4);
                } else {
                    let &(prefix, prefix_len, bits) = RESIDUAL_BUCKETS
                        .iter()
                        .find(|(_, _, bits)| *bits == 64 || fits_signed(residual, *bits))
                        .unwrap_or(&RESIDUAL_BUCKETS[2]);
                    self.writer.write_bits(prefix, prefix_len);
                    self.writer.write_bits(residual as u64, bits);
                    self.interval = snapped_interval(delta);
                }
            }
        }
        self.append_value(value_bits);
        self.last_t = timestamp;
        self.writer.samples += 1;
        self.writer.bytes[..HEADER_LEN].copy_from_slice(&self.writer.samples.to_be_bytes());
    }

    fn append_value(&mut self, bits: u64) {
        let mut state = self.value;
        if bits == state.bits {
            self.writer.write_bit(false);
            self.value.step = 0;
            return;
        }
        let current = decimal_mantissa(bits, state.scale());
        let previous = state.mantissa();
        let mut best = ValueForm::Xor;
        let best_len = state.xor_len(bits);
        if let Some(mantissa) = current {
            self.value.decimal_misses = 0;
            let residual = mantissa.wrapping_sub(state.prediction(previous));
            let len = 2 + signed_len(residual);
            if len <= best_len {
                best = ValueForm::Decimal { residual, mantissa };
            }
        } else if state.decimal_misses < 4 || state.decimal_misses.is_multiple_of(32) {
            // Scales are searched for every changed value until four in a row had none, then
            // for one in 32 (non-decimal series would pay the search for nothing).
            match finer_decimal(bits, state.scale()) {
                Some((scale, mantissa)) => {
                    self.value.decimal_misses = 0;
                    let residual = mantissa.wrapping_sub(state.rescaled_mantissa(scale));
                    let len = 8 + signed_len(residual);
                    if len <= best_len {
                        best = ValueForm::Rescaled { scale, residual, mantissa };
                    }
                }
                None => self.value.decimal_misses = self.value.decimal_misses.checked_add(1).unwrap_or(4),
            }
        } else {
            self.value.decimal_misses = self.value.decimal_misses.checked_add(1).unwrap_or(4);
        }
        let value = &mut self.value;
        match best {
            ValueForm::Decimal { residual, mantissa } => {
                self.writer.write_bits(0b10, 2);
                self.writer.write_signed(residual);
                value.record_decimal(previous, mantissa);
            }
            ValueForm::Rescaled { scale, residual, mantissa } => {
                self.writer.write_bits(0b1111, 4);
                self.writer.write_bits(u64::from(scale), 4);
                self.writer.write_signed(residual);
                value.scale = scale as u8;
                value.step = 0;
                value.set_mantissa(Some(mantissa));
            }
            ValueForm::Xor => {
                let xor = bits ^ state.bits;
                let leading = xor.leading_zeros().min(31);
                let trailing = xor.trailing_zeros();
                if state.fits_window(xor) {
                    self.writer.write_bits(0b110, 3);
                    self.writer.write_bits(xor >> state.trailing, state.window_bits());
                } else {
                    value.leading = leading as u8;
                    value.trailing = trailing as u8;
                    let meaningful = 64 - leading - trailing;
                    self.writer.write_bits(0b1110, 4);
                    self.writer.write_bits(u64::from(leading), 5);
                    self.writer.write_bits(u64::from(meaningful & 63), 6);
                    self.writer.write_bits(xor >> trailing, meaningful);
                }
                value.step = 0;
                value.set_mantissa(current);
            }
        }
        value.bits = bits;
    }

    /// The finished chunk, trimmed to its length.
    pub(super) fn finish(&self) -> Arc<[u8]> {
        Arc::from(&self.writer.bytes[..])
    }
}

/// The smallest scale above `scale` at which `bits` is a decimal, with its mantissa.
fn finer_decimal(bits: u64, scale: u32) -> Option<(u32, i64)> {
    if !f64::from_bits(bits).is_finite() {
        return None;
    }
    (scale + 1..=MAX_SCALE).find_map(|finer| Some((finer, decimal_mantissa(bits, finer)?)))
}

/// Iterates the samples of an encoded chunk as (timestamp, value bits).
#[derive(Debug, Clone)]
pub(super) struct ChunkIter<'a> {
    reader: BitReader<'a>,
    total: u16,
    read: u16,
    t: i64,
    interval: i64,
    value: ValueState,
}

/// The number of samples an encoded chunk says it holds.
pub(super) fn sample_count(bytes: &[u8]) -> u16 {
    match bytes {
        [a, b, ..] => u16::from_be_bytes([*a, *b]),
        _ => 0,
    }
}

/// Iterates the samples of `bytes`, an encoded chunk.
pub(super) fn decode(bytes: &[u8]) -> ChunkIter<'_> {
    let total = sample_count(bytes);
    ChunkIter {
        reader: BitReader::new(bytes.get(HEADER_LEN..).unwrap_or(&[])),
        total,
        read: 0,
        t: 0,
        interval: 0,
        value: ValueState::START,
    }
}

impl ChunkIter<'_> {
    #[inline]
    fn next_sample(&mut self) -> Option<(i64, u64)> {
        if self.read >= 2 && self.reader.skip_two_zeros() {
            // The commonest sample: on the interval, with the previous value.
            self.t = self.t.wrapping_add(self.interval);
            self.value.step = 0;
            self.read += 1;
            return Some((self.t, self.value.bits));
        }
        match self.read {
            0 => {
                let mut zigzagged = 0u64;
                for shift in (0..64).step_by(7) {
                    let byte = self.reader.read_bits(8)?;
                    zigzagged |= (byte & 0x7f) << shift;
                    if byte < 0x80 {
                        break;
                    }
                }
                self.t = unzigzag(zigzagged);
            }
            1 => {
                let delta = self.reader.read_signed()?;
                self.interval = snapped_interval(delta);
                self.t = self.t.wrapping_add(delta);
            }
            _ => {
                let residual = match self.reader.read_ones(2)? {
                    0 => 0,
                    1 => match self.reader.read_bits(4)? as i64 {
                        code @ 0..=7 => code + 1,
                        code => 7 - code,
                    },
                    _ => {
                        let bucket = self.reader.read_ones(2)?;
                        let (_, _, bits) = RESIDUAL_BUCKETS[bucket as usize];
                        sign_extend(self.reader.read_bits(bits)?, bits)
                    }
                };
                let delta = self.interval.wrapping_add(residual);
                if residual.unsigned_abs() > SMALL_RESIDUAL as u64 {
                    self.interval = snapped_interval(delta);
                }
                self.t = self.t.wrapping_add(delta);
            }
        }
        self.read_value()?;
        self.read += 1;
        Some((self.t, self.value.bits))
    }

    #[inline]
    fn read_value(&mut self) -> Option<()> {
        let value = &mut self.value;
        match self.reader.read_ones(4)? {
            0 => value.step = 0,
            1 => {
                let previous = value.mantissa();
                let mantissa = value.prediction(previous).wrapping_add(self.reader.read_signed()?);
                value.record_decimal(previous, mantissa);
                value.bits = decimal_value(mantissa, value.scale()).to_bits();
            }
            4 => {
                let scale = self.reader.read_bits(4)? as u32;
                if scale <= value.scale() || scale > MAX_SCALE {
                    return None;
                }
                let mantissa = value.rescaled_mantissa(scale).wrapping_add(self.reader.read_signed()?);
                value.scale = scale as u8;
                value.step = 0;
                value.set_mantissa(Some(mantissa));
                value.bits = decimal_value(mantissa, scale).to_bits();
            }
            form => {
                if form == 3 {
                    let leading = self.reader.read_bits(5)? as u32;
                    let meaningful = match self.reader.read_bits(6)? as u32 {
                        0 => 64,
                        n => n,
                    };
                    if leading + meaningful > 64 {
                        return None;
                    }
                    value.leading = leading as u8;
                    value.trailing = (64 - leading - meaningful) as u8;
                } else if value.leading == NO_WINDOW {
                    return None;
                }
                let xor = self.reader.read_bits(value.window_bits())?;
                value.bits ^= xor.checked_shl(u32::from(value.trailing)).unwrap_or(0);
                value.mantissa_pending = true;
                value.step = 0;
            }
        }
        Some(())
    }
}

impl Iterator for ChunkIter<'_> {
    type Item = (i64, u64);

    fn next(&mut self) -> Option<(i64, u64)> {
        if self.read >= self.total {
            return None;
        }
        let sample = self.next_sample();
        if sample.is_none() {
            // Malformed: end here rather than yield garbage.
            self.read = self.total;
        }
        sample
    }
}
