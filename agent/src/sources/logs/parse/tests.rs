use super::*;
use chrono::{DateTime, FixedOffset, SecondsFormat, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const READ_TIME: i64 = 7;

type Entry = (StdStream, i64, String);

fn settings(format: LineFormat, max_line_bytes: usize) -> Arc<ParserSettings> {
    Arc::new(ParserSettings { format, max_line_bytes, multiline: None })
}

fn multiline_settings(
    format: LineFormat,
    max_line_bytes: usize,
    pattern: &str,
    max_lines: usize,
) -> Arc<ParserSettings> {
    let multiline = CompiledMultiline {
        start: regex::Regex::new(pattern).unwrap(),
        timeout: Duration::from_millis(500),
        max_lines,
    };
    Arc::new(ParserSettings { format, max_line_bytes, multiline: Some(multiline) })
}

fn entries(out: &ChunkBuilder) -> Vec<Entry> {
    out.entries
        .iter()
        .map(|entry| {
            let start = entry.start as usize;
            let line = std::str::from_utf8(&out.data[start..start + entry.len as usize]).unwrap();
            (out.stream_kinds[entry.stream as usize], entry.timestamp_ns, line.to_owned())
        })
        .collect()
}

/// Feeds `bytes` in one go, then finishes.
fn parse(settings: &Arc<ParserSettings>, bytes: &[u8]) -> (Vec<Entry>, ParseCounters) {
    let mut parser = LineParser::new(Arc::clone(settings), 0);
    let mut out = ChunkBuilder::default();
    parser.feed(bytes, READ_TIME, &mut out);
    parser.finish(READ_TIME, &mut out);
    (entries(&out), parser.counters())
}

fn ns(text: &str) -> i64 {
    DateTime::parse_from_rfc3339(text).unwrap().timestamp_nanos_opt().unwrap()
}

// ---- timestamps ----

#[test]
fn timestamp_of_kubernetes_sample() {
    assert_eq!(parse_rfc3339_nanos(b"2016-10-06T00:17:09.669794202Z"), Some(1_475_713_029_669_794_202));
    assert_eq!(parse_rfc3339_nanos(b"1970-01-01T00:00:00Z"), Some(0));
    assert_eq!(parse_rfc3339_nanos(b"1970-01-01T02:00:00+02:00"), Some(0));
    assert_eq!(parse_rfc3339_nanos(b"1969-12-31T23:59:59.999999999Z"), Some(-1));
}

#[test]
fn timestamp_agrees_with_chrono_on_edge_cases() {
    let cases = [
        "2016-10-06T00:17:09.669794202Z",
        "2019-04-30T02:12:41.8443515Z",
        "2021-02-01T16:45:03.01231z",
        "2024-01-02t15:04:05.5+02:00",
        "2024-01-02T15:04:05-07:30",
        "2024-02-29T23:59:59.999999999Z",
        "2000-02-29T00:00:00Z",
        "1900-03-01T00:00:00Z",
        "1677-09-21T00:12:43.145224192Z",
        "2262-04-11T23:47:16.854775807Z",
        "2016-12-31T23:59:60.5Z",
        "2024-06-30T23:59:60Z",
        "2024-01-01T00:00:00.000000001+23:59",
        "2024-01-01T00:00:00.1234567891234Z",
        "2024-01-01T00:00:00-00:00",
        "1970-01-01T00:00:00.000Z",
        "1969-07-20T20:17:40Z",
    ];
    for case in cases {
        let expected = DateTime::parse_from_rfc3339(case).ok().and_then(|time| time.timestamp_nanos_opt());
        assert!(expected.is_some(), "{case}");
        assert_eq!(parse_rfc3339_nanos(case.as_bytes()), expected, "{case}");
    }
}

#[test]
fn timestamp_rejects_what_chrono_rejects() {
    let cases = [
        "",
        "2016-10-06",
        "2016-10-06T00:17:09",
        "2016-10-06T00:17:09.Z",
        "2016-13-06T00:17:09Z",
        "2016-00-06T00:17:09Z",
        "2023-02-29T00:00:00Z",
        "1900-02-29T00:00:00Z",
        "2016-04-31T00:00:00Z",
        "2016-10-06T24:00:00Z",
        "2016-10-06T23:60:00Z",
        "2016-10-06T23:59:61Z",
        "2016-10-06T00:17:09.5",
        "2016-10-06T00:17:09+2:00",
        "2016-10-06T00:17:09+02:60",
        "2016-10-06T00:17:09Zjunk",
        "2016-10-06X00:17:09Z",
        "2016/10/06T00:17:09Z",
        "+016-10-06T00:17:09Z",
        "2016-10-06T00:17:09.1a2Z",
        "2262-04-11T23:47:16.854775808Z",
        "1677-09-21T00:12:43.145224191Z",
    ];
    for case in cases {
        let chrono = DateTime::parse_from_rfc3339(case).ok().and_then(|time| time.timestamp_nanos_opt());
        assert_eq!(chrono, None, "chrono accepts {case}");
        assert_eq!(parse_rfc3339_nanos(case.as_bytes()), None, "{case}");
    }
}

#[test]
fn timestamp_agrees_with_chrono_on_random_times_and_offsets() {
    let mut rng = StdRng::seed_from_u64(6);
    for _ in 0..20_000 {
        let nanos = rng.random_range(-9_000_000_000_000_000_000i64..9_000_000_000_000_000_000);
        let offset = FixedOffset::east_opt(rng.random_range(-86_399..86_400) / 60 * 60).unwrap();
        let time = Utc.timestamp_nanos(nanos).with_timezone(&offset);
        let format =
            [SecondsFormat::Secs, SecondsFormat::Millis, SecondsFormat::Nanos, SecondsFormat::AutoSi]
                [rng.random_range(0..4)];
        let text = time.to_rfc3339_opts(format, rng.random_bool(0.5));
        let expected = DateTime::parse_from_rfc3339(&text).unwrap().timestamp_nanos_opt();
        assert_eq!(parse_rfc3339_nanos(text.as_bytes()), expected, "{text}");
    }
}

// ---- CRI ----

#[test]
fn cri_samples_from_the_kubernetes_design_and_vector() {
    let input = "2016-10-06T00:17:09.669794202Z stdout F The content of the log entry 1\n\
                 2016-10-06T00:17:09.669794202Z stdout P First line of log entry 2\n\
                 2016-10-06T00:17:09.669794202Z stdout P Second line of the log entry 2\n\
                 2016-10-06T00:17:10.113242941Z stderr F Last line of the log entry 2\n\
                 2016-10-06T00:17:10.113242941Z stdout F Third part of entry 2\n";
    let (entries, counters) = parse(&settings(LineFormat::Cri, 1 << 20), input.as_bytes());
    let t1 = ns("2016-10-06T00:17:09.669794202Z");
    let t2 = ns("2016-10-06T00:17:10.113242941Z");
    assert_eq!(
        entries,
        vec![
            (StdStream::Stdout, t1, "The content of the log entry 1".to_owned()),
            (StdStream::Stderr, t2, "Last line of the log entry 2".to_owned()),
            (
                StdStream::Stdout,
                t1,
                "First line of log entry 2Second line of the log entry 2Third part of entry 2".to_owned()
            ),
        ]
    );
    assert_eq!(counters, ParseCounters { lines: 3, ..Default::default() });
}

#[test]
fn cri_100kb_line_in_16k_parts_is_one_entry_with_the_first_parts_time() {
    let line: String = (0..100_000).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    let mut input = String::new();
    let chunks: Vec<&str> =
        line.as_bytes().chunks(16 * 1024).map(|c| std::str::from_utf8(c).unwrap()).collect();
    for (index, chunk) in chunks.iter().enumerate() {
        let tag = if index + 1 == chunks.len() { "F" } else { "P" };
        input.push_str(&format!("2024-01-02T15:04:05.{index:09}Z stdout {tag} {chunk}\n"));
    }
    input.push_str("2024-01-02T15:04:06Z stdout F next\n");
    let settings = settings(LineFormat::Cri, 256 << 10);
    // In one feed and in feeds of 4 KiB.
    let (entries, counters) = parse(&settings, input.as_bytes());
    let first_time = ns("2024-01-02T15:04:05Z");
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0], (StdStream::Stdout, first_time, line.clone()));
    assert_eq!(entries[1].2, "next");
    assert_eq!(counters, ParseCounters { lines: 2, ..Default::default() });
    assert_eq!(feed_in_blocks(&settings, input.as_bytes(), 4096), entries);
}

