use super::*;

#[test]
fn lines_have_the_exact_size_and_parse_back() {
    for line_bytes in [MIN_LINE_BYTES, 256, 1000] {
        let layout = LineLayout::new(line_bytes).unwrap();
        for (file, number) in [(0, 0), (7, 123_456), (MAX_FILES - 1, MAX_LINES_PER_FILE - 1)] {
            let line = layout.line(file, number);
            assert_eq!(line.len(), line_bytes);
            assert!(line.starts_with(CRI_PREFIX.as_bytes()));
            assert_eq!(line.last(), Some(&b'\n'));
            assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
            let payload = std::str::from_utf8(&line[CRI_PREFIX.len()..line_bytes - 1]).unwrap();
            assert_eq!(payload.len(), layout.payload_bytes());
            assert_eq!(layout.parse_payload(payload), Some((file, number)));
        }
    }
}

#[test]
fn a_line_of_256_bytes_reads_as_expected() {
    let line = LineLayout::new(256).unwrap().line(3, 42);
    let text = String::from_utf8(line).unwrap();
    assert!(
        text.starts_with("2026-12-06T10:00:00.123456789Z stdout F file=00003 line=0000000042 level=info ")
    );
}

#[test]
fn too_short_layout_is_refused() {
    assert!(matches!(LineLayout::new(MIN_LINE_BYTES - 1), Err(LinesError::LineTooShort(_))));
}

#[test]
fn foreign_payloads_do_not_parse() {
    let layout = LineLayout::new(128).unwrap();
    let line = layout.line(1, 2);
    let payload = std::str::from_utf8(&line[CRI_PREFIX.len()..127]).unwrap();
    // One byte short, one byte long.
    assert_eq!(layout.parse_payload(&payload[1..]), None);
    assert_eq!(layout.parse_payload(&format!("{payload}x")), None);
    // Same length, digits replaced or head renamed.
    assert_eq!(layout.parse_payload(&payload.replacen("00001", "0000a", 1)), None);
    assert_eq!(layout.parse_payload(&payload.replacen("file=", "fILE=", 1)), None);
    assert_eq!(layout.parse_payload(&"x".repeat(layout.payload_bytes())), None);
}

#[test]
fn write_file_writes_numbered_lines_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("0.log");
    let layout = LineLayout::new(100).unwrap();
    layout.write_file(&path, 5, 1000).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.len(), 100 * 1000);
    for (number, line) in text.lines().enumerate() {
        let payload = line.strip_prefix(CRI_PREFIX).unwrap();
        assert_eq!(layout.parse_payload(payload), Some((5, number as u64)));
    }
    assert_eq!(text.lines().count(), 1000);
}

#[test]
fn write_file_refuses_indexes_that_do_not_fit() {
    let dir = tempfile::tempdir().unwrap();
    let layout = LineLayout::new(100).unwrap();
    let path = dir.path().join("x.log");
    assert!(matches!(layout.write_file(&path, MAX_FILES, 1), Err(LinesError::TooManyFiles(_))));
    assert!(matches!(layout.write_file(&path, 0, MAX_LINES_PER_FILE), Err(LinesError::TooManyLines(_))));
}
