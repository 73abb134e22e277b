//! Compressed sample chunks: Gorilla encoding (Facebook's "Gorilla" paper, as Prometheus's XOR
//! chunk), bit-exact for every float including NaN payloads and staleness markers.
//!
//! # Layout
//! A chunk is a byte string: a 2-byte big-endian sample count, then a bit stream written most
//! significant bit first:
//!
//! - sample 0: the timestamp as 64 raw bits, the value's bits as 64 raw bits;
//! - sample 1: the timestamp delta as a zigzag varint (bytes in the bit stream), the value
//!   XOR-encoded against sample 0;
//! - sample n ≥ 2: the delta of deltas of the timestamp in a prefix code, `0` for 0 (a regular
//!   scrape interval costs one bit), `10` + 7 bits, `110` + 14 bits, `1110` + 20 bits, or
//!   `1111` + 64 bits (two's complement); then the value XOR-encoded against sample n-1.
//!
//! XOR encoding of a value `v` against the previous `p` (on the bit patterns): `0` when equal;
//! otherwise `1`, then either `0` and the meaningful bits of `v ^ p` inside the previous
//! leading/trailing-zero window when they fit in it, or `1`, 5 bits of leading zeros, 6 bits of
//! meaningful-bit count (64 written as 0) and the meaningful bits.
//!
//! Timestamps must strictly increase within a chunk (the head checks this); arithmetic on them
//! wraps, so any i64 round-trips. Decoding never panics: a malformed chunk just ends early.

use std::sync::Arc;

/// Samples per chunk before the head cuts a new one, as Prometheus.
pub(super) const SAMPLES_PER_CHUNK: u16 = 120;

/// Bytes before the bit stream: the sample count.
const HEADER_LEN: usize = 2;

/// A bit stream being written, most significant bit first.
#[derive(Debug, Clone)]
struct BitWriter {
    bytes: Vec<u8>,
    /// Unused low bits of the last byte (0 when the stream ends on a byte boundary).
    free_bits: u32,
}

impl BitWriter {
    fn write_bit(&mut self, bit: bool) {
        self.write_bits(u64::from(bit), 1);
    }

    /// Writes the low `count` bits of `value` (count ≤ 64).
    fn write_bits(&mut self, value: u64, count: u32) {
        let mut remaining = count;
        while remaining > 0 {
            if self.free_bits == 0 {
                if self.bytes.len() == self.bytes.capacity() {
                    // Grow by half rather than double: open chunks are many and small, and
                    // doubling would leave a third of their memory unused on average.
                    self.bytes.reserve_exact((self.bytes.len() / 2).max(32));
                }
                self.bytes.push(0);
                self.free_bits = 8;
            }
            let take = remaining.min(self.free_bits);
            let shift = remaining - take;
            let bits = ((value >> shift) & ((1u64 << take) - 1)) as u8;
            if let Some(last) = self.bytes.last_mut() {
                *last |= bits << (self.free_bits - take);
            }
            self.free_bits -= take;
            remaining -= take;
        }
    }
}

/// Reads a bit stream written by [`BitWriter`]. Every read returns `None` past the end.
#[derive(Debug, Clone)]
struct BitReader<'a> {
    bytes: &'a [u8],
    /// Position in bits.
    position: usize,
}

impl BitReader<'_> {
    fn read_bit(&mut self) -> Option<bool> {
        let byte = *self.bytes.get(self.position / 8)?;
        let bit = (byte >> (7 - (self.position % 8))) & 1;
        self.position += 1;
        Some(bit == 1)
    }

    fn read_bits(&mut self, count: u32) -> Option<u64> {
        let mut value = 0u64;
        let mut remaining = count;
        while remaining > 0 {
            let byte = *self.bytes.get(self.position / 8)?;
            let offset = (self.position % 8) as u32;
            let available = 8 - offset;
            let take = remaining.min(available);
            let bits = (u64::from(byte) >> (available - take)) & ((1u64 << take) - 1);
            value = if take == 64 { bits } else { (value << take) | bits };
            self.position += take as usize;
            remaining -= take;
        }
        Some(value)
    }
}

/// The delta-of-delta buckets after the `0` case: (prefix bits, prefix length, payload bits).
/// The 7-bit bucket (Prometheus starts at 14) keeps scrape jitter of a few ms at 9 bits.
const DOD_BUCKETS: [(u64, u32, u32); 3] = [(0b10, 2, 7), (0b110, 3, 14), (0b1110, 4, 20)];

fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

/// Whether `value` fits in `bits` bits as two's complement.
fn fits_signed(value: i64, bits: u32) -> bool {
    let half = 1i64 << (bits - 1);
    (-half..half).contains(&value)
}

fn sign_extend(value: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((value << shift) as i64) >> shift
}

/// The chunk being appended to: the encoded bytes plus the state the next sample needs.
#[derive(Debug, Clone)]
pub(super) struct ChunkEncoder {
    writer: BitWriter,
    count: u16,
    first_t: i64,
    last_t: i64,
    last_delta: i64,
    last_value: u64,
    /// The XOR window of the last value that set one (`leading == u32::MAX`: none yet).
    leading: u32,
    trailing: u32,
}

impl Default for ChunkEncoder {
    fn default() -> Self {
        ChunkEncoder::new()
    }
}

impl ChunkEncoder {
    pub(super) fn new() -> Self {
        let mut bytes = Vec::with_capacity(16);
        bytes.extend_from_slice(&[0; HEADER_LEN]);
        ChunkEncoder {
            writer: BitWriter { bytes, free_bits: 0 },
            count: 0,
            first_t: 0,
            last_t: 0,
            last_delta: 0,
            last_value: 0,
            leading: u32::MAX,
            trailing: 0,
        }
    }

