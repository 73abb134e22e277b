//! The parser: Go's `text/template/parse` (`parse.go`, `node.go`) over the token list, with
//! its error texts (`template: NAME:LINE: MSG`) and its tree set semantics for `define` and
//! `block`.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::gofmt::quote;
use super::lex::{Item, Kind, lex};

/// Deepest nesting of control structures and parentheses the parser accepts; deeper input is
/// refused instead of exhausting the stack.
const MAX_DEPTH: usize = 100;

/// A parsed template: its name, the name of the top-level parse it came from (used in error
/// locations), the full text of that parse, and its body.
#[derive(Debug)]
pub struct Tree {
    pub name: String,
    pub parse_name: String,
    pub text: Arc<str>,
    pub root: Vec<Node>,
}

impl Tree {
    /// Go's `parse.IsEmptyTree`: only whitespace text (and nothing else).
    pub fn is_empty(&self) -> bool {
        self.root.iter().all(|n| matches!(n, Node::Text(t) if t.trim().is_empty()))
    }
}

#[derive(Debug)]
pub enum Node {
    Text(String),
    Action(Pipe),
    If(Control),
    Range(Control),
    With(Control),
    Template { pos: usize, name: String, pipe: Option<Pipe> },
    Break,
    Continue,
}

/// `if`, `range` and `with`.
#[derive(Debug)]
pub struct Control {
    pub pos: usize,
    pub pipe: Pipe,
    pub list: Vec<Node>,
    pub else_list: Option<Vec<Node>>,
}

#[derive(Debug)]
pub struct Pipe {
    pub pos: usize,
    pub is_assign: bool,
    pub decl: Vec<String>,
    pub cmds: Vec<Command>,
}

#[derive(Debug)]
pub struct Command {
    pub pos: usize,
    pub args: Vec<Arg>,
}

/// A number literal as Go's `parse.NumberNode` classifies it.
#[derive(Debug, Clone)]
pub struct Number {
    pub text: String,
    pub int: Option<i64>,
    pub is_uint: bool,
    pub float: Option<f64>,
}

#[derive(Debug)]
pub enum Arg {
    Identifier {
        pos: usize,
        name: String,
    },
    Dot {
        pos: usize,
    },
    Nil {
        pos: usize,
    },
    Bool {
        pos: usize,
        val: bool,
    },
    Number {
        pos: usize,
        num: Number,
    },
    String {
        pos: usize,
        quoted: String,
        val: String,
    },
    /// `.a.b`
    Field {
        pos: usize,
        ident: Vec<String>,
    },
    /// `$x.a.b` (ident[0] is `$x`)
    Variable {
        pos: usize,
        ident: Vec<String>,
    },
    /// `(pipe).a.b` and other terms followed by fields.
    Chain {
        pos: usize,
        node: Box<Arg>,
        fields: Vec<String>,
    },
    Pipe(Box<Pipe>),
}

impl Arg {
    pub fn pos(&self) -> usize {
        match self {
            Arg::Identifier { pos, .. }
            | Arg::Dot { pos }
            | Arg::Nil { pos }
            | Arg::Bool { pos, .. }
            | Arg::Number { pos, .. }
            | Arg::String { pos, .. }
            | Arg::Field { pos, .. }
            | Arg::Variable { pos, .. }
            | Arg::Chain { pos, .. } => *pos,
            Arg::Pipe(p) => p.pos,
        }
    }
}

// Go's `Node.String()` forms, used as error context.

impl std::fmt::Display for Arg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Arg::Identifier { name, .. } => write!(f, "{name}"),
            Arg::Dot { .. } => write!(f, "."),
            Arg::Nil { .. } => write!(f, "nil"),
            Arg::Bool { val, .. } => write!(f, "{val}"),
            Arg::Number { num, .. } => write!(f, "{}", num.text),
            Arg::String { quoted, .. } => write!(f, "{quoted}"),
            Arg::Field { ident, .. } => {
                for i in ident {
                    write!(f, ".{i}")?;
                }
                Ok(())
            }
            Arg::Variable { ident, .. } => write!(f, "{}", ident.join(".")),
            Arg::Chain { node, fields, .. } => {
                if matches!(**node, Arg::Pipe(_)) {
                    write!(f, "({node})")?;
                } else {
                    write!(f, "{node}")?;
                }
                for field in fields {
                    write!(f, ".{field}")?;
                }
                Ok(())
            }
            Arg::Pipe(p) => write!(f, "{p}"),
        }
    }
}