fn feed_in_blocks(settings: &Arc<ParserSettings>, bytes: &[u8], block: usize) -> Vec<Entry> {
    let mut parser = LineParser::new(Arc::clone(settings), 0);
    let mut out = ChunkBuilder::default();
    for chunk in bytes.chunks(block) {
        parser.feed(chunk, READ_TIME, &mut out);
    }
    parser.finish(READ_TIME, &mut out);
    entries(&out)
}

#[test]
fn cri_partial_run_over_the_limit_is_cut_and_the_rest_skipped_until_f() {
    let input = "2024-01-02T15:04:05Z stdout P 0123456789\n\
                 2024-01-02T15:04:06Z stdout P abcdefghij\n\
                 2024-01-02T15:04:07Z stdout P klmnopqrst\n\
                 2024-01-02T15:04:08Z stdout F uvw\n\
                 2024-01-02T15:04:09Z stdout F after\n";
    let (entries, counters) = parse(&settings(LineFormat::Cri, 15), input.as_bytes());
    let texts: Vec<&str> = entries.iter().map(|e| e.2.as_str()).collect();
    assert_eq!(texts, ["0123456789abcde", "after"]);
    assert_eq!(entries[0].1, ns("2024-01-02T15:04:05Z"));
    assert_eq!(counters, ParseCounters { lines: 2, truncated: 1, partial_overflow: 1, malformed: 0 });
}

