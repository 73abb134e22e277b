//! `harrier rules test`: promtool's rule unit tests (`promtool test rules`), same test files,
//! same verdicts, same output.
//!
//! - [`file`]: the test file model (promtool's `unitTestFile`), strict like promtool.
//! - [`runner`]: runs the test groups of a file (series loading, rule evaluation steps, alert
//!   and expression checks) as promtool's `ruleUnitTest` does.
//! - [`output`]: Go's text for durations, floats, label sets and promtool's messages, and the
//!   `--diff` rendering.
//!
//! Output, as promtool: `Unit Testing:  FILE` on stdout, then `  SUCCESS` on stdout, or
//! `  FAILED:` and each failure on stderr (each followed by an empty line on stdout), then an
//! empty line. [`Output`] keeps both streams in order so that the command can print them to
//! the right place and tests can read them together. The exit status is 0 when every file
//! passed, 1 otherwise.
//!
//! Rule evaluation itself is the router's ([`super::group`], [`super::alerting`],
//! [`super::recording`]); expressions run on the router's engine over an in-memory store.

pub mod file;
pub mod output;
mod runner;

#[cfg(test)]
mod tests;

use std::path::PathBuf;

/// promtool's `test rules` flags.
#[derive(Debug, Clone, Default)]
pub struct UnitTestOptions {
    /// `--run`: only the test groups whose name matches one of these regular expressions.
    pub run: Vec<String>,
    /// `--ignore-unknown-fields`: drop unknown fields of the rule files instead of failing.
    pub ignore_unknown_fields: bool,
    /// `--diff`: show failed alert tests as a diff of expected and got.
    pub diff: bool,
    /// `--debug`: timings and a dump of all data per test group, on stderr.
    pub debug: bool,
}

/// Which stream a piece of output goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// The output of a run, in order, each piece with its stream.
#[derive(Debug, Clone, Default)]
pub struct Output {
    pub pieces: Vec<(Stream, String)>,
}

impl Output {
    fn out(&mut self, text: impl Into<String>) {
        self.pieces.push((Stream::Stdout, text.into()));
    }
    fn err(&mut self, text: impl Into<String>) {
        self.pieces.push((Stream::Stderr, text.into()));
    }
    /// Both streams interleaved as they were written.
    pub fn combined(&self) -> String {
        self.pieces.iter().map(|(_, t)| t.as_str()).collect()
    }
    /// One stream only.
    pub fn stream(&self, stream: Stream) -> String {
        self.pieces.iter().filter(|(s, _)| *s == stream).map(|(_, t)| t.as_str()).collect()
    }
}

/// Runs the test files; returns the exit status and the output (see the module doc).
pub fn run_files_output(paths: &[PathBuf], options: &UnitTestOptions) -> (i32, Output) {
    let mut out = Output::default();
    let run = if options.run.is_empty() {
        None
    } else {
        match regex::Regex::new(&options.run.join("|")) {
            Ok(re) => Some(re),
            Err(e) => {
                out.err(format!("invalid --run regular expression: {e}\n"));
                return (1, out);
            }
        }
    };
    let mut failed = false;
    for path in paths {
        out.out(format!("Unit Testing:  {}\n", path.display()));
        // Rule failures are reported in the output; the evaluation's own log lines (a warning
        // per failed rule in the router) would only repeat them, and promtool prints none.
        let errors = tracing::subscriber::with_default(tracing::subscriber::NoSubscriber::default(), || {
            runner::run_test_file(path, options, run.as_ref(), &mut out)
        });
        if errors.is_empty() {
            out.out("  SUCCESS\n");
        } else {
            failed = true;
            out.err("  FAILED:\n");
            for e in errors {
                out.err(format!("{e}\n"));
                out.out("\n");
            }
        }
        out.out("\n");
    }
    (i32::from(failed), out)
}

/// Runs the test files; returns the exit status and both output streams interleaved.
pub fn run_files(paths: &[PathBuf], options: &UnitTestOptions) -> (i32, String) {
    let (code, out) = run_files_output(paths, options);
    (code, out.combined())
}
