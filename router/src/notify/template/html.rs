//! HTML escaping for `render_html`, done the way html/template starts: every action that
//! prints a value gets an escaper appended to its pipeline (`{{ .X }}` runs as
//! `{{ .X | _html_template_htmlescaper }}`), in the user's text and in every template of the
//! HTML set, so `{{ template "x" . }}` output is escaped by the called template's own actions.
//!
//! Unlike html/template there is no contextual analysis: every interpolation is escaped as
//! HTML text (which is also safe inside quoted attribute values), URLs in `href`/`src` are not
//! filtered or normalised, `<script>`/`<style>` contents get no JS/CSS escaping, and templates
//! that end inside a tag are not rejected. `safeHtml` output is never escaped.
//!
//! Actions that print nothing are left alone: control words (`if`, `else`, `end`, `range`,
//! `with`, `define`, `template`, `block`, `break`, `continue`), comments, and variable
//! declarations and assignments.

use super::funcs::HTML_ESCAPER;

const CONTROL_WORDS: [&str; 10] =
    ["if", "else", "end", "range", "with", "define", "template", "block", "break", "continue"];

/// The byte index just past the string, raw string or char literal starting at `i`.
fn skip_quoted(b: &[u8], i: usize) -> usize {
    let quote = b[i];
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'\\' if quote != b'`' => j += 2,
            c if c == quote => return j + 1,
            b'\n' if quote != b'`' => return j,
            _ => j += 1,
        }
    }
    b.len()
}

/// Where the action starting at `start` (just past `{{`) closes: the index of its `}}`.
fn action_end(text: &str, start: usize) -> Option<usize> {
    let b = text.as_bytes();
    let body = text[start..].trim_start_matches('-').trim_start();
    if body.starts_with("/*") {
        let comment_at = text.len() - body.len();
        let close = text[comment_at..].find("*/")? + comment_at + 2;
        return text[close..].find("}}").map(|p| p + close);
    }
    let mut i = start;
    while i < b.len() {
        match b[i] {
            b'"' | b'`' | b'\'' => i = skip_quoted(b, i),
            b'}' if b.get(i + 1) == Some(&b'}') => return Some(i),
            _ => i += 1,
        }
    }
    None
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// Whether the action's inner text prints a value.
fn prints(inner: &str) -> bool {
    let core = inner
        .strip_prefix('-')
        .filter(|r| r.starts_with(is_space))
        .unwrap_or(inner)
        .trim_start_matches(is_space);
    let core = match core.trim_end_matches(is_space).strip_suffix('-') {
        Some(head) if head.ends_with(is_space) => head,
        _ => core,
    };
    let core = core.trim_matches(is_space);
    if core.is_empty() || core.starts_with("/*") {
        return false;
    }
    let word_end = core.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(core.len());
    if CONTROL_WORDS.contains(&&core[..word_end]) {
        return false;
    }
    if let Some(rest) = core.strip_prefix('$') {
        let name_end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(rest.len());
        let after = rest[name_end..].trim_start_matches(is_space);
        if after.starts_with(":=") || (after.starts_with('=') && !after.starts_with("==")) {
            return false;
        }
    }
    true
}

/// `text` with the escaper appended to every printing action.
pub(crate) fn escape_actions(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    let mut rest_at = 0;
    while let Some(open) = text[rest_at..].find("{{").map(|p| p + rest_at) {
        let inner_at = open + 2;
        out.push_str(&text[rest_at..inner_at]);
        let Some(close) = action_end(text, inner_at) else {
            // Unterminated: the parser reports it.
            out.push_str(&text[inner_at..]);
            return out;
        };
        let inner = &text[inner_at..close];
        if prints(inner) {
            // Keep a right trim marker (` -`) after the escaper.
            let trimmed = inner.trim_end_matches(is_space);
            let (head, tail) = match trimmed.strip_suffix('-') {
                Some(head) if head.ends_with(is_space) => {
                    let head = head.trim_end_matches(is_space);
                    (head, &inner[head.len()..])
                }
                _ => (trimmed, &inner[trimmed.len()..]),
            };
            out.push_str(head);
            out.push_str(" | ");
            out.push_str(HTML_ESCAPER);
            if tail.is_empty() {
                out.push(' ');
            }
            out.push_str(tail);
        } else {
            out.push_str(inner);
        }
        out.push_str("}}");
        rest_at = close + 2;
    }
    out.push_str(&text[rest_at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaper_goes_on_printing_actions_only() {
        let e = |s: &str| escape_actions(s).replace(HTML_ESCAPER, "ESC");
        assert_eq!(e("<b>{{ .X }}</b>"), "<b>{{ .X | ESC }}</b>");
        assert_eq!(e("{{.X}}"), "{{.X | ESC }}");
        assert_eq!(e("a {{- .X -}} b"), "a {{- .X | ESC -}} b");
        assert_eq!(e("{{ .X | printf \"}}\" }}"), "{{ .X | printf \"}}\" | ESC }}");
        assert_eq!(e("{{ $x := .X }}{{ $x }}{{ $x = 1 }}"), "{{ $x := .X }}{{ $x | ESC }}{{ $x = 1 }}");
        assert_eq!(
            e("{{ if .X }}{{ else }}{{ end }}{{ range $i, $a := .A }}{{ end }}{{ template \"t\" . }}"),
            "{{ if .X }}{{ else }}{{ end }}{{ range $i, $a := .A }}{{ end }}{{ template \"t\" . }}"
        );
        assert_eq!(e("{{/* {{ .X }} */}}{{- /* c */ -}}"), "{{/* {{ .X }} */}}{{- /* c */ -}}");
        assert_eq!(e("{{ `raw }}` }}"), "{{ `raw }}` | ESC }}");
        assert_eq!(e("{{ .X "), "{{ .X ");
        assert_eq!(e("{{ end_time }}"), "{{ end_time | ESC }}");
    }
}
