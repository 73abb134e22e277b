//! Where the nodes of a query sit in its text: the ` (line:col)` Prometheus ends annotations
//! with, and the raw text of string literals.
//!
//! The AST of `promql-parser` records no positions, so a node is located in two steps:
//!
//! 1. Its occurrence: the query's AST is walked in source order (pre-order, children left to
//!    right, an aggregation's parameter before its operand) and the node is the k-th call of its
//!    function (or k-th aggregation of its operator) equal to it. The evaluator's nodes belong to
//!    the AST it was handed, so they are matched by value against a fresh parse of the query;
//!    two identical calls therefore both point at the first.
//! 2. Its text: the query is cut into tokens by the parser's own lexer, and the k-th token
//!    naming that function and followed by `(` (or the k-th token of that aggregation operator
//!    followed by `(`, `by` or `without`) starts the node. Argument `i` starts at the first token
//!    after the opening parenthesis, or after the i-th comma outside any nested bracket.
//!    Prometheus's position of an argument is the start of its first token (a parenthesised
//!    expression at its `(`, a negative number at its `-`), so this is the same place.
//!
//! Positions are byte offsets; [`QueryPositions::line_column`] formats one as Prometheus's
//! `PositionRange.StartPosInput` does: 1-based line, and a column counting bytes (not
//! characters) from the previous newline, 1-based.
//!
//! String literals: Prometheus unquotes them as Go does, where `\xNN` and octal escapes stand
//! for single bytes (`"\xff"` is the one invalid UTF-8 byte 0xFF), while `promql-parser` turns
//! them into the character U+00NN. [`go_unquote`] decodes the raw literal Go's way, so that the
//! engine can reject what Prometheus rejects (a label name that is not valid UTF-8).

use lrpar::{Lexeme, Lexer};
use promql_parser::parser::token::{
    T_AT, T_BY, T_COMMA, T_LEFT_BRACE, T_LEFT_BRACKET, T_LEFT_PAREN, T_RIGHT_BRACE, T_RIGHT_BRACKET,
    T_RIGHT_PAREN, T_STRING, T_WITHOUT, TokenId,
};
use promql_parser::parser::{AggregateExpr, Call, Expr};

/// One token of the query: its kind and byte range.
#[derive(Debug, Clone, Copy)]
struct Token {
    id: TokenId,
    start: usize,
    end: usize,
}

/// The tokens and AST of one query, to locate its nodes.
pub(crate) struct QueryPositions<'q> {
    query: &'q str,
    tokens: Vec<Token>,
    /// The query parsed again; `None` if it does not parse (then nothing is located).
    root: Option<Expr>,
}

impl<'q> QueryPositions<'q> {
    pub fn new(query: &'q str) -> Self {
        let tokens = lex(query);
        QueryPositions { query, tokens, root: super::parse(query).ok() }
    }

    /// Where `call` starts (its function name), as a byte offset.
    pub fn call_start(&self, call: &Call) -> Option<usize> {
        self.call_token(call).and_then(|index| self.tokens.get(index)).map(|t| t.start)
    }

    /// Where each argument of `call` starts, as byte offsets.
    pub fn call_arguments(&self, call: &Call) -> Option<Vec<usize>> {
        let name_index = self.call_token(call)?;
        self.arguments_after(name_index + 1)
    }

    /// Where the parameter of `aggregate` starts (`NaN` in `quantile by (a) (NaN, x)`).
    pub fn aggregate_param(&self, aggregate: &AggregateExpr) -> Option<usize> {
        let root = self.root.as_ref()?;
        let mut occurrence = None;
        let mut seen = 0;
        walk(root, &mut |expr| {
            if let Expr::Aggregate(a) = expr
                && a.op == aggregate.op
                && occurrence.is_none()
            {
                if a == aggregate {
                    occurrence = Some(seen);
                }
                seen += 1;
            }
        });
        let occurrence = occurrence?;
        let op_index = (0..self.tokens.len())
            .filter(|&i| {
                self.tokens[i].id == aggregate.op.id()
                    && self
                        .tokens
                        .get(i + 1)
                        .is_some_and(|next| matches!(next.id, T_LEFT_PAREN | T_BY | T_WITHOUT))
            })
            .nth(occurrence)?;
        let mut open = op_index + 1;
        if matches!(self.tokens.get(open)?.id, T_BY | T_WITHOUT) {
            open = self.matching_close(open + 1)? + 1;
        }
        if self.tokens.get(open)?.id != T_LEFT_PAREN {
            return None;
        }
        self.arguments_after(open)?.first().copied()
    }