impl std::fmt::Display for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                write!(f, " ")?;
            }
            if let Arg::Pipe(p) = a {
                write!(f, "({p})")?;
            } else {
                write!(f, "{a}")?;
            }
        }
        Ok(())
    }
}

impl std::fmt::Display for Pipe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.decl.is_empty() {
            write!(f, "{}", self.decl.join(", "))?;
            write!(f, "{}", if self.is_assign { " = " } else { " := " })?;
        }
        for (i, c) in self.cmds.iter().enumerate() {
            if i > 0 {
                write!(f, " | ")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

/// `{{template "name" pipe}}` as Go prints it.
pub fn template_node_string(name: &str, pipe: &Option<Pipe>) -> String {
    match pipe {
        Some(p) => format!("{{{{template {} {}}}}}", quote(name), p),
        None => format!("{{{{template {}}}}}", quote(name)),
    }
}

/// What `itemList` stopped at.
enum End {
    End,
    Else,
}

struct Parser<'a> {
    items: Vec<Item>,
    idx: usize,
    parse_name: String,
    text: Arc<str>,
    has_func: &'a dyn Fn(&str) -> bool,
    vars: Vec<String>,
    range_depth: usize,
    action_line: usize,
    depth: usize,
    trees: BTreeMap<String, Tree>,
}

type PResult<T> = Result<T, String>;

/// Parses `text` as template `name`: the main tree plus every `define`/`block`, keyed by name.
pub fn parse(
    name: &str,
    text: &str,
    has_func: &dyn Fn(&str) -> bool,
) -> Result<BTreeMap<String, Tree>, String> {
    let items = lex(text, !has_func("break"), !has_func("continue"));
    let mut p = Parser {
        items,
        idx: 0,
        parse_name: name.to_string(),
        text: Arc::from(text),
        has_func,
        vars: vec!["$".to_string()],
        range_depth: 0,
        action_line: 0,
        depth: 0,
        trees: BTreeMap::new(),
    };
    let root = p.parse_top()?;
    let tree = Tree { name: name.to_string(), parse_name: name.to_string(), text: p.text.clone(), root };
    p.add_tree(tree)?;
    Ok(p.trees)
}

impl Parser<'_> {
    fn eof_item(&self) -> Item {
        let pos = self.text.len();
        Item { kind: Kind::Eof, pos, val: String::new(), line: 1 + self.text.matches('\n').count() }
    }

    fn peek(&self) -> Item {
        self.items.get(self.idx).cloned().unwrap_or_else(|| self.eof_item())
    }

    fn next(&mut self) -> Item {
        let it = self.peek();
        if self.idx < self.items.len() {
            self.idx += 1;
        }
        it
    }

    fn backup(&mut self) {
        self.idx = self.idx.saturating_sub(1);
    }

    fn next_non_space(&mut self) -> Item {
        loop {
            let it = self.next();
            if it.kind != Kind::Space {
                return it;
            }
        }
    }

    fn peek_non_space(&mut self) -> Item {
        let it = self.next_non_space();
        self.backup();
        it
    }

    /// The line of the token just read (Go's `t.token[0].line`).
    fn cur_line(&self) -> usize {
        let i = self.idx.saturating_sub(1);
        self.items.get(i).map_or_else(|| self.eof_item().line, |it| it.line)
    }

    fn errorf(&self, msg: impl std::fmt::Display) -> String {
        format!("template: {}:{}: {}", self.parse_name, self.cur_line(), msg)
    }

    fn unexpected(&self, item: &Item, context: &str) -> String {
        if item.kind == Kind::Error {
            let mut extra = String::new();
            if self.action_line != 0 && self.action_line != item.line {
                extra = format!(" in action started at {}:{}", self.parse_name, self.action_line);
                if item.val.ends_with(" action") {
                    extra = extra[" in action".len()..].to_string();
                }
            }
            return self.errorf(format!("{item}{extra}"));
        }
        self.errorf(format!("unexpected {item} in {context}"))
    }

    fn expect(&mut self, kind: Kind, context: &str) -> PResult<Item> {
        let it = self.next_non_space();
        if it.kind != kind {
            return Err(self.unexpected(&it, context));
        }
        Ok(it)
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.errorf("max expression depth exceeded"));
        }
        Ok(())
    }

    fn add_tree(&mut self, tree: Tree) -> PResult<()> {
        match self.trees.get(&tree.name) {
            Some(existing) if !existing.is_empty() => {
                if !tree.is_empty() {
                    return Err(self
                        .errorf(format!("template: multiple definition of template {}", quote(&tree.name))));
                }
                Ok(())
            }
            _ => {
                self.trees.insert(tree.name.clone(), tree);
                Ok(())
            }
        }
    }

    fn parse_top(&mut self) -> PResult<Vec<Node>> {
        let mut root = Vec::new();
        while self.peek().kind != Kind::Eof {
            if self.peek().kind == Kind::LeftDelim {
                let save = self.idx;
                self.next();
                if self.next_non_space().kind == Kind::Define {
                    self.parse_definition()?;
                    continue;
                }
                self.idx = save;
            }
            match self.text_or_action()? {
                Item2::Node(n) => root.push(n),
                Item2::End => return Err(self.errorf("unexpected {{end}}")),
                Item2::Else => return Err(self.errorf("unexpected {{else}}")),
            }
        }
        Ok(root)
    }

    fn parse_template_name(&mut self, it: &Item, context: &str) -> PResult<String> {
        match it.kind {
            Kind::String | Kind::RawString => unquote(&it.val).map_err(|e| self.errorf(e)),
            _ => Err(self.unexpected(it, context)),
        }
    }

    fn parse_definition(&mut self) -> PResult<()> {
        let context = "define clause";
        let it = self.next_non_space();
        let name = match it.kind {
            Kind::String | Kind::RawString => unquote(&it.val).map_err(|e| self.errorf(e))?,
            _ => return Err(self.unexpected(&it, context)),
        };
        self.expect(Kind::RightDelim, context)?;
        let saved_vars = std::mem::replace(&mut self.vars, vec!["$".to_string()]);
        let (root, end) = self.item_list()?;
        self.vars = saved_vars;
        if let End::Else = end {
            return Err(self.errorf(format!("unexpected {{{{else}}}} in {context}")));
        }
        let tree = Tree { name, parse_name: self.parse_name.clone(), text: self.text.clone(), root };
        self.add_tree(tree)
    }

    fn item_list(&mut self) -> PResult<(Vec<Node>, End)> {
        let mut list = Vec::new();
        while self.peek_non_space().kind != Kind::Eof {
            match self.text_or_action()? {
                Item2::Node(n) => list.push(n),
                Item2::End => return Ok((list, End::End)),
                Item2::Else => return Ok((list, End::Else)),
            }
        }
        Err(self.errorf("unexpected EOF"))
    }

    fn text_or_action(&mut self) -> PResult<Item2> {
        let it = self.next_non_space();
        match it.kind {
            Kind::Text => Ok(Item2::Node(Node::Text(it.val))),
            Kind::LeftDelim => {
                self.action_line = it.line;
                let r = self.action();
                self.action_line = 0;
                r
            }
            _ => Err(self.unexpected(&it, "input")),
        }
    }

    fn action(&mut self) -> PResult<Item2> {
        let it = self.next_non_space();
        match it.kind {
            Kind::Block => return self.block_control().map(Item2::Node),
            Kind::Break => return self.break_control("break").map(Item2::Node),
            Kind::Continue => return self.break_control("continue").map(Item2::Node),
            Kind::Else => return self.else_control(),
            Kind::End => {
                self.expect(Kind::RightDelim, "end")?;
                return Ok(Item2::End);
            }
            Kind::If => return self.control("if").map(|c| Item2::Node(Node::If(c))),
            Kind::Range => return self.control("range").map(|c| Item2::Node(Node::Range(c))),
            Kind::Template => return self.template_control().map(Item2::Node),
            Kind::With => return self.control("with").map(|c| Item2::Node(Node::With(c))),
            _ => {}
        }
        self.backup();
        let pipe = self.pipeline("command", Kind::RightDelim)?;
        Ok(Item2::Node(Node::Action(pipe)))
    }

    fn break_control(&mut self, word: &str) -> PResult<Node> {
        let it = self.next_non_space();
        if it.kind != Kind::RightDelim {
            return Err(self.unexpected(&it, &format!("{{{{{word}}}}}")));
        }
        if self.range_depth == 0 {
            return Err(self.errorf(format!("{{{{{word}}}}} outside {{{{range}}}}")));
        }
        Ok(if word == "break" { Node::Break } else { Node::Continue })
    }

    fn else_control(&mut self) -> PResult<Item2> {
        let peek = self.peek_non_space();
        if peek.kind == Kind::If || peek.kind == Kind::With {
            // "{{else if" / "{{else with": the if/with is parsed by the enclosing control.
            return Ok(Item2::Else);
        }
        self.expect(Kind::RightDelim, "else")?;
        Ok(Item2::Else)
    }

    fn control(&mut self, context: &str) -> PResult<Control> {
        self.enter()?;
        let nvars = self.vars.len();
        let r = self.control_inner(context);
        self.vars.truncate(nvars);
        self.depth -= 1;
        r
    }

    fn control_inner(&mut self, context: &str) -> PResult<Control> {
        let pipe = self.pipeline(context, Kind::RightDelim)?;
        if context == "range" {
            self.range_depth += 1;
        }
        let r = self.item_list();
        if context == "range" {
            self.range_depth -= 1;
        }
        let (list, end) = r?;
        let mut else_list = None;
        if let End::Else = end {
            let p = self.peek_non_space().kind;
            if (context == "if" && p == Kind::If) || (context == "with" && p == Kind::With) {
                self.next_non_space();
                let inner = self.control(context)?;
                let node = if context == "if" { Node::If(inner) } else { Node::With(inner) };
                else_list = Some(vec![node]);
            } else {
                if context == "range" {
                    // Go parses the else branch of a range outside the loop.
                }
                let (list, end) = self.item_list()?;
                if let End::Else = end {
                    return Err(self.errorf("expected end; found {{else}}"));
                }
                else_list = Some(list);
            }
        }
        Ok(Control { pos: pipe.pos, pipe, list, else_list })
    }

    fn template_control(&mut self) -> PResult<Node> {
        let context = "template clause";
        let it = self.next_non_space();
        let name = self.parse_template_name(&it, context)?;
        let mut pipe = None;
        if self.next_non_space().kind != Kind::RightDelim {
            self.backup();
            pipe = Some(self.pipeline(context, Kind::RightDelim)?);
        }
        Ok(Node::Template { pos: it.pos, name, pipe })
    }

    fn block_control(&mut self) -> PResult<Node> {
        let context = "block clause";
        self.enter()?;
        let it = self.next_non_space();
        let name = self.parse_template_name(&it, context)?;
        let pipe = self.pipeline(context, Kind::RightDelim)?;
        let saved_vars = std::mem::replace(&mut self.vars, vec!["$".to_string()]);
        let saved_range = std::mem::replace(&mut self.range_depth, 0);
        let r = self.item_list();
        self.vars = saved_vars;
        self.range_depth = saved_range;
        let (root, end) = r?;
        if let End::Else = end {
            return Err(self.errorf(format!("unexpected {{{{else}}}} in {context}")));
        }
        let tree =
            Tree { name: name.clone(), parse_name: self.parse_name.clone(), text: self.text.clone(), root };
        self.add_tree(tree)?;
        self.depth -= 1;
        Ok(Node::Template { pos: it.pos, name, pipe: Some(pipe) })
    }

    fn pipeline(&mut self, context: &str, end: Kind) -> PResult<Pipe> {
        let start = self.peek_non_space();
        let mut pipe = Pipe { pos: start.pos, is_assign: false, decl: Vec::new(), cmds: Vec::new() };
        // Declarations or assignments.
        loop {
            let v = self.peek_non_space();
            if v.kind != Kind::Variable {
                break;
            }
            let save = self.idx;
            self.next_non_space();
            let after_var = self.peek();
            let next = self.peek_non_space();
            match next.kind {
                Kind::Assign | Kind::Declare => {
                    pipe.is_assign = next.kind == Kind::Assign;
                    self.next_non_space();
                    pipe.decl.push(v.val.clone());
                    self.vars.push(v.val);
                }
                Kind::Char if next.val == "," => {
                    self.next_non_space();
                    pipe.decl.push(v.val.clone());
                    self.vars.push(v.val);
                    if context == "range" && pipe.decl.len() < 2 {
                        match self.peek_non_space().kind {
                            Kind::Variable | Kind::RightDelim | Kind::RightParen => continue,
                            _ => return Err(self.errorf("range can only initialize variables")),
                        }
                    }
                    return Err(self.errorf(format!("too many declarations in {context}")));
                }
                _ => {
                    let _ = after_var;
                    self.idx = save;
                }
            }
            break;
        }
        loop {
            let it = self.next_non_space();
            if it.kind == end {
                self.check_pipeline(&pipe, context)?;
                return Ok(pipe);
            }
            match it.kind {
                Kind::Bool
                | Kind::CharConstant
                | Kind::Complex
                | Kind::Dot
                | Kind::Field
                | Kind::Identifier
                | Kind::Number
                | Kind::Nil
                | Kind::RawString
                | Kind::String
                | Kind::Variable
                | Kind::LeftParen => {
                    self.backup();
                    let cmd = self.command()?;
                    pipe.cmds.push(cmd);
                }
                _ => return Err(self.unexpected(&it, context)),
            }
        }
    }

    fn check_pipeline(&self, pipe: &Pipe, context: &str) -> PResult<()> {
        if pipe.cmds.is_empty() {
            return Err(self.errorf(format!("missing value for {context}")));
        }
        for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
            if matches!(
                c.args.first(),
                Some(
                    Arg::Bool { .. }
                        | Arg::Dot { .. }
                        | Arg::Nil { .. }
                        | Arg::Number { .. }
                        | Arg::String { .. }
                )
            ) {
                return Err(self.errorf(format!("non executable command in pipeline stage {}", i + 1)));
            }
        }
        Ok(())
    }

    fn command(&mut self) -> PResult<Command> {
        let pos = self.peek_non_space().pos;
        let mut cmd = Command { pos, args: Vec::new() };
        loop {
            self.peek_non_space();
            if let Some(op) = self.operand()? {
                cmd.args.push(op);
            }
            let it = self.next();
            match it.kind {
                Kind::Space => continue,
                Kind::RightDelim | Kind::RightParen => self.backup(),
                Kind::Pipe => {}
                _ => return Err(self.unexpected(&it, "operand")),
            }
            break;
        }
        if cmd.args.is_empty() {
            return Err(self.errorf("empty command"));
        }
        Ok(cmd)
    }

    fn operand(&mut self) -> PResult<Option<Arg>> {
        let Some(node) = self.term()? else { return Ok(None) };
        if self.peek().kind != Kind::Field {
            return Ok(Some(node));
        }
        let chain_pos = self.peek().pos;
        let mut fields = Vec::new();
        while self.peek().kind == Kind::Field {
            let f = self.next();
            fields.push(f.val[1..].to_string());
        }
        Ok(Some(match node {
            Arg::Field { pos: _, mut ident } => {
                ident.extend(fields);
                Arg::Field { pos: chain_pos, ident }
            }
            Arg::Variable { pos: _, mut ident } => {
                ident.extend(fields);
                Arg::Variable { pos: chain_pos, ident }
            }
            Arg::Bool { .. }
            | Arg::String { .. }
            | Arg::Number { .. }
            | Arg::Nil { .. }
            | Arg::Dot { .. } => {
                return Err(self.errorf(format!("unexpected . after term {}", quote(&node.to_string()))));
            }
            other => Arg::Chain { pos: chain_pos, node: Box::new(other), fields },
        }))
    }

    fn term(&mut self) -> PResult<Option<Arg>> {
        let it = self.next_non_space();
        let pos = it.pos;
        Ok(Some(match it.kind {
            Kind::Identifier => {
                if !(self.has_func)(&it.val) {
                    return Err(self.errorf(format!("function {} not defined", quote(&it.val))));
                }
                Arg::Identifier { pos, name: it.val }
            }
            Kind::Dot => Arg::Dot { pos },
            Kind::Nil => Arg::Nil { pos },
            Kind::Variable => {
                if !self.vars.contains(&it.val) {
                    return Err(self.errorf(format!("undefined variable {}", quote(&it.val))));
                }
                Arg::Variable { pos, ident: vec![it.val] }
            }
            Kind::Field => Arg::Field { pos, ident: vec![it.val[1..].to_string()] },
            Kind::Bool => Arg::Bool { pos, val: it.val == "true" },
            Kind::CharConstant | Kind::Number | Kind::Complex => {
                let num = new_number(&it.val, it.kind).map_err(|e| self.errorf(e))?;
                Arg::Number { pos, num }
            }
            Kind::LeftParen => {
                self.enter()?;
                let p = self.pipeline("parenthesized pipeline", Kind::RightParen)?;
                self.depth -= 1;
                Arg::Pipe(Box::new(p))
            }
            Kind::String | Kind::RawString => {
                let val = unquote(&it.val).map_err(|e| self.errorf(e))?;
                Arg::String { pos, quoted: it.val, val }
            }
            _ => {
                self.backup();
                return Ok(None);
            }
        }))
    }
}

