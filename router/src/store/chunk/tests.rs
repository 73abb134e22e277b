//! Tests of the chunk encoding: bit-exact round trips of random and adversarial data (NaN
//! payloads, staleness markers, -0.0, infinities, subnormals, decimals of every scale, extreme
//! timestamps), open chunks decoding after every append, sizes on typical series, capacity
//! slack, and decoding of garbage and truncated chunks.

use super::*;
use harrier_telemetry::model::stale_nan;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Encodes `samples` (value bits) into one chunk.
fn encode(samples: &[(i64, u64)]) -> ChunkEncoder {
    let mut encoder = ChunkEncoder::new();
    for &(timestamp, bits) in samples {
        encoder.append(timestamp, bits);
    }
    encoder
}

fn assert_round_trip(samples: &[(i64, u64)]) {
    let encoder = encode(samples);
    let decoded: Vec<(i64, u64)> = decode(encoder.bytes()).collect();
    assert_eq!(decoded, samples);
    let finished = encoder.finish();
    assert_eq!(&finished[..], encoder.bytes());
    assert_eq!(usize::from(sample_count(&finished)), samples.len());
}

/// Samples at a 15 s interval from a realistic start.
fn regular(values: impl IntoIterator<Item = f64>) -> Vec<(i64, u64)> {
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| (1_700_000_000_000 + i as i64 * 15_000, v.to_bits()))
        .collect()
}

fn random_value(rng: &mut StdRng, previous: f64, scale: i32) -> f64 {
    match rng.random_range(0..17) {
        0 => f64::from_bits(rng.random::<u64>()),
        1 => f64::from_bits(0x7ff8_0000_0000_0000 | rng.random_range(1..1u64 << 51)),
        2 => f64::from_bits(0xfff0_0000_0000_0000 | rng.random_range(1..1u64 << 52)),
        3 => [f64::INFINITY, f64::NEG_INFINITY, -0.0, 0.0, f64::MIN_POSITIVE / 4.0, f64::MAX]
            [rng.random_range(0..6)],
        4 => stale_nan(),
        5 | 6 => previous,
        7 => previous + f64::from(rng.random_range(0..100u32)),
        8 | 9 => {
            let power = 10f64.powi(scale);
            ((previous * power).round() + f64::from(rng.random_range(-500..500))) / power
        }
        10 => f64::from(rng.random_range(-1_000_000..1_000_000)) / 10f64.powi(rng.random_range(0..18)),
        11 => rng.random_range(-1e17..1e17f64).round(),
        12 => f64::from(rng.random_range(1000..2000u32)) * 4096.0,
        13 => 0.1 + 0.2 * f64::from(rng.random_range(0..10u32)),
        14 => previous + 1000.0 + f64::from(rng.random_range(-20..20)),
        _ => rng.random::<f64>() * 1e6,
    }
}

fn random_delta(rng: &mut StdRng) -> i64 {
    match rng.random_range(0..12) {
        0 => rng.random_range(1..i64::MAX / 4),
        1 => rng.random_range(1..100_000_000),
        2 | 3 => 15_000 + rng.random_range(-500..500),
        4 | 5 => 15_000 + rng.random_range(-9..=9),
        6 => rng.random_range(1..10),
        7 => 30_000,
        _ => 15_000,
    }
}

#[test]
fn random_data_round_trips_bit_exact() {
    let mut rng = StdRng::seed_from_u64(7);
    for _ in 0..3000 {
        let count = rng.random_range(1..=usize::from(SAMPLES_PER_CHUNK));
        let mut timestamp: i64 = match rng.random_range(0..4) {
            0 => i64::MIN + rng.random_range(0..1000),
            1 => -rng.random_range(0..1_000_000_000),
            2 => i64::MAX - 1_000_000_000_000,
            _ => rng.random_range(0..2_000_000_000_000),
        };
        let scale = rng.random_range(0..=17);
        let mut value = 0.0;
        let mut samples = Vec::new();
        for _ in 0..count {
            value = random_value(&mut rng, value, scale);
            samples.push((timestamp, value.to_bits()));
            let Some(next) = timestamp.checked_add(random_delta(&mut rng)) else { break };
            timestamp = next;
        }
        assert_round_trip(&samples);
    }
}