#[test]
fn cri_bad_time_keeps_stream_and_message_with_read_time() {
    let input = "2024-13-02T15:04:05Z stderr F message\n";
    let (entries, counters) = parse(&settings(LineFormat::Cri, 100), input.as_bytes());
    assert_eq!(entries, vec![(StdStream::Stderr, READ_TIME, "message".to_owned())]);
    assert_eq!(counters.malformed, 1);
}

#[test]
fn cri_bad_prefix_is_emitted_raw_on_stdout_and_counted() {
    // Promtail's documented non-CRI examples, and others.
    let input = "2019-01-01 T01:00:00.000000001Z stderr testgood\n\
                 2019-01-01T01:00:00.000000001Z testgood\n\
                 2019-01-01T01:00:00.000000001Z stdout X msg\n\
                 \n";
    let (entries, counters) = parse(&settings(LineFormat::Cri, 100), input.as_bytes());
    let texts: Vec<&str> = entries.iter().map(|e| e.2.as_str()).collect();
    assert_eq!(
        texts,
        [
            "2019-01-01 T01:00:00.000000001Z stderr testgood",
            "2019-01-01T01:00:00.000000001Z testgood",
            "2019-01-01T01:00:00.000000001Z stdout X msg",
            ""
        ]
    );
    assert!(entries.iter().all(|e| e.0 == StdStream::Stdout && e.1 == READ_TIME));
    assert_eq!(counters.malformed, 4);
}

#[test]
fn cri_empty_messages_and_tag_suffixes() {
    let input = "2019-01-01T01:00:00Z stdout F \n\
                 2019-01-01T01:00:00Z stdout F\n\
                 2019-01-01T01:00:00Z stdout F:x hello  world \n\
                 2019-01-01T01:00:00Z stdout P\n\
                 2019-01-01T01:00:00Z stdout F tail\n";
    let (entries, counters) = parse(&settings(LineFormat::Cri, 100), input.as_bytes());
    let texts: Vec<&str> = entries.iter().map(|e| e.2.as_str()).collect();
    assert_eq!(texts, ["", "", "hello  world ", "tail"]);
    assert_eq!(counters.malformed, 0);
}

#[test]
fn cri_invalid_utf8_from_vector_is_replaced_by_the_chunk_builder() {
    // Vector's byte case: a P line whose message ends inside a UTF-8 sequence.
    let mut input =
        b"2021-08-05T17:35:26.640507539Z stdout P Hello World \xd0\x9f\xd1\x80\xd0\xb8 \xd0\x9c\xd0\xb8\xd1"
            .to_vec();
    input.extend_from_slice(b"\n2021-08-05T17:35:26.640507539Z stdout F \x80\n");
    let settings = settings(LineFormat::Cri, 100);
    let mut parser = LineParser::new(Arc::clone(&settings), 0);
    let mut out = ChunkBuilder::default();
    parser.feed(&input, READ_TIME, &mut out);
    // The parts join back into valid UTF-8.
    assert_eq!(entries(&out)[0].2, "Hello World При Мир");
    assert_eq!(out.invalid_utf8, 0);
}

// ---- docker ----