enum Item2 {
    Node(Node),
    End,
    Else,
}

/// Go's `parse.NewNumber`, without complex numbers.
fn new_number(text: &str, kind: Kind) -> Result<Number, String> {
    let mut num = Number { text: text.to_string(), int: None, is_uint: false, float: None };
    if kind == Kind::CharConstant {
        let inner = &text[1..];
        let (c, tail) = unquote_char(inner, '\'').map_err(|_| "invalid syntax".to_string())?;
        if tail != "'" {
            return Err(format!("malformed character constant: {text}"));
        }
        num.int = Some(c as i64);
        num.float = Some(f64::from(c as u32));
        return Ok(num);
    }
    if kind == Kind::Complex {
        return Err(format!("illegal number syntax: {}", quote(text)));
    }
    let clean: String = text.chars().filter(|&c| c != '_').collect();
    let (neg, body) = match clean.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, clean.strip_prefix('+').unwrap_or(&clean)),
    };
    let lower = body.to_ascii_lowercase();
    let parsed_int: Option<u64> = if let Some(h) = lower.strip_prefix("0x") {
        u64::from_str_radix(h, 16).ok()
    } else if let Some(o) = lower.strip_prefix("0o") {
        u64::from_str_radix(o, 8).ok()
    } else if let Some(b) = lower.strip_prefix("0b") {
        u64::from_str_radix(b, 2).ok()
    } else if lower.len() > 1 && lower.starts_with('0') && lower.bytes().all(|b| b.is_ascii_digit()) {
        u64::from_str_radix(&lower[1..], 8).ok()
    } else {
        lower.parse::<u64>().ok()
    };
    if let Some(u) = parsed_int {
        if neg {
            if u <= i64::MAX as u64 + 1 {
                num.int = Some((u as i128).wrapping_neg() as i64);
            }
        } else if u <= i64::MAX as u64 {
            num.int = Some(u as i64);
        } else {
            num.is_uint = true;
        }
        num.float = Some(if neg { -(u as f64) } else { u as f64 });
        return Ok(num);
    }
    let is_hex = lower.starts_with("0x");
    if !is_hex && let Ok(f) = clean.parse::<f64>() {
        if f.is_finite() || lower.contains("inf") {
            num.float = Some(f);
            if f.is_finite() && f == f.trunc() && f.abs() < 9.2e18 {
                num.int = Some(f as i64);
            }
            return Ok(num);
        }
        return Err(format!("illegal number syntax: {}", quote(text)));
    }
    Err(format!("illegal number syntax: {}", quote(text)))
}