    /// The bytes the string literal starting at `offset` stands for, unquoted as Go does;
    /// `None` if no string literal starts there.
    pub fn string_literal_bytes(&self, offset: usize) -> Option<Vec<u8>> {
        let token = self.tokens.iter().find(|t| t.start == offset && t.id == T_STRING)?;
        go_unquote(self.query.get(token.start..token.end)?)
    }

    /// Prometheus's `line:col` of a byte offset: 1-based, the column counting bytes.
    pub fn line_column(&self, offset: usize) -> String {
        line_column(self.query, offset)
    }

    /// The index of the token naming `call`'s function.
    fn call_token(&self, call: &Call) -> Option<usize> {
        let root = self.root.as_ref()?;
        let name = call.func.name;
        let mut occurrence = None;
        let mut seen = 0;
        walk(root, &mut |expr| {
            if let Expr::Call(c) = expr
                && c.func.name == name
                && occurrence.is_none()
            {
                if c == call {
                    occurrence = Some(seen);
                }
                seen += 1;
            }
        });
        let occurrence = occurrence?;
        (0..self.tokens.len())
            .filter(|&i| {
                let token = self.tokens[i];
                self.query.get(token.start..token.end) == Some(name)
                    && self.tokens.get(i + 1).is_some_and(|next| next.id == T_LEFT_PAREN)
                    && (i == 0 || self.tokens[i - 1].id != T_AT)
            })
            .nth(occurrence)
    }

    /// The start of each argument inside the parenthesis opened by token `open`.
    fn arguments_after(&self, open: usize) -> Option<Vec<usize>> {
        if self.tokens.get(open)?.id != T_LEFT_PAREN {
            return None;
        }
        let mut starts = Vec::new();
        let mut depth = 0usize;
        let mut expect_argument = true;
        for token in &self.tokens[open + 1..] {
            match token.id {
                T_RIGHT_PAREN | T_RIGHT_BRACE | T_RIGHT_BRACKET if depth == 0 => return Some(starts),
                T_COMMA if depth == 0 => {
                    expect_argument = true;
                    continue;
                }
                _ => {}
            }
            if expect_argument {
                starts.push(token.start);
                expect_argument = false;
            }
            match token.id {
                T_LEFT_PAREN | T_LEFT_BRACE | T_LEFT_BRACKET => depth += 1,
                T_RIGHT_PAREN | T_RIGHT_BRACE | T_RIGHT_BRACKET => depth -= 1,
                _ => {}
            }
        }
        Some(starts)
    }

    /// The index of the `)` closing the `(` at token `open`.
    fn matching_close(&self, open: usize) -> Option<usize> {
        if self.tokens.get(open)?.id != T_LEFT_PAREN {
            return None;
        }
        let mut depth = 0usize;
        for (index, token) in self.tokens.iter().enumerate().skip(open) {
            match token.id {
                T_LEFT_PAREN => depth += 1,
                T_RIGHT_PAREN => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(index);
                    }
                }
                _ => {}
            }
        }
        None
    }
}

/// The query's tokens, by the parser's own lexer (none if it does not lex).
fn lex(query: &str) -> Vec<Token> {
    let Ok(lexer) = promql_parser::parser::lexer(query) else { return Vec::new() };
    lexer
        .iter()
        .filter_map(Result::ok)
        .map(|lexeme| Token { id: lexeme.tok_id(), start: lexeme.span().start(), end: lexeme.span().end() })
        .collect()
}

