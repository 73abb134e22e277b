//! The CRI log line: `<RFC3339Nano time> <stdout|stderr> <tags> <message>`, as containerd and
//! CRI-O write `/var/log/pods/*/*/*.log` (kubelet's "CRI logging" design). `tags` is `F`
//! (the line is complete) or `P` (the runtime split a long line, at 16 KiB by default, and
//! the next `P`/`F` line of the same stream continues it), possibly followed by more tags
//! after a `:` which are ignored. The message runs to the end of the line and may be empty
//! (then the space before it may be missing too).

use crate::logs::StdStream;
use memchr::memchr;

/// A CRI line split into its fields; the time is not parsed yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CriLine<'a> {
    pub time: &'a [u8],
    pub stream: StdStream,
    pub partial: bool,
    pub message: &'a [u8],
}

/// Splits a CRI line (without its `\n`); `None` if its prefix is not a CRI prefix.
pub fn parse_cri(line: &[u8]) -> Option<CriLine<'_>> {
    let time_end = memchr(b' ', line)?;
    let (time, rest) = (&line[..time_end], &line[time_end + 1..]);
    let stream = match rest.get(..7)? {
        b"stdout " => StdStream::Stdout,
        b"stderr " => StdStream::Stderr,
        _ => return None,
    };
    let rest = &rest[7..];
    let (tags, message) = match memchr(b' ', rest) {
        Some(end) => (&rest[..end], &rest[end + 1..]),
        None => (rest, &rest[rest.len()..]),
    };
    let partial = match tags.first()? {
        b'P' => true,
        b'F' => false,
        _ => return None,
    };
    if tags.len() > 1 && tags[1] != b':' {
        return None;
    }
    Some(CriLine { time, stream, partial, message })
}