#[test]
fn docker_samples_from_vector() {
    let input = r#"{"log": "The actual log line\n", "stream": "stderr", "time": "2016-10-05T00:00:30.082640485Z"}
{"log":"hello \"quoted\" \\ tab\t \u00e9 \ud83d\ude00\n","stream":"stdout","time":"2016-10-05T00:00:31Z","attrs":{"a":"b}"}}
"#;
    let (entries, counters) = parse(&settings(LineFormat::Docker, 1000), input.as_bytes());
    assert_eq!(
        entries,
        vec![
            (StdStream::Stderr, ns("2016-10-05T00:00:30.082640485Z"), "The actual log line".to_owned()),
            (StdStream::Stdout, ns("2016-10-05T00:00:31Z"), "hello \"quoted\" \\ tab\t é 😀".to_owned()),
        ]
    );
    assert_eq!(counters, ParseCounters { lines: 2, ..Default::default() });
}

#[test]
fn docker_parts_without_newline_are_joined_per_stream() {
    let part = "p".repeat(16 * 1024);
    let input = format!(
        "{{\"log\":\"{part}\",\"stream\":\"stdout\",\"time\":\"2024-01-02T15:04:05Z\"}}\n\
         {{\"log\":\"err\\n\",\"stream\":\"stderr\",\"time\":\"2024-01-02T15:04:06Z\"}}\n\
         {{\"log\":\"{part}\",\"stream\":\"stdout\",\"time\":\"2024-01-02T15:04:07Z\"}}\n\
         {{\"log\":\"end\\n\",\"stream\":\"stdout\",\"time\":\"2024-01-02T15:04:08Z\"}}\n"
    );
    let (entries, _) = parse(&settings(LineFormat::Docker, 1 << 20), input.as_bytes());
    assert_eq!(
        entries,
        vec![
            (StdStream::Stderr, ns("2024-01-02T15:04:06Z"), "err".to_owned()),
            (StdStream::Stdout, ns("2024-01-02T15:04:05Z"), format!("{part}{part}end")),
        ]
    );
}

#[test]
fn docker_invalid_lines_from_vector_are_malformed() {
    let cases = [
        r#"{"#,
        r#"hello world"#,
        r#"123"#,
        r#"{}"#,
        r#"{"stream": "stderr", "time": "2016-10-05T00:00:30.082640485Z"}"#,
        r#"{"log": 123, "stream": "stderr", "time": "2016-10-05T00:00:30.082640485Z"}"#,
        r#"{"log": "x\n", "stream": "stderr"} trailing"#,
        r#"{"log": "bad \q escape\n"}"#,
    ];
    for case in cases {
        let (entries, counters) = parse(&settings(LineFormat::Docker, 1000), format!("{case}\n").as_bytes());
        assert_eq!(entries, vec![(StdStream::Stdout, READ_TIME, case.to_owned())], "{case}");
        assert_eq!(counters.malformed, 1, "{case}");
    }
    // A time that is missing, not a string's worth or wrong: read time, stream and log kept.
    for case in [
        r#"{"log": "Hello world\n", "stream": "stderr"}"#,
        r#"{"log": "Hello world\n", "stream": "stderr", "time": 123}"#,
        r#"{"log": "Hello world\n", "stream": "stderr", "time": ""}"#,
        r#"{"log": "Hello world\n", "stream": "stderr", "time": "qwerty"}"#,
    ] {
        let (entries, counters) = parse(&settings(LineFormat::Docker, 1000), format!("{case}\n").as_bytes());
        if case.contains("123") {
            // `time` is not a string: the whole line does not parse.
            assert_eq!(entries, vec![(StdStream::Stdout, READ_TIME, case.to_owned())]);
        } else {
            assert_eq!(entries, vec![(StdStream::Stderr, READ_TIME, "Hello world".to_owned())], "{case}");
        }
        assert_eq!(counters.malformed, 1, "{case}");
    }
}

