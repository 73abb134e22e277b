//! `harrier routes test`: which receivers a label set reaches, printed exactly as
//! `amtool config routes test` (Alertmanager 0.25's `cli/test_routing.go`) prints it, so
//! scripts and CI checks written for amtool keep working.
//!
//! - Label arguments are parsed as amtool parses them: each one is a classic Alertmanager
//!   matcher (`pkg/labels.ParseMatcher`: a `[a-zA-Z_:][a-zA-Z0-9_:]*` name, an operator, a
//!   value that may be double-quoted with `\"`, `\\` and `\n` escapes, whitespace around the
//!   tokens ignored) that must use `=`; a later argument for the same name wins.
//! - The receivers of the matching routes (`Route.Match`: depth first, `continue` honoured)
//!   are printed comma-separated on one line.
//! - `--verify-receivers` compares that line with the expected one; a mismatch prints amtool's
//!   `WARNING: Expected receivers did not match resolved receivers.` and fails.
//! - `--tree` first prints the matched branches in amtool's tree drawing (`Matching routes:`,
//!   `default-route` for a route without matchers, the receiver on the final routes), with
//!   matchers written as Alertmanager writes them: sorted by name, value and type, and
//!   `match_re` values shown anchored (`^(?:...)$`), as Alertmanager's config stores them.
//! - Errors go to stderr as kingpin prints them (`harrier: error: Failed to parse labels: ...`
//!   followed by an empty line) and fail the command.

use super::config::{AlertmanagerConfig, Route};
use super::matchers::{MatchType, Matcher};
use super::tree::{RouteId, RouteTree};
use std::collections::BTreeMap;

/// Options of `routes test`.
#[derive(Debug, Clone, Default)]
pub struct RoutesTestOptions {
    /// The expected receivers line (`a,b`); empty or `None` checks nothing.
    pub verify_receivers: Option<String>,
    /// Print the matching routes tree before the receivers.
    pub tree: bool,
}

/// What `routes test` prints and whether it succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutesTestOutcome {
    pub stdout: String,
    pub stderr: String,
    pub success: bool,
}

/// Why a label argument is rejected (amtool's messages).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelArgError {
    #[error("bad matcher format: {0}")]
    BadFormat(String),
    #[error("matcher value contains unescaped double quote: {0}")]
    UnescapedQuote(String),
    #[error("error parsing regexp: {0}")]
    BadRegex(String),
    #[error("labels must be specified as key=value pairs")]
    NotEquality,
}

/// Go's `\s` in regular expressions: ASCII space, tab, newline, form feed, carriage return.
fn is_go_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0c' | '\r')
}

/// Parses one matcher the way Alertmanager 0.25's `labels.ParseMatcher` does.
pub fn parse_classic_matcher(input: &str) -> Result<Matcher, LabelArgError> {
    let bad = || LabelArgError::BadFormat(input.to_string());
    let rest = input.trim_start_matches(is_go_space);
    let name_len = rest
        .char_indices()
        .take_while(|&(i, c)| {
            c == '_' || c == ':' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())
        })
        .count();
    if name_len == 0 {
        return Err(bad());
    }
    let (name, rest) = rest.split_at(name_len);
    let rest = rest.trim_start_matches(is_go_space);
    let (op, rest) = [
        ("=~", MatchType::Regexp),
        ("=", MatchType::Equal),
        ("!=", MatchType::NotEqual),
        ("!~", MatchType::NotRegexp),
    ]
    .into_iter()
    .find_map(|(token, op)| rest.strip_prefix(token).map(|r| (op, r)))
    .ok_or_else(bad)?;
    let raw = rest.trim_matches(is_go_space);
    let value = unescape_value(raw)?;
    Matcher::new(name, op, &value).map_err(|e| LabelArgError::BadRegex(e.to_string()))
}