#[test]
fn special_values_round_trip_bit_exact() {
    let specials = [
        0.0,
        -0.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        -f64::NAN,
        stale_nan(),
        f64::from_bits(0x7ff8_dead_beef_0001),
        f64::from_bits(0xfff0_0000_0000_0001),
        f64::MIN_POSITIVE,
        f64::from_bits(1),
        f64::MAX,
        f64::MIN,
        f64::EPSILON,
        9_007_199_254_740_992.0,
        9_007_199_254_740_993.0,
        -9_007_199_254_740_991.0,
        0.1,
        0.30000000000000004,
        1e-15,
        1e-16,
        123_456.789,
        -42.5,
    ];
    // Every ordered pair, so each value follows each other in every state.
    let mut samples = Vec::new();
    for a in specials {
        for b in specials {
            samples.push(a);
            samples.push(b);
        }
    }
    for window in samples.chunks(usize::from(SAMPLES_PER_CHUNK)) {
        assert_round_trip(&regular(window.iter().copied()));
    }
    // A decimal series broken by a staleness marker and resumed.
    assert_round_trip(&regular([1.25, 1.5, stale_nan(), 1.75, -0.0, 2.0, f64::NAN, 2.25]));
}

#[test]
fn extreme_timestamps_round_trip() {
    assert_round_trip(&[(i64::MIN, 1), (i64::MIN + 1, 2), (-1, 3), (0, 4), (i64::MAX - 1, 5), (i64::MAX, 6)]);
    assert_round_trip(&[(i64::MAX, 0)]);
    let gaps: Vec<(i64, u64)> = (0..100).map(|i| (i * i * i * 997, 1.0f64.to_bits())).collect();
    assert_round_trip(&gaps);
}

#[test]
fn open_chunk_decodes_after_every_append() {
    let mut rng = StdRng::seed_from_u64(3);
    let mut encoder = ChunkEncoder::new();
    let mut expected = Vec::new();
    let mut timestamp = 1_700_000_000_000;
    let mut value = 10.0;
    let mut capacity = encoder.heap_bytes();
    for _ in 0..SAMPLES_PER_CHUNK {
        value = random_value(&mut rng, value, 2);
        timestamp += random_delta(&mut rng);
        encoder.append(timestamp, value.to_bits());
        expected.push((timestamp, value.to_bits()));
        assert_eq!(decode(encoder.bytes()).collect::<Vec<_>>(), expected);
        assert_eq!(encoder.count() as usize, expected.len());
        assert_eq!((encoder.min_t(), encoder.max_t()), (expected[0].0, timestamp));
        // The head accounts growth per append: capacity never shrinks.
        assert!(encoder.heap_bytes() >= capacity);
        capacity = encoder.heap_bytes();
    }
    assert!(encoder.is_full());
}

/// Bytes of a full chunk of `values` at `timestamps`.
fn chunk_len(timestamps: &[i64], values: &[f64]) -> usize {
    let samples: Vec<(i64, u64)> = timestamps.iter().zip(values).map(|(&t, v)| (t, v.to_bits())).collect();
    assert_round_trip(&samples);
    encode(&samples).bytes().len()
}

fn regular_timestamps() -> Vec<i64> {
    (0..i64::from(SAMPLES_PER_CHUNK)).map(|i| 1_700_000_000_000 + i * 15_000).collect()
}

#[test]
fn regular_series_are_small() {
    let timestamps = regular_timestamps();
    let n = usize::from(SAMPLES_PER_CHUNK);
    // A constant: a bit for each timestamp and value.
    let constant = chunk_len(&timestamps, &vec![1.0; n]);
    assert!(constant <= 2 + 8 + 3 + 2 * n / 8 + 1, "constant: {constant} bytes");
    // A counter growing by 0 to 49 a scrape: at most 12 bits a sample.
    let mut rng = StdRng::seed_from_u64(5);
    let mut total = 0.0;
    let counter: Vec<f64> = (0..n)
        .map(|_| {
            total += f64::from(rng.random_range(0..50u32));
            total
        })
        .collect();
    let counter_len = chunk_len(&timestamps, &counter);
    assert!(counter_len <= 12 + 12 * n / 8, "counter: {counter_len} bytes");
    // A 2-decimal gauge random walk: well under the 50-odd bits XOR takes.
    let mut gauge = 20.0;
    let gauges: Vec<f64> = (0..n)
        .map(|_| {
            gauge = ((gauge + rng.random_range(-1.0..1.0)) * 100.0f64).round() / 100.0;
            gauge
        })
        .collect();
    let gauge_len = chunk_len(&timestamps, &gauges);
    assert!(gauge_len <= 12 + 15 * n / 8, "gauge: {gauge_len} bytes");
}

