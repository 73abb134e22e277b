//! Alertmanager label matchers: `name="value"`, `name!="value"`, `name=~"regex"`,
//! `name!~"regex"`.
//!
//! Alertmanager 0.27+ parses matchers with its UTF-8 parser (`matcher/parse`) and falls back to
//! the classic one (`pkg/labels`); both are accepted here by one parser that is the union of
//! the two: an optional `{...}` around a comma-separated list, a label name that is either
//! quoted (any UTF-8) or bare (anything but the operator, quote, brace, comma and whitespace
//! characters), the operator, and a value that is either a double-quoted string with Go
//! escapes or bare text up to the next comma (trimmed, as the classic parser does).
//!
//! Regular expressions are anchored as Alertmanager anchors them: `^(?:RE)$`.

use regex::Regex;
use std::fmt;

/// How a matcher compares the label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchType {
    Equal,
    NotEqual,
    Regexp,
    NotRegexp,
}

impl MatchType {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchType::Equal => "=",
            MatchType::NotEqual => "!=",
            MatchType::Regexp => "=~",
            MatchType::NotRegexp => "!~",
        }
    }
}

/// One label matcher; regex matchers carry their anchored, compiled regex.
#[derive(Debug, Clone)]
pub struct Matcher {
    pub name: String,
    pub op: MatchType,
    pub value: String,
    regex: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{}", self.name, self.op.as_str(), crate::template::gofmt::quote(&self.value))
    }
}

/// Why a matcher does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatcherError {
    #[error("{input:?}: missing label name")]
    MissingName { input: String },
    #[error("{input:?}: expected one of '=', '!=', '=~', '!~' after the label name")]
    MissingOperator { input: String },
    #[error("{input:?}: unterminated quoted string")]
    Unterminated { input: String },
    #[error("{input:?}: invalid escape in quoted string")]
    BadEscape { input: String },
    #[error("{input:?}: unexpected {found:?} after the matcher")]
    Trailing { input: String, found: String },
    #[error("{input:?}: missing closing '}}'")]
    MissingBrace { input: String },
    #[error("{input:?}: invalid regular expression {value:?}: {message}")]
    BadRegex { input: String, value: String, message: String },
    #[error("invalid label name {0:?}")]
    BadLabelName(String),
}

impl Matcher {
    /// A matcher from its parts (the regex compiled and anchored for regex operators).
    pub fn new(name: &str, op: MatchType, value: &str) -> Result<Matcher, MatcherError> {
        let regex = match op {
            MatchType::Regexp | MatchType::NotRegexp => Some(anchored(value).map_err(|e| {
                MatcherError::BadRegex { input: name.to_string(), value: value.to_string(), message: e }
            })?),
            MatchType::Equal | MatchType::NotEqual => None,
        };
        Ok(Matcher { name: name.to_string(), op, value: value.to_string(), regex })
    }

    /// Whether `value` (the label's value, "" when absent) satisfies the matcher.
    pub fn matches(&self, value: &str) -> bool {
        match (self.op, &self.regex) {
            (MatchType::Equal, _) => self.value == value,
            (MatchType::NotEqual, _) => self.value != value,
            (MatchType::Regexp, Some(re)) => re.is_match(value),
            (MatchType::NotRegexp, Some(re)) => !re.is_match(value),
            (MatchType::Regexp | MatchType::NotRegexp, None) => false,
        }
    }
}

/// Compiles `re` anchored at both ends, as Alertmanager does.
pub fn anchored(re: &str) -> Result<Regex, String> {
    Regex::new(&format!("^(?:{re})$")).map_err(|e| e.to_string())
}