/// The value part of a classic matcher: an optional surrounding pair of double quotes, and
/// `\"`, `\\`, `\n` escapes (any other backslash is literal).
fn unescape_value(raw: &str) -> Result<String, LabelArgError> {
    let unescaped_quote = || LabelArgError::UnescapedQuote(raw.to_string());
    let (body, mut expect_trailing_quote) = match raw.strip_prefix('"') {
        Some(body) => (body, true),
        None => (raw, false),
    };
    let mut value = String::with_capacity(body.len());
    let mut escaped = false;
    for (i, c) in body.char_indices() {
        let last = i + c.len_utf8() == body.len();
        if escaped {
            escaped = false;
            match c {
                'n' => value.push('\n'),
                '"' | '\\' => value.push(c),
                other => {
                    value.push('\\');
                    value.push(other);
                }
            }
            continue;
        }
        match c {
            '\\' if !last => escaped = true,
            '\\' => value.push('\\'),
            '"' => {
                if !expect_trailing_quote || !last {
                    return Err(unescaped_quote());
                }
                expect_trailing_quote = false;
            }
            other => value.push(other),
        }
    }
    if expect_trailing_quote {
        return Err(unescaped_quote());
    }
    Ok(value)
}

/// Parses `name=value` arguments into a label set, as amtool does.
pub fn parse_label_args<S: AsRef<str>>(args: &[S]) -> Result<BTreeMap<String, String>, LabelArgError> {
    let mut labels = BTreeMap::new();
    for arg in args {
        let m = parse_classic_matcher(arg.as_ref())?;
        if m.op != MatchType::Equal {
            return Err(LabelArgError::NotEquality);
        }
        labels.insert(m.name, m.value);
    }
    Ok(labels)
}

/// The receivers of the routes a label set matches, in routing order.
pub fn resolve_receivers(tree: &RouteTree, labels: &BTreeMap<String, String>) -> Vec<String> {
    tree.match_labels(|name| labels.get(name).map(String::as_str))
        .into_iter()
        .map(|id| tree.node(id).opts.receiver.clone())
        .collect()
}

/// A route's matchers as Alertmanager shows them (`{a="b",c=~"^(?:d)$"}`), or
/// `default-route` when it has none.
fn route_slug(tree: &RouteTree, id: RouteId) -> String {
    // The node's matchers are sorted, with `match_re` values anchored, as Alertmanager keeps them.
    let node = tree.node(id);
    if node.matchers.is_empty() {
        return "default-route".to_string();
    }
    let parts: Vec<String> = node.matchers.iter().map(ToString::to_string).collect();
    format!("{{{}}}", parts.join(","))
}

/// A tree drawn as the `treeprint` package (as vendored by amtool 0.25) draws it.
struct TreeDrawing {
    out: String,
}

impl TreeDrawing {
    fn line(&mut self, prefix: &str, last: bool, text: &str) {
        self.out.push_str(prefix);
        self.out.push_str(if last { "└── " } else { "├── " });
        self.out.push_str(text);
        self.out.push('\n');
    }
}

/// A matched branch: the route's text and its matched children.
struct Branch {
    text: String,
    children: Vec<Branch>,
}

/// The matched branches below (and including) a route, as amtool's `getMatchingTree` builds
/// them: children that match are followed until one without `continue`, and a route none of
/// whose children matched shows its receiver.
fn matching_branch(
    route: &Route,
    tree: &RouteTree,
    id: RouteId,
    labels: &BTreeMap<String, String>,
) -> Branch {
    let node = tree.node(id);
    let mut children = Vec::new();
    for (child_route, &child) in route.routes.iter().zip(&node.children) {
        if tree.node(child).matches(|name| labels.get(name).map(String::as_str)) {
            children.push(matching_branch(child_route, tree, child, labels));
            if !tree.node(child).continue_ {
                break;
            }
        }
    }
    let mut text = route_slug(tree, id);
    if children.is_empty() {
        text.push_str("  receiver: ");
        text.push_str(&node.opts.receiver);
    }
    Branch { text, children }
}

fn draw(branch: &Branch, prefix: &str, last: bool, drawing: &mut TreeDrawing) {
    drawing.line(prefix, last, &branch.text);
    // treeprint's continuation of an open level is a bar, two no-break spaces and a space.
    let child_prefix = format!("{prefix}{}", if last { "    " } else { "│\u{a0}\u{a0} " });
    for (i, child) in branch.children.iter().enumerate() {
        draw(child, &child_prefix, i + 1 == branch.children.len(), drawing);
    }
}