/// Go's `strconv.UnquoteChar`: one (possibly escaped) character and the rest.
fn unquote_char(s: &str, quote_ch: char) -> Result<(char, &str), ()> {
    let mut it = s.chars();
    let c = it.next().ok_or(())?;
    if c == quote_ch && (quote_ch == '\'' || quote_ch == '"') {
        return Err(());
    }
    if c != '\\' {
        return Ok((c, it.as_str()));
    }
    let e = it.next().ok_or(())?;
    let rest = it.as_str();
    let simple = match e {
        'a' => Some('\u{7}'),
        'b' => Some('\u{8}'),
        'f' => Some('\u{c}'),
        'n' => Some('\n'),
        'r' => Some('\r'),
        't' => Some('\t'),
        'v' => Some('\u{b}'),
        '\\' => Some('\\'),
        '\'' | '"' => {
            if e != quote_ch {
                return Err(());
            }
            Some(e)
        }
        _ => None,
    };
    if let Some(c) = simple {
        return Ok((c, rest));
    }
    let hex = |n: usize| -> Result<(u32, &str), ()> {
        if rest.len() < n || !rest.is_char_boundary(n) {
            return Err(());
        }
        let v = u32::from_str_radix(&rest[..n], 16).map_err(|_| ())?;
        Ok((v, &rest[n..]))
    };
    match e {
        'x' => {
            let (v, r) = hex(2)?;
            Ok((char::from_u32(v).unwrap_or('\u{FFFD}'), r))
        }
        'u' => {
            let (v, r) = hex(4)?;
            Ok((char::from_u32(v).ok_or(())?, r))
        }
        'U' => {
            let (v, r) = hex(8)?;
            Ok((char::from_u32(v).ok_or(())?, r))
        }
        '0'..='7' => {
            if rest.len() < 2 || !rest.is_char_boundary(2) {
                return Err(());
            }
            let digits = format!("{e}{}", &rest[..2]);
            let v = u32::from_str_radix(&digits, 8).map_err(|_| ())?;
            if v > 255 {
                return Err(());
            }
            Ok((char::from_u32(v).unwrap_or('\u{FFFD}'), &rest[2..]))
        }
        _ => Err(()),
    }
}

/// Go's `strconv.Unquote` for "..." and `...` literals (error text `invalid syntax`).
pub fn unquote(s: &str) -> Result<String, String> {
    let bad = || "invalid syntax".to_string();
    if s.len() < 2 {
        return Err(bad());
    }
    if let Some(inner) = s.strip_prefix('`').and_then(|r| r.strip_suffix('`')) {
        if inner.contains('`') {
            return Err(bad());
        }
        return Ok(inner.replace('\r', ""));
    }
    let Some(mut inner) = s.strip_prefix('"').and_then(|r| r.strip_suffix('"')) else {
        return Err(bad());
    };
    let mut out = String::with_capacity(inner.len());
    while !inner.is_empty() {
        let (c, rest) = unquote_char(inner, '"').map_err(|_| bad())?;
        if c == '\n' && !inner.starts_with('\\') {
            return Err(bad());
        }
        out.push(c);
        inner = rest;
    }
    Ok(out)
}