/// Whether `name` is a valid classic (Prometheus 2) label name; used for `match`/`match_re`
/// keys, `group_by` and `equal`, which Alertmanager checks the same way.
pub fn is_valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Parses one `matchers:` entry: one or more matchers, comma-separated, optionally in braces.
pub fn parse_matchers(input: &str) -> Result<Vec<Matcher>, MatcherError> {
    let mut p = Parser { input, rest: input.trim() };
    let braced = p.rest.starts_with('{');
    if braced {
        p.rest = p.rest[1..].trim_start();
        let Some(stripped) = p.rest.trim_end().strip_suffix('}') else {
            return Err(MatcherError::MissingBrace { input: input.to_string() });
        };
        p.rest = stripped;
    }
    let mut out = Vec::new();
    loop {
        p.skip_ws();
        if p.rest.is_empty() {
            break;
        }
        out.push(p.matcher()?);
        p.skip_ws();
        match p.rest.chars().next() {
            None => break,
            Some(',') => p.rest = &p.rest[1..],
            Some(c) => {
                return Err(MatcherError::Trailing { input: input.to_string(), found: c.to_string() });
            }
        }
    }
    if out.is_empty() && !braced {
        return Err(MatcherError::MissingName { input: input.to_string() });
    }
    Ok(out)
}

/// Parses exactly one matcher (for an entry that must hold one).
pub fn parse_matcher(input: &str) -> Result<Matcher, MatcherError> {
    let mut p = Parser { input, rest: input.trim() };
    let m = p.matcher()?;
    p.skip_ws();
    match p.rest.chars().next() {
        None => Ok(m),
        Some(c) => Err(MatcherError::Trailing { input: input.to_string(), found: c.to_string() }),
    }
}

struct Parser<'a> {
    input: &'a str,
    rest: &'a str,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        self.rest = self.rest.trim_start();
    }

    fn matcher(&mut self) -> Result<Matcher, MatcherError> {
        self.skip_ws();
        let name = if self.rest.starts_with('"') {
            self.quoted()?
        } else {
            let end = self
                .rest
                .find(|c: char| c.is_whitespace() || matches!(c, '=' | '!' | '~' | '"' | '{' | '}' | ','))
                .unwrap_or(self.rest.len());
            let name = &self.rest[..end];
            self.rest = &self.rest[end..];
            name.to_string()
        };
        if name.is_empty() {
            return Err(MatcherError::MissingName { input: self.input.to_string() });
        }
        self.skip_ws();
        let op = if let Some(r) = self.rest.strip_prefix("=~") {
            self.rest = r;
            MatchType::Regexp
        } else if let Some(r) = self.rest.strip_prefix("!~") {
            self.rest = r;
            MatchType::NotRegexp
        } else if let Some(r) = self.rest.strip_prefix("!=") {
            self.rest = r;
            MatchType::NotEqual
        } else if let Some(r) = self.rest.strip_prefix('=') {
            self.rest = r;
            MatchType::Equal
        } else {
            return Err(MatcherError::MissingOperator { input: self.input.to_string() });
        };
        self.skip_ws();
        let value = if self.rest.starts_with('"') {
            self.quoted()?
        } else {
            let end = self.rest.find(',').unwrap_or(self.rest.len());
            let value = self.rest[..end].trim();
            self.rest = &self.rest[end..];
            value.to_string()
        };
        Matcher::new(&name, op, &value).map_err(|e| match e {
            MatcherError::BadRegex { value, message, .. } => {
                MatcherError::BadRegex { input: self.input.to_string(), value, message }
            }
            other => other,
        })
    }

    /// A double-quoted string with Go's escapes (`\"`, `\\`, `\n`, `\t`, ...).
    fn quoted(&mut self) -> Result<String, MatcherError> {
        let mut out = String::new();
        let mut chars = self.rest.char_indices().skip(1);
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.rest = &self.rest[i + 1..];
                    return Ok(out);
                }
                '\\' => {
                    let Some((_, e)) = chars.next() else { break };
                    let unescaped = match e {
                        'n' => '\n',
                        't' => '\t',
                        'r' => '\r',
                        '\\' => '\\',
                        '"' => '"',
                        '\'' => '\'',
                        // Other escapes (`\.`, `\d` in regexes) are kept verbatim.
                        other if other.is_alphanumeric() || other.is_ascii_punctuation() => {
                            out.push('\\');
                            other
                        }
                        _ => return Err(MatcherError::BadEscape { input: self.input.to_string() }),
                    };
                    out.push(unescaped);
                }
                c => out.push(c),
            }
        }
        Err(MatcherError::Unterminated { input: self.input.to_string() })
    }
}