#[test]
fn docker_unescaping_matches_serde_json() {
    let mut rng = StdRng::seed_from_u64(42);
    let alphabet: Vec<char> = "ab \"\\/\n\t\r\u{1}\u{7f}é€😀\u{2028}".chars().collect();
    let mut log = Vec::new();
    for _ in 0..5000 {
        let text: String =
            (0..rng.random_range(0..40)).map(|_| alphabet[rng.random_range(0..alphabet.len())]).collect();
        let mut encoded = serde_json::to_string(&text).unwrap();
        if rng.random_bool(0.3) {
            // Escape every non-ASCII character as \uXXXX (pairs for astral ones), as some
            // encoders do.
            encoded = encoded
                .chars()
                .map(|c| {
                    if c.is_ascii() {
                        c.to_string()
                    } else {
                        c.encode_utf16(&mut [0; 2]).iter().map(|unit| format!("\\u{unit:04x}")).collect()
                    }
                })
                .collect();
        }
        let line = format!(r#"{{"log":{encoded},"stream":"stdout","time":"2024-01-02T15:04:05Z"}}"#);
        let parsed = docker::parse_docker(line.as_bytes(), &mut log).unwrap();
        let mut expected =
            serde_json::from_str::<serde_json::Value>(&line).unwrap()["log"].as_str().unwrap().to_owned();
        assert_eq!(parsed.partial, !expected.ends_with('\n'), "{line}");
        if !parsed.partial {
            expected.pop();
        }
        assert_eq!(std::str::from_utf8(&log).unwrap(), expected, "{line}");
    }
}

#[test]
fn docker_lone_surrogates_become_replacement_characters() {
    let mut log = Vec::new();
    let line = br#"{"log":"a\ud800b\udc00c\ud83dx\n"}"#;
    docker::parse_docker(line, &mut log).unwrap();
    assert_eq!(std::str::from_utf8(&log).unwrap(), "a\u{fffd}b\u{fffd}c\u{fffd}x");
}

// ---- plain and auto ----

#[test]
fn plain_lines_drop_cr_and_finish_emits_the_unterminated_last_line() {
    let settings = settings(LineFormat::Plain, 100);
    let mut parser = LineParser::new(Arc::clone(&settings), 10);
    let mut out = ChunkBuilder::default();
    parser.feed(b"one\r\ntwo\n\nthree", 123, &mut out);
    assert_eq!(parser.safe_offset(), 10 + 10);
    parser.finish(456, &mut out);
    assert_eq!(
        entries(&out),
        vec![
            (StdStream::None, 123, "one".to_owned()),
            (StdStream::None, 123, "two".to_owned()),
            (StdStream::None, 123, String::new()),
            (StdStream::None, 456, "three".to_owned()),
        ]
    );
    assert_eq!(parser.safe_offset(), 10 + 15);
}

#[test]
fn auto_picks_docker_or_cri_per_line() {
    let input = "{\"log\":\"from docker\\n\",\"stream\":\"stderr\",\"time\":\"2024-01-02T15:04:05Z\"}\n\
                 2024-01-02T15:04:06Z stdout F from cri\n";
    let (entries, counters) = parse(&settings(LineFormat::Auto, 100), input.as_bytes());
    assert_eq!(
        entries,
        vec![
            (StdStream::Stderr, ns("2024-01-02T15:04:05Z"), "from docker".to_owned()),
            (StdStream::Stdout, ns("2024-01-02T15:04:06Z"), "from cri".to_owned()),
        ]
    );
    assert_eq!(counters.malformed, 0);
}

// ---- limits and bad input ----

#[test]
fn a_long_line_is_cut_and_the_rest_is_skipped_without_buffering() {
    let settings = settings(LineFormat::Plain, 10);
    let mut parser = LineParser::new(Arc::clone(&settings), 0);
    let mut out = ChunkBuilder::default();
    parser.feed(b"short\n0123456789abc", READ_TIME, &mut out);
    for _ in 0..1000 {
        parser.feed(&[b'x'; 1000], READ_TIME, &mut out);
        assert!(parser.pending.len() <= 11, "{}", parser.pending.len());
        assert_eq!(parser.safe_offset(), 6, "the cut line is not emitted before its end");
    }
    parser.feed(b"yyy\nnext\n", READ_TIME, &mut out);
    let texts: Vec<String> = entries(&out).into_iter().map(|e| e.2).collect();
    assert_eq!(texts, ["short", "0123456789", "next"]);
    assert_eq!(parser.counters(), ParseCounters { lines: 3, truncated: 1, ..Default::default() });
    assert_eq!(parser.safe_offset(), 6 + 13 + 1_000_000 + 9);
}

#[test]
fn cuts_do_not_split_utf8_characters() {
    let (entries, counters) = parse(&settings(LineFormat::Plain, 5), "abcd€\n".as_bytes());
    assert_eq!(entries[0].2, "abcd");
    assert_eq!(counters.truncated, 1);
}

#[test]
fn binary_garbage_never_panics_in_any_format() {
    let mut rng = StdRng::seed_from_u64(1);
    let fragments: [&[u8]; 8] = [
        b"2024-01-02T15:04:05Z stdout P ",
        b"2024-01-02T15:04:05Z stderr F ",
        b"{\"log\":\"",
        b"\\u12",
        b"\",\"stream\":\"stderr\"}",
        b"\n",
        b"\0\xff\xfe\r",
        b"abc",
    ];
    for format in [LineFormat::Cri, LineFormat::Docker, LineFormat::Auto, LineFormat::Plain] {
        for max in [1, 7, 64] {
            let settings = multiline_settings(format, max, "^2", 3);
            let plain = self::settings(format, max);
            for settings in [settings, plain] {
                let mut bytes = Vec::new();
                for _ in 0..2000 {
                    if rng.random_bool(0.5) {
                        bytes.extend_from_slice(fragments[rng.random_range(0..fragments.len())]);
                    } else {
                        bytes.push(rng.random());
                    }
                }
                let mut parser = LineParser::new(Arc::clone(&settings), 0);
                let mut out = ChunkBuilder::default();
                let mut position = 0;
                while position < bytes.len() {
                    let end = (position + rng.random_range(1..200)).min(bytes.len());
                    parser.feed(&bytes[position..end], READ_TIME, &mut out);
                    parser.flush_expired(
                        Instant::now() + Duration::from_secs(rng.random_range(0..10)),
                        &mut out,
                    );
                    position = end;
                }
                parser.finish(READ_TIME, &mut out);
                assert_eq!(parser.safe_offset(), bytes.len() as u64);
                // U+FFFD (3 bytes) may replace each invalid byte.
                assert!(out.entries.iter().all(|e| e.len as usize <= 3 * max));
                assert!(out.entries.iter().all(|e| std::str::from_utf8(&out.data[e.start as usize..][..e.len as usize]).is_ok()));
            }
        }
    }
}

// ---- multiline ----

const JAVA_TRACE: &str = "2024-01-02 15:04:05 ERROR boom\n\
                          java.lang.IllegalStateException: bad\n\
                          \tat com.example.A.b(A.java:1)\n\
                          \tat com.example.C.d(C.java:2)\n\
                          2024-01-02 15:04:06 INFO fine\n";

#[test]
fn multiline_joins_a_stack_trace_until_the_next_start_line() {
    let settings = multiline_settings(LineFormat::Plain, 1000, r"^\d{4}-\d{2}-\d{2} ", 500);
    let mut parser = LineParser::new(Arc::clone(&settings), 0);
    let mut out = ChunkBuilder::default();
    parser.feed(JAVA_TRACE.as_bytes(), READ_TIME, &mut out);
    let texts: Vec<String> = entries(&out).into_iter().map(|e| e.2).collect();
    assert_eq!(
        texts,
        [
            "2024-01-02 15:04:05 ERROR boom\njava.lang.IllegalStateException: bad\n\tat com.example.A.b(A.java:1)\n\tat com.example.C.d(C.java:2)"
        ]
    );
    // The last entry waits for more lines, then its timeout.
    let start_of_last = JAVA_TRACE.rfind("2024").unwrap() as u64;
    assert_eq!(parser.safe_offset(), start_of_last);
    parser.flush_expired(Instant::now(), &mut out);
    assert_eq!(out.entries.len(), 1, "not expired yet");
    parser.flush_expired(Instant::now() + Duration::from_secs(1), &mut out);
    assert_eq!(entries(&out)[1].2, "2024-01-02 15:04:06 INFO fine");
    assert_eq!(parser.safe_offset(), JAVA_TRACE.len() as u64);
}

#[test]
fn multiline_emits_at_max_lines_and_at_max_line_bytes() {
    let settings = multiline_settings(LineFormat::Plain, 1000, r"^S", 2);
    let (entries, _) = parse(&settings, b"S1\na\nb\nc\nS2\n");
    let texts: Vec<&str> = entries.iter().map(|e| e.2.as_str()).collect();
    assert_eq!(texts, ["S1\na", "b\nc", "S2"]);

    let settings = multiline_settings(LineFormat::Plain, 8, r"^S", 100);
    let (entries, counters) = parse(&settings, b"S1\naaa\nbbb\nccc\nS2\n");
    let texts: Vec<&str> = entries.iter().map(|e| e.2.as_str()).collect();
    assert_eq!(texts, ["S1\naaa\nb", "ccc", "S2"]);
    assert_eq!(counters.truncated, 1);
}

#[test]
fn multiline_is_per_stream_and_runs_after_partial_joining() {
    let input = "2024-01-02T15:04:05Z stdout F START out\n\
                 2024-01-02T15:04:05Z stderr F START err\n\
                 2024-01-02T15:04:06Z stderr F   err more\n\
                 2024-01-02T15:04:06Z stdout P   out \n\
                 2024-01-02T15:04:07Z stdout F more\n\
                 2024-01-02T15:04:08Z stdout F START next\n";
    let settings = multiline_settings(LineFormat::Cri, 1000, "^START", 100);
    let (entries, _) = parse(&settings, input.as_bytes());
    assert_eq!(
        entries,
        vec![
            (StdStream::Stdout, ns("2024-01-02T15:04:05Z"), "START out\n  out more".to_owned()),
            // Both still open at the end: `finish` emits stdout's, then stderr's.
            (StdStream::Stdout, ns("2024-01-02T15:04:08Z"), "START next".to_owned()),
            (StdStream::Stderr, ns("2024-01-02T15:04:05Z"), "START err\n  err more".to_owned()),
        ]
    );
}

#[test]
fn flush_expired_emits_a_partial_run_without_its_last_part() {
    let settings = settings(LineFormat::Cri, 1000);
    let mut parser = LineParser::new(Arc::clone(&settings), 0);
    let mut out = ChunkBuilder::default();
    parser.feed(b"2024-01-02T15:04:05Z stderr P half\n", READ_TIME, &mut out);
    assert_eq!(parser.safe_offset(), 0);
    parser.flush_expired(Instant::now(), &mut out);
    assert!(out.is_empty());
    parser.flush_expired(Instant::now() + PARTIAL_RUN_TIMEOUT, &mut out);
    assert_eq!(entries(&out), vec![(StdStream::Stderr, ns("2024-01-02T15:04:05Z"), "half".to_owned())]);
    assert_eq!(parser.safe_offset(), 35);
}

// ---- resuming from safe_offset ----

/// Parses `bytes` fed in random blocks; at a random feed, restarts a fresh parser from
/// `safe_offset()` over the rest. Returns (all entries of one parser, entries emitted before
/// the restart, entries of the restarted parser).
fn restart_at_random(
    settings: &Arc<ParserSettings>,
    bytes: &[u8],
    rng: &mut StdRng,
) -> (Vec<Entry>, Vec<Entry>, Vec<Entry>) {
    let mut blocks = Vec::new();
    let mut position = 0;
    while position < bytes.len() {
        let end = (position + rng.random_range(1..64)).min(bytes.len());
        blocks.push(position..end);
        position = end;
    }
    let restart_after = rng.random_range(0..blocks.len());

    let mut whole = LineParser::new(Arc::clone(settings), 0);
    let mut whole_out = ChunkBuilder::default();
    let mut before = Vec::new();
    let mut resume_at = 0;
    for (index, block) in blocks.iter().enumerate() {
        whole.feed(&bytes[block.clone()], READ_TIME, &mut whole_out);
        if index == restart_after {
            before = entries(&whole_out);
            resume_at = whole.safe_offset();
        }
    }
    whole.finish(READ_TIME, &mut whole_out);

    let mut resumed = LineParser::new(Arc::clone(settings), resume_at);
    let mut resumed_out = ChunkBuilder::default();
    let mut position = resume_at as usize;
    while position < bytes.len() {
        let end = (position + rng.random_range(1..64)).min(bytes.len());
        resumed.feed(&bytes[position..end], READ_TIME, &mut resumed_out);
        position = end;
    }
    resumed.finish(READ_TIME, &mut resumed_out);
    (entries(&whole_out), before, entries(&resumed_out))
}

fn single_stream_inputs() -> Vec<(Arc<ParserSettings>, String)> {
    let mut cri = String::new();
    let mut plain = String::new();
    let mut docker = String::new();
    for i in 0..40 {
        let tag = if i % 3 == 0 { "P" } else { "F" };
        cri.push_str(&format!("2024-01-02T15:04:{:02}Z stdout {tag} line {i}\n", i % 60));
        plain.push_str(&format!("{}line {i}\n", if i % 4 == 0 { "START " } else { "  " }));
        let newline = if i % 3 == 0 { "" } else { "\\n" };
        docker.push_str(&format!(
            "{{\"log\":\"line {i}{newline}\",\"stream\":\"stderr\",\"time\":\"2024-01-02T15:04:05Z\"}}\n"
        ));
    }
    vec![
        (settings(LineFormat::Cri, 30), cri.clone()),
        (settings(LineFormat::Plain, 8), plain.clone()),
        (settings(LineFormat::Docker, 1000), docker),
        (multiline_settings(LineFormat::Plain, 40, "^START", 3), plain),
        (multiline_settings(LineFormat::Cri, 1000, "[05] ?$", 4), cri),
    ]
}

#[test]
fn restart_from_safe_offset_loses_and_repeats_nothing_with_one_stream() {
    let mut rng = StdRng::seed_from_u64(3);
    for (settings, input) in single_stream_inputs() {
        for _ in 0..300 {
            let (whole, before, resumed) = restart_at_random(&settings, input.as_bytes(), &mut rng);
            let combined: Vec<Entry> = before.into_iter().chain(resumed).collect();
            assert_eq!(combined, whole, "{:?}", settings.format);
        }
    }
}

/// Checks a restart's output against the uninterrupted parse: nothing of `whole` missing from
/// `before` + `resumed`, and every extra item a repeat (or the tail) of one emitted before
/// the restart. Returns the number of extra items.
fn check_no_loss_bounded_repeats(whole: &[Entry], before: &[Entry], resumed: &[Entry]) -> usize {
    let mut extra: Vec<Entry> = before.iter().chain(resumed).cloned().collect();
    for entry in whole {
        let found = extra.iter().position(|e| e == entry).unwrap_or_else(|| panic!("lost {entry:?}"));
        extra.remove(found);
    }
    for entry in &extra {
        assert!(
            before.iter().any(|b| b.0 == entry.0 && b.2.ends_with(&entry.2)),
            "{entry:?} is not a repeat of an entry emitted before the restart"
        );
    }
    extra.len()
}

/// Multiline entries as their lines (stream and text): around a restart, the other stream's
/// lines may be grouped differently (see the module documentation), but all are there.
fn lines_of(entries: &[Entry]) -> Vec<Entry> {
    entries
        .iter()
        .flat_map(|(stream, _, text)| text.split('\n').map(|line| (*stream, 0, line.to_owned())))
        .collect()
}

#[test]
fn restart_from_safe_offset_with_two_streams_loses_nothing_and_repeats_only_older_entries() {
    let mut input = String::new();
    for i in 0..60 {
        let stream = if i % 5 < 2 { "stderr" } else { "stdout" };
        let tag = if i % 4 == 1 { "P" } else { "F" };
        input.push_str(&format!("2024-01-02T15:04:{:02}Z {stream} {tag} m{i};\n", i % 60));
    }
    let mut rng = StdRng::seed_from_u64(4);
    let mut repeats = 0;
    let plain = settings(LineFormat::Cri, 1000);
    for _ in 0..500 {
        let (whole, before, resumed) = restart_at_random(&plain, input.as_bytes(), &mut rng);
        repeats += check_no_loss_bounded_repeats(&whole, &before, &resumed);
    }
    assert!(repeats > 0, "the interleaved input should produce some bounded repeats");

    let multiline = multiline_settings(LineFormat::Cri, 1000, "^m[0-9]*[05];", 3);
    for _ in 0..500 {
        let (whole, before, resumed) = restart_at_random(&multiline, input.as_bytes(), &mut rng);
        check_no_loss_bounded_repeats(&lines_of(&whole), &lines_of(&before), &lines_of(&resumed));
    }
}

#[test]
fn safe_offset_is_the_oldest_held_start_across_streams() {
    let settings = settings(LineFormat::Cri, 1000);
    let mut parser = LineParser::new(Arc::clone(&settings), 100);
    let mut out = ChunkBuilder::default();
    let line1 = "2024-01-02T15:04:05Z stdout P a\n";
    let line2 = "2024-01-02T15:04:05Z stderr F b\n";
    let line3 = "2024-01-02T15:04:05Z stdout F c\n";
    parser.feed(line1.as_bytes(), READ_TIME, &mut out);
    parser.feed(line2.as_bytes(), READ_TIME, &mut out);
    assert_eq!(out.entries.len(), 1, "stderr's entry is emitted while stdout's run is held");
    assert_eq!(parser.safe_offset(), 100);
    parser.feed(&line3.as_bytes()[..5], READ_TIME, &mut out);
    assert_eq!(parser.safe_offset(), 100);
    parser.feed(&line3.as_bytes()[5..], READ_TIME, &mut out);
    assert_eq!(parser.safe_offset(), 100 + 3 * 32);
    assert_eq!(entries(&out)[1].2, "ac");
}
