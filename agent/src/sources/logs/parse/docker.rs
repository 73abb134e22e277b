//! Docker's json-file lines: `{"log":"hello\n","stream":"stdout","time":"2024-...Z"}`.
//!
//! A small scanner rather than serde_json: every docker line has at least one escape (the
//! `\n` ending `log`), which would make a borrowed serde string allocate per line. This one
//! unescapes `log` into a buffer the parser reuses, reads `stream` and `time` in place and
//! skips any other member (`attrs`, ...). It accepts what docker writes and a little more
//! (it does not validate numbers or reject raw control characters in strings); a lone UTF-16
//! surrogate in a `\u` escape becomes U+FFFD.

use crate::logs::StdStream;
use memchr::memchr2;

/// A docker line's fields; the unescaped `log` is in the buffer given to [`parse_docker`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DockerLine<'a> {
    /// `stdout` when the field is missing or unknown.
    pub stream: StdStream,
    /// The raw `time` value, if there is one.
    pub time: Option<&'a [u8]>,
    /// `log` did not end with `\n`: docker split a long line here (at 16 KiB) and the rest
    /// follows in the next line of the same stream.
    pub partial: bool,
}

/// Parses one docker json-file line; the `log` value (without its trailing `\n`) is written
/// to `log`. `None` if the line is not a JSON object with a string `log`.
pub fn parse_docker<'a>(line: &'a [u8], log: &mut Vec<u8>) -> Option<DockerLine<'a>> {
    log.clear();
    let mut cursor = Cursor { bytes: line, index: 0 };
    let mut have_log = false;
    let mut stream = StdStream::Stdout;
    let mut time = None;

    cursor.skip_whitespace();
    cursor.expect(b'{')?;
    cursor.skip_whitespace();
    if cursor.peek() == Some(b'}') {
        return None;
    }
    loop {
        cursor.skip_whitespace();
        let key = cursor.raw_string()?;
        cursor.skip_whitespace();
        cursor.expect(b':')?;
        cursor.skip_whitespace();
        match key {
            b"log" => {
                cursor.expect(b'"')?;
                cursor.unescape_string_into(log)?;
                have_log = true;
            }
            b"stream" => {
                stream = match cursor.raw_string()? {
                    b"stderr" => StdStream::Stderr,
                    _ => StdStream::Stdout,
                };
            }
            b"time" => time = Some(cursor.raw_string()?),
            _ => cursor.skip_value()?,
        }
        cursor.skip_whitespace();
        match cursor.next()? {
            b',' => continue,
            b'}' => break,
            _ => return None,
        }
    }
    cursor.skip_whitespace();
    if cursor.index != line.len() || !have_log {
        return None;
    }
    let partial = log.last() != Some(&b'\n');
    if !partial {
        log.pop();
    }
    Some(DockerLine { stream, time, partial })
}

struct Cursor<'a> {
    bytes: &'a [u8],
    index: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.index).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.index += 1;
        Some(byte)
    }

    fn expect(&mut self, wanted: u8) -> Option<()> {
        (self.next()? == wanted).then_some(())
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\r' | b'\n') = self.peek() {
            self.index += 1;
        }
    }

    /// A string's raw bytes (escapes left as written), the cursor after its closing quote.
    fn raw_string(&mut self) -> Option<&'a [u8]> {
        self.expect(b'"')?;
        let start = self.index;
        self.skip_string_body()?;
        self.bytes.get(start..self.index - 1)
    }

    /// Moves past the closing quote of a string whose opening quote was read.
    fn skip_string_body(&mut self) -> Option<()> {
        loop {
            let found = memchr2(b'"', b'\\', self.bytes.get(self.index..)?)?;
            self.index += found;
            if self.next()? == b'"' {
                return Some(());
            }
            self.next()?;
        }
    }

    /// Unescapes a string whose opening quote was read into `out`.
    fn unescape_string_into(&mut self, out: &mut Vec<u8>) -> Option<()> {
        loop {
            let rest = self.bytes.get(self.index..)?;
            let found = memchr2(b'"', b'\\', rest)?;
            out.extend_from_slice(&rest[..found]);
            self.index += found;
            if self.next()? == b'"' {
                return Some(());
            }
            let unescaped = match self.next()? {
                b'"' => b'"',
                b'\\' => b'\\',
                b'/' => b'/',
                b'b' => 0x08,
                b'f' => 0x0c,
                b'n' => b'\n',
                b'r' => b'\r',
                b't' => b'\t',
                b'u' => {
                    let character = self.unicode_escape()?;
                    let mut utf8 = [0u8; 4];
                    out.extend_from_slice(character.encode_utf8(&mut utf8).as_bytes());
                    continue;
                }
                _ => return None,
            };
            out.push(unescaped);
        }
    }

    /// The character of a `\uXXXX` escape (after the `u`), joining a surrogate pair.
    fn unicode_escape(&mut self) -> Option<char> {
        let first = self.hex4()?;
        if (0xD800..0xDC00).contains(&first) {
            let rest = self.bytes.get(self.index..).unwrap_or_default();
            if rest.starts_with(b"\\u") {
                let saved = self.index;
                self.index += 2;
                let second = self.hex4()?;
                if (0xDC00..0xE000).contains(&second) {
                    let code = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
                    return Some(char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER));
                }
                // Not a low surrogate: that escape is read on its own next time.
                self.index = saved;
            }
            return Some(char::REPLACEMENT_CHARACTER);
        }
        Some(char::from_u32(first).unwrap_or(char::REPLACEMENT_CHARACTER))
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.bytes.get(self.index..self.index + 4)?;
        let mut value = 0u32;
        for &digit in digits {
            value = value * 16 + char::from(digit).to_digit(16)?;
        }
        self.index += 4;
        Some(value)
    }

    /// Skips one JSON value (string, object, array or scalar) without validating scalars.
    fn skip_value(&mut self) -> Option<()> {
        let mut depth = 0usize;
        loop {
            match self.peek()? {
                b'"' => {
                    self.index += 1;
                    self.skip_string_body()?;
                    if depth == 0 {
                        return Some(());
                    }
                }
                b'{' | b'[' => {
                    depth += 1;
                    self.index += 1;
                }
                b'}' | b']' => {
                    if depth == 0 {
                        return Some(());
                    }
                    depth -= 1;
                    self.index += 1;
                    if depth == 0 {
                        return Some(());
                    }
                }
                b',' if depth == 0 => return Some(()),
                _ => self.index += 1,
            }
        }
    }
}