/// amtool's `--tree` block: `Matching routes:`, the tree, and two empty lines.
pub fn matching_tree(
    config: &AlertmanagerConfig,
    tree: &RouteTree,
    labels: &BTreeMap<String, String>,
) -> String {
    let mut drawing = TreeDrawing { out: String::from("Matching routes:\n.\n") };
    if let Some(root) = &config.route {
        draw(&matching_branch(root, tree, 0, labels), "", true, &mut drawing);
    }
    drawing.out.push_str("\n\n");
    drawing.out
}

/// Runs `routes test` on a loaded config: parses the label arguments, prints the tree when
/// asked, the receivers line, and the verification warning.
pub fn run(
    config: &AlertmanagerConfig,
    label_args: &[String],
    options: &RoutesTestOptions,
) -> RoutesTestOutcome {
    let labels = match parse_label_args(label_args) {
        Ok(labels) => labels,
        Err(e) => {
            return RoutesTestOutcome {
                stdout: String::new(),
                stderr: format!("harrier: error: Failed to parse labels: {e}\n\n"),
                success: false,
            };
        }
    };
    let tree = RouteTree::new(config);
    let mut stdout = String::new();
    if options.tree {
        stdout.push_str(&matching_tree(config, &tree, &labels));
    }
    let receivers = resolve_receivers(&tree, &labels).join(",");
    stdout.push_str(&receivers);
    stdout.push('\n');
    let mut success = true;
    if let Some(expected) = options.verify_receivers.as_deref().filter(|e| !e.is_empty())
        && expected != receivers
    {
        stdout.push_str("WARNING: Expected receivers did not match resolved receivers.\n");
        success = false;
    }
    RoutesTestOutcome { stdout, stderr: String::new(), success }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::load_str;

    const CONFIG: &str = r#"
route:
  receiver: default
  group_by: [alertname]
  routes:
  - matchers: ['severity="page"', 'team=~"db|web"']
    receiver: pager
    continue: true
    routes:
    - receiver: inner
  - match: {team: db}
    match_re: {env: "p.*"}
    receiver: db
    routes:
    - match_re: {env: prod.*}
      receiver: db-prod
  - matchers: ['team!="web"', 'x!~"a.*"']
    receiver: notweb
receivers: [{name: default}, {name: pager}, {name: inner}, {name: db}, {name: db-prod}, {name: notweb}]
"#;

    fn run_args(args: &[&str], options: &RoutesTestOptions) -> RoutesTestOutcome {
        let config = load_str(CONFIG, "am.yml").unwrap();
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        run(&config, &args, options)
    }

    fn receivers(args: &[&str]) -> String {
        run_args(args, &RoutesTestOptions::default()).stdout
    }

    #[test]
    fn receivers_line_follows_routing_order_and_continue() {
        assert_eq!(receivers(&[]), "notweb\n");
        assert_eq!(receivers(&["team=db"]), "notweb\n", "the db route also needs env");
        assert_eq!(receivers(&["team=db", "env=px"]), "db\n");
        assert_eq!(receivers(&["team=db", "env=prod-1"]), "db-prod\n");
        assert_eq!(receivers(&["severity=page", "team=db", "env=px"]), "inner,db\n");
        assert_eq!(receivers(&["team=web"]), "default\n");
        assert_eq!(receivers(&["team=web", "team=ops"]), "notweb\n", "the last value wins");
    }

    #[test]
    fn labels_parse_like_amtool() {
        let parse = |s: &str| parse_classic_matcher(s).map(|m| (m.name, m.op, m.value));
        assert_eq!(parse("a=b"), Ok(("a".into(), MatchType::Equal, "b".into())));
        assert_eq!(parse(" a = b "), Ok(("a".into(), MatchType::Equal, "b".into())));
        assert_eq!(parse("a="), Ok(("a".into(), MatchType::Equal, "".into())));
        assert_eq!(parse("a=b=c"), Ok(("a".into(), MatchType::Equal, "b=c".into())));
        assert_eq!(parse("a=b,c=d"), Ok(("a".into(), MatchType::Equal, "b,c=d".into())));
        assert_eq!(parse("a=b}"), Ok(("a".into(), MatchType::Equal, "b}".into())));
        assert_eq!(parse(r#"a="x\"y\\z\nw\q""#), Ok(("a".into(), MatchType::Equal, "x\"y\\z\nw\\q".into())));
        assert_eq!(parse(r"a=x\"), Ok(("a".into(), MatchType::Equal, "x\\".into())));
        assert_eq!(parse("ns:sub_1=v"), Ok(("ns:sub_1".into(), MatchType::Equal, "v".into())));
        assert_eq!(parse("a= ~b"), Ok(("a".into(), MatchType::Equal, "~b".into())));
        assert_eq!(parse("a=~b").map(|m| m.1), Ok(MatchType::Regexp));
        assert_eq!(parse("a!~b").map(|m| m.1), Ok(MatchType::NotRegexp));
        assert_eq!(parse("a!=b").map(|m| m.1), Ok(MatchType::NotEqual));
        assert_eq!(parse("a"), Err(LabelArgError::BadFormat("a".into())));
        assert_eq!(parse("=b"), Err(LabelArgError::BadFormat("=b".into())));
        assert_eq!(parse("1a=b"), Err(LabelArgError::BadFormat("1a=b".into())));
        assert_eq!(parse("a.b=c"), Err(LabelArgError::BadFormat("a.b=c".into())));
        assert_eq!(parse(r#"{a="b"}"#), Err(LabelArgError::BadFormat(r#"{a="b"}"#.into())));
        assert_eq!(parse(r#"a="b"#), Err(LabelArgError::UnescapedQuote(r#""b"#.into())));
        assert_eq!(parse(r#"a=b"c"#), Err(LabelArgError::UnescapedQuote(r#"b"c"#.into())));
        assert_eq!(parse(r#"a="b"c""#), Err(LabelArgError::UnescapedQuote(r#""b"c""#.into())));
        assert_eq!(parse(r#"a=""#), Err(LabelArgError::UnescapedQuote(r#"""#.into())));
    }

    #[test]
    fn label_errors_are_reported_like_amtool() {
        let out = run_args(&["team=db", "foo"], &RoutesTestOptions::default());
        assert_eq!(out.stdout, "");
        assert_eq!(out.stderr, "harrier: error: Failed to parse labels: bad matcher format: foo\n\n");
        assert!(!out.success);
        let out = run_args(&["a!=b"], &RoutesTestOptions::default());
        assert_eq!(
            out.stderr,
            "harrier: error: Failed to parse labels: labels must be specified as key=value pairs\n\n"
        );
        assert!(!out.success);
    }

    #[test]
    fn verify_receivers_fails_on_mismatch() {
        let verify =
            |expected: &str| RoutesTestOptions { verify_receivers: Some(expected.into()), tree: false };
        let ok = run_args(&["team=db", "env=px"], &verify("db"));
        assert_eq!((ok.stdout.as_str(), ok.success), ("db\n", true));
        let bad = run_args(&["team=db", "env=px"], &verify("pager"));
        assert_eq!(bad.stdout, "db\nWARNING: Expected receivers did not match resolved receivers.\n");
        assert!(!bad.success);
        assert!(run_args(&["team=db"], &verify("")).success, "an empty expectation checks nothing");
    }

    #[test]
    fn tree_is_drawn_like_amtool() {
        let tree = RoutesTestOptions { verify_receivers: None, tree: true };
        let out = run_args(&["severity=page", "team=db", "env=prod-1"], &tree);
        assert_eq!(
            out.stdout,
            "Matching routes:\n.\n└── default-route\n    ├── {severity=\"page\",team=~\"db|web\"}\n    │\u{a0}\u{a0} └── \
             default-route  receiver: inner\n    └── {env=~\"^(?:p.*)$\",team=\"db\"}\n        └── \
             {env=~\"^(?:prod.*)$\"}  receiver: db-prod\n\n\ninner,db-prod\n"
        );
        let out = run_args(&["team=web"], &tree);
        assert_eq!(out.stdout, "Matching routes:\n.\n└── default-route  receiver: default\n\n\ndefault\n");
    }

    #[test]
    fn match_re_anchoring_only_touches_match_re_matchers() {
        let config = load_str(
            "route:\n  receiver: r\n  routes:\n  - match_re: {a: x}\n    matchers: ['a=~\"x\"', 'b=\"y\\\\n\"']\n    receiver: r\nreceivers: [{name: r}]\n",
            "am.yml",
        )
        .unwrap();
        let tree = RouteTree::new(&config);
        assert_eq!(route_slug(&tree, 1), r#"{a=~"^(?:x)$",a=~"x",b="y\\n"}"#);
    }
}