#[test]
fn steady_counters_cost_their_jitter() {
    let mut rng = StdRng::seed_from_u64(21);
    let timestamps = regular_timestamps();
    let mut total = 1e6;
    let values: Vec<f64> = timestamps
        .iter()
        .map(|_| {
            total += f64::from(1500 + rng.random_range(-40..40));
            total
        })
        .collect();
    let len = chunk_len(&timestamps, &values);
    // Steps of 1500 take 22 bits in the code; their variations, 9 to 13.
    assert!(len <= 16 + 14 * timestamps.len() / 8, "steady counter: {len} bytes");
}

#[test]
fn jittered_timestamps_are_small() {
    let mut rng = StdRng::seed_from_u64(9);
    let timestamps: Vec<i64> = regular_timestamps().iter().map(|t| t + rng.random_range(-3..=3)).collect();
    let n = usize::from(SAMPLES_PER_CHUNK);
    let len = chunk_len(&timestamps, &vec![5.0; n]);
    // 6 bits of jitter at most and one bit of value a sample.
    assert!(len <= 12 + 7 * n / 8, "jittered: {len} bytes");
}

#[test]
fn binary_gauges_fall_back_to_xor_cheaply() {
    let mut rng = StdRng::seed_from_u64(13);
    let timestamps = regular_timestamps();
    let values: Vec<f64> =
        timestamps.iter().map(|_| f64::from(rng.random_range(1000..2000u32)) * 4096.0).collect();
    let len = chunk_len(&timestamps, &values);
    // Gorilla takes 1 + about 12 bits for such values; the decimal form would take 30.
    assert!(len <= 12 + 20 * timestamps.len() / 8, "binary gauge: {len} bytes");
}

#[test]
fn full_chunks_carry_little_unused_capacity() {
    let mut rng = StdRng::seed_from_u64(17);
    for _ in 0..50 {
        let mut encoder = ChunkEncoder::new();
        let mut value = 0.0;
        for t in regular_timestamps() {
            value += f64::from(rng.random_range(0..50u32));
            encoder.append(t + rng.random_range(-3..=3), f64::to_bits(value));
        }
        let slack = encoder.heap_bytes() - encoder.bytes().len();
        assert!(slack <= 16, "{slack} unused bytes of {}", encoder.heap_bytes());
    }
}

#[test]
fn decoder_survives_garbage_and_truncation() {
    let mut rng = StdRng::seed_from_u64(11);
    for _ in 0..5000 {
        let len = rng.random_range(0..300);
        let bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        assert!(decode(&bytes).count() <= usize::from(sample_count(&bytes)));
    }
    let mut value = 0.0;
    let samples: Vec<(i64, u64)> = (0..100)
        .map(|i| {
            value = random_value(&mut rng, value, 3);
            (i * 15_000, value.to_bits())
        })
        .collect();
    let encoder = encode(&samples);
    for cut in 0..encoder.bytes().len() {
        let prefix: Vec<(i64, u64)> = decode(&encoder.bytes()[..cut]).collect();
        assert!(prefix.len() < samples.len());
        assert_eq!(prefix, samples[..prefix.len()]);
    }
}

#[test]
fn decimal_mantissas_are_exact() {
    assert_eq!(decimal_mantissa(12.34f64.to_bits(), 2), Some(1234));
    assert_eq!(decimal_mantissa(12.34f64.to_bits(), 1), None);
    assert_eq!(decimal_mantissa((-0.0f64).to_bits(), 0), None);
    assert_eq!(decimal_mantissa(f64::NAN.to_bits(), 3), None);
    assert_eq!(decimal_mantissa(f64::INFINITY.to_bits(), 0), None);
    assert_eq!(decimal_mantissa(9_007_199_254_740_992.0f64.to_bits(), 0), None);
    assert_eq!(finer_decimal(0.125f64.to_bits(), 0), Some((3, 125)));
    assert_eq!(finer_decimal(0.30000000000000004f64.to_bits(), 0), None);
    assert_eq!(snapped_interval(15_006), 15_000);
    assert_eq!(snapped_interval(14_993), 15_000);
    assert_eq!(snapped_interval(14_990), 14_990);
    assert_eq!(snapped_interval(12_345), 12_345);
    assert_eq!(snapped_interval(-3), -3);
}