    pub(super) fn count(&self) -> u16 {
        self.count
    }

    pub(super) fn is_full(&self) -> bool {
        self.count >= SAMPLES_PER_CHUNK
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
        match self.count {
            0 => {
                self.writer.write_bits(timestamp as u64, 64);
                self.writer.write_bits(value_bits, 64);
                self.first_t = timestamp;
            }
            1 => {
                let delta = timestamp.wrapping_sub(self.last_t);
                let mut rest = zigzag(delta);
                loop {
                    let byte = rest & 0x7f;
                    rest >>= 7;
                    if rest == 0 {
                        self.writer.write_bits(byte, 8);
                        break;
                    }
                    self.writer.write_bits(byte | 0x80, 8);
                }
                self.last_delta = delta;
                self.write_xor(value_bits);
            }
            _ => {
                let delta = timestamp.wrapping_sub(self.last_t);
                let dod = delta.wrapping_sub(self.last_delta);
                if dod == 0 {
                    self.writer.write_bit(false);
                } else if let Some(&(prefix, prefix_len, bits)) =
                    DOD_BUCKETS.iter().find(|(_, _, bits)| fits_signed(dod, *bits))
                {
                    self.writer.write_bits(prefix, prefix_len);
                    self.writer.write_bits(dod as u64, bits);
                } else {
                    self.writer.write_bits(0b1111, 4);
                    self.writer.write_bits(dod as u64, 64);
                }
                self.last_delta = delta;
                self.write_xor(value_bits);
            }
        }
        self.last_t = timestamp;
        self.last_value = value_bits;
        self.count += 1;
        self.writer.bytes[..HEADER_LEN].copy_from_slice(&self.count.to_be_bytes());
    }

    fn write_xor(&mut self, value_bits: u64) {
        let xor = value_bits ^ self.last_value;
        if xor == 0 {
            self.writer.write_bit(false);
            return;
        }
        self.writer.write_bit(true);
        let leading = xor.leading_zeros().min(31);
        let trailing = xor.trailing_zeros();
        if self.leading != u32::MAX && leading >= self.leading && trailing >= self.trailing {
            self.writer.write_bit(false);
            self.writer.write_bits(xor >> self.trailing, 64 - self.leading - self.trailing);
        } else {
            self.leading = leading;
            self.trailing = trailing;
            let meaningful = 64 - leading - trailing;
            self.writer.write_bit(true);
            self.writer.write_bits(u64::from(leading), 5);
            self.writer.write_bits(u64::from(meaningful & 63), 6);
            self.writer.write_bits(xor >> trailing, meaningful);
        }
    }

    /// The finished chunk, trimmed to its length.
    pub(super) fn finish(&self) -> Arc<[u8]> {
        Arc::from(&self.writer.bytes[..])
    }
}

/// Iterates the samples of an encoded chunk as (timestamp, value bits).
#[derive(Debug, Clone)]
pub(super) struct ChunkIter<'a> {
    reader: BitReader<'a>,
    total: u16,
    read: u16,
    t: i64,
    delta: i64,
    value: u64,
    leading: u32,
    trailing: u32,
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
        reader: BitReader { bytes: bytes.get(HEADER_LEN..).unwrap_or(&[]), position: 0 },
        total,
        read: 0,
        t: 0,
        delta: 0,
        value: 0,
        leading: 0,
        trailing: 0,
    }
}

impl ChunkIter<'_> {
    fn next_sample(&mut self) -> Option<(i64, u64)> {
        match self.read {
            0 => {
                self.t = self.reader.read_bits(64)? as i64;
                self.value = self.reader.read_bits(64)?;
            }
            1 => {
                let mut zigzagged = 0u64;
                for shift in (0..64).step_by(7) {
                    let byte = self.reader.read_bits(8)?;
                    zigzagged |= (byte & 0x7f) << shift;
                    if byte < 0x80 {
                        break;
                    }
                }
                self.delta = unzigzag(zigzagged);
                self.t = self.t.wrapping_add(self.delta);
                self.read_xor()?;
            }
            _ => {
                let mut prefix_len = 0;
                while prefix_len < 4 && self.reader.read_bit()? {
                    prefix_len += 1;
                }
                let dod = match prefix_len {
                    0 => 0,
                    1..=3 => {
                        let bits = DOD_BUCKETS[prefix_len - 1].2;
                        sign_extend(self.reader.read_bits(bits)?, bits)
                    }
                    _ => self.reader.read_bits(64)? as i64,
                };
                self.delta = self.delta.wrapping_add(dod);
                self.t = self.t.wrapping_add(self.delta);
                self.read_xor()?;
            }
        }
        self.read += 1;
        Some((self.t, self.value))
    }

    fn read_xor(&mut self) -> Option<()> {
        if !self.reader.read_bit()? {
            return Some(());
        }
        if self.reader.read_bit()? {
            self.leading = self.reader.read_bits(5)? as u32;
            let meaningful = match self.reader.read_bits(6)? as u32 {
                0 => 64,
                n => n,
            };
            if self.leading + meaningful > 64 {
                return None;
            }
            self.trailing = 64 - self.leading - meaningful;
        }
        let meaningful = 64 - self.leading - self.trailing;
        let bits = self.reader.read_bits(meaningful)?;
        self.value ^= bits.checked_shl(self.trailing).unwrap_or(0);
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
