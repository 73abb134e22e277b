//! The pieces of `bench-logs`: numbered CRI log files and a Loki receiver that counts them.
//!
//! - [`lines`]: the [`LineLayout`](lines::LineLayout) of a generated line (a fixed CRI prefix,
//!   then `file=NNNNN line=NNNNNNNNNN ` and filler, padded to exactly `line_bytes` with the
//!   newline) and a fast writer that fills a file by overwriting the digits of one template.
//! - [`loki_receiver`]: `POST /loki/api/v1/push`, decoded with
//!   [`harrier_telemetry::loki::decode_push`] so a body the receiver cannot decode shows up as
//!   a decode error rather than as delivered lines. The lines are not kept: each entry's
//!   number is marked in a bitset per file, so the benchmark knows when every line arrived
//!   exactly once and can report duplicates and lines that do not look generated.

pub mod lines;
pub mod loki_receiver;