/// The byte ranges of the string literals of `query` (quotes included), in order. Label
/// matcher values are string literals too.
pub(crate) fn string_literal_spans(query: &str) -> Vec<std::ops::Range<usize>> {
    lex(query).into_iter().filter(|t| t.id == T_STRING).map(|t| t.start..t.end).collect()
}

/// Prometheus's `line:col` of byte `offset` in `query` (`PositionRange.StartPosInput`).
pub(crate) fn line_column(query: &str, offset: usize) -> String {
    let before = &query.as_bytes()[..offset.min(query.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |newline| newline + 1);
    format!("{line}:{}", before.len() - line_start + 1)
}

/// Calls `visit` on every node of `expr` in source order.
fn walk(expr: &Expr, visit: &mut dyn FnMut(&Expr)) {
    visit(expr);
    match expr {
        Expr::Aggregate(a) => {
            if let Some(param) = &a.param {
                walk(param, visit);
            }
            walk(&a.expr, visit);
        }
        Expr::Unary(u) => walk(&u.expr, visit),
        Expr::Binary(b) => {
            walk(&b.lhs, visit);
            walk(&b.rhs, visit);
        }
        Expr::Paren(p) => walk(&p.expr, visit),
        Expr::Subquery(s) => walk(&s.expr, visit),
        Expr::Call(c) => {
            for arg in &c.args.args {
                walk(arg, visit);
            }
        }
        Expr::Extension(e) => {
            for child in e.expr.children() {
                walk(child, visit);
            }
        }
        Expr::NumberLiteral(_)
        | Expr::StringLiteral(_)
        | Expr::VectorSelector(_)
        | Expr::MatrixSelector(_) => {}
    }
}

/// Unquotes a string literal (with its quotes) as Go's `strconv.Unquote` does (Prometheus's
/// `strutil.Unquote`, which also takes single quotes): `\xNN` and `\NNN` (octal) are single
/// bytes, `\uNNNN` and `\UNNNNNNNN` characters, backquoted strings are raw. `None` if the
/// literal is malformed.
pub(crate) fn go_unquote(literal: &str) -> Option<Vec<u8>> {
    let bytes = literal.as_bytes();
    let quote = *bytes.first()?;
    if bytes.len() < 2 || bytes[bytes.len() - 1] != quote {
        return None;
    }
    let inner = &bytes[1..bytes.len() - 1];
    if quote == b'`' {
        return (!inner.contains(&b'`')).then(|| inner.to_vec());
    }
    if quote != b'"' && quote != b'\'' {
        return None;
    }
    let mut out = Vec::with_capacity(inner.len());
    let mut i = 0;
    while i < inner.len() {
        let b = inner[i];
        if b == quote || b == b'\n' {
            return None;
        }
        if b != b'\\' {
            out.push(b);
            i += 1;
            continue;
        }
        let escape = *inner.get(i + 1)?;
        i += 2;
        match escape {
            b'a' => out.push(0x07),
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(0x0b),
            b'\\' => out.push(b'\\'),
            b'\'' | b'"' if escape == quote => out.push(escape),
            b'x' => {
                out.push(u8::try_from(hex_value(inner.get(i..i + 2)?)?).ok()?);
                i += 2;
            }
            b'u' | b'U' => {
                let digits = if escape == b'u' { 4 } else { 8 };
                let c = char::from_u32(hex_value(inner.get(i..i + digits)?)?)?;
                i += digits;
                let mut buffer = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut buffer).as_bytes());
            }
            b'0'..=b'7' => {
                let digits = inner.get(i - 1..i + 2)?;
                let mut value = 0u32;
                for &d in digits {
                    if !(b'0'..=b'7').contains(&d) {
                        return None;
                    }
                    value = value * 8 + u32::from(d - b'0');
                }
                out.push(u8::try_from(value).ok()?);
                i += 2;
            }
            _ => return None,
        }
    }
    Some(out)
}

/// The value of a run of hex digits.
fn hex_value(digits: &[u8]) -> Option<u32> {
    if !digits.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    std::str::from_utf8(digits).ok().and_then(|s| u32::from_str_radix(s, 16).ok())
}

#[cfg(test)]
mod tests;
