//! The executor: Go's `text/template/exec.go` over [`Value`]s. Errors carry Go's context
//! (`template: NAME:LINE:COL: executing "NAME" at <NODE>: MSG`, COL the 0-based byte offset in
//! the line, NODE the node's full text as current Go prints it; older Go versions cut it
//! at 20 characters). `break`/`continue` travel as control values.
//!
//! Limits keep hostile templates bounded: output size, evaluation steps, and nesting depth
//! (template calls, control structures and parenthesized pipelines together; Go allows
//! 100000 template calls on its growable stacks, we allow [`MAX_DEPTH`] on a fixed one).

use std::sync::Arc;

use super::builtins;
use super::gofmt;
use super::parse::{Arg, Command, Node, Pipe, Tree, template_node_string};
use super::value::Value;
use super::{FuncMap, MissingKey, RAW_ERROR_MARK, Template, TemplateError};

/// Most output one execution may produce.
pub const MAX_OUTPUT: usize = 4 << 20;
/// Most nodes one execution may evaluate.
pub const MAX_STEPS: u64 = 10_000_000;
/// Deepest nesting of template calls, control structures and parentheses at run time.
pub const MAX_DEPTH: usize = 100;

enum Ctl {
    Err(String),
    Break,
    Continue,
}

type R<T> = Result<T, Ctl>;

/// Functions looked up before the [`FuncMap`] at execution time, borrowed for one execution
/// (e.g. `query` over a querier that is not `'static`): `None` when the name is not handled.
pub type LocalFuncs<'a> = &'a dyn Fn(&str, &[Value]) -> Option<Result<Value, String>>;

struct State<'a> {
    tmpl: &'a Template,
    funcs: &'a FuncMap,
    local: Option<LocalFuncs<'a>>,
    missing: MissingKey,
    tree: Arc<Tree>,
    out: String,
    vars: Vec<(String, Value)>,
    depth: usize,
    steps: u64,
}

/// Executes template `name` of `tmpl` on `data`.
pub fn execute(
    tmpl: &Template,
    name: &str,
    data: &Value,
    funcs: &FuncMap,
    local: Option<LocalFuncs<'_>>,
    missing: MissingKey,
) -> Result<String, TemplateError> {
    let Some(tree) = tmpl.trees.get(name).cloned() else {
        return Err(TemplateError::Exec(format!(
            "template: no template {} associated with template {}",
            gofmt::quote(name),
            gofmt::quote(&tmpl.name)
        )));
    };
    let mut s = State {
        tmpl,
        funcs,
        local,
        missing,
        tree: tree.clone(),
        out: String::new(),
        vars: vec![("$".to_string(), data.clone())],
        depth: 0,
        steps: 0,
    };
    match s.walk_list(data, &tree.root) {
        Ok(()) => Ok(s.out),
        Err(Ctl::Err(e)) => Err(TemplateError::Exec(e)),
        // The parser rejects break/continue outside range.
        Err(Ctl::Break | Ctl::Continue) => Ok(s.out),
    }
}

/// The node Go's executor last visited when a pipeline has been evaluated (its error context):
/// the last argument of a function call, else the command's first word.
fn last_node(pipe: &Pipe) -> (usize, String) {
    let Some(cmd) = pipe.cmds.last() else { return (pipe.pos, pipe.to_string()) };
    let node = match &cmd.args[..] {
        [Arg::Identifier { .. }, .., last] => last,
        [first, ..] => first,
        [] => return (cmd.pos, cmd.to_string()),
    };
    (node.pos(), node.to_string())
}

impl State<'_> {
    fn errorf(&self, pos: usize, ctx: &str, msg: impl std::fmt::Display) -> Ctl {
        let text = &self.tree.text;
        let pos = pos.min(text.len());
        let before = text.get(..pos).unwrap_or("");
        let (line, col) = match before.rfind('\n') {
            Some(nl) => (1 + before.matches('\n').count(), pos - (nl + 1)),
            None => (1, pos),
        };
        Ctl::Err(format!(
            "template: {}:{}:{}: executing {} at <{}>: {}",
            self.tree.parse_name,
            line,
            col,
            gofmt::quote(&self.tree.name),
            ctx,
            msg
        ))
    }

    fn write(&mut self, s: &str) -> R<()> {
        if self.out.len() + s.len() > MAX_OUTPUT {
            return Err(Ctl::Err(format!(
                "template: {}: output exceeds the limit of {MAX_OUTPUT} bytes",
                self.tree.name
            )));
        }
        self.out.push_str(s);
        Ok(())
    }

    fn step(&mut self) -> R<()> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Err(Ctl::Err(format!(
                "template: {}: execution exceeds the limit of {MAX_STEPS} steps",
                self.tree.name
            )));
        }
        Ok(())
    }

    fn enter(&mut self, pos: usize, ctx: &str) -> R<()> {
        if self.depth >= MAX_DEPTH {
            return Err(self.errorf(pos, ctx, format!("exceeded maximum template depth ({MAX_DEPTH})")));
        }
        self.depth += 1;
        Ok(())
    }

    fn walk_list(&mut self, dot: &Value, list: &[Node]) -> R<()> {
        for n in list {
            self.walk(dot, n)?;
        }
        Ok(())
    }

    fn walk(&mut self, dot: &Value, node: &Node) -> R<()> {
        self.step()?;
        match node {
            Node::Text(t) => self.write(t),
            Node::Action(pipe) => {
                let v = self.eval_pipeline(dot, pipe)?;
                if pipe.decl.is_empty() {
                    let s = match &v {
                        Value::Nil => "<no value>".to_string(),
                        other => gofmt::sprint_value(other),
                    };
                    self.write(&s)?;
                }
                Ok(())
            }
            Node::If(c) | Node::With(c) => {
                let is_with = matches!(node, Node::With(_));
                self.enter(c.pos, &c.pipe.to_string())?;
                let mark = self.vars.len();
                let r = (|| {
                    let v = self.eval_pipeline(dot, &c.pipe)?;
                    if v.truth() {
                        if is_with { self.walk_list(&v, &c.list) } else { self.walk_list(dot, &c.list) }
                    } else if let Some(e) = &c.else_list {
                        self.walk_list(dot, e)
                    } else {
                        Ok(())
                    }
                })();
                self.vars.truncate(mark);
                self.depth -= 1;
                r
            }
            Node::Range(c) => {
                self.enter(c.pos, &c.pipe.to_string())?;
                let mark = self.vars.len();
                let r = self.walk_range(dot, c);
                self.vars.truncate(mark);
                self.depth -= 1;
                r
            }
            Node::Template { pos, name, pipe } => {
                let ctx = template_node_string(name, pipe);
                let Some(tree) = self.tmpl.trees.get(name).cloned() else {
                    return Err(self.errorf(
                        *pos,
                        &ctx,
                        format!("template {} not defined", gofmt::quote(name)),
                    ));
                };
                self.enter(*pos, &ctx)?;
                let new_dot = match pipe {
                    Some(p) => self.eval_pipeline(dot, p)?,
                    None => Value::Nil,
                };
                let saved_vars = std::mem::replace(&mut self.vars, vec![("$".to_string(), new_dot.clone())]);
                let saved_tree = std::mem::replace(&mut self.tree, tree.clone());
                let r = self.walk_list(&new_dot, &tree.root);
                self.vars = saved_vars;
                self.tree = saved_tree;
                self.depth -= 1;
                match r {
                    Err(Ctl::Break | Ctl::Continue) => Ok(()),
                    other => other,
                }
            }
            Node::Break => Err(Ctl::Break),
            Node::Continue => Err(Ctl::Continue),
        }
    }

    fn walk_range(&mut self, dot: &Value, c: &super::parse::Control) -> R<()> {
        let val = self.eval_pipeline(dot, &c.pipe)?;
        let mark = self.vars.len();
        let mut ran = false;
        match &val {
            Value::Map(_) | Value::StringMap(_) | Value::Object(_) if val.map_entries().is_some() => {
                for (k, v) in val.map_entries().unwrap_or_default() {
                    ran = true;
                    if self.range_iteration(c, mark, Value::String(k), v)? {
                        break;
                    }
                }
            }
            Value::Int(n) => {
                if c.pipe.decl.len() > 1 {
                    let (pos, ctx) = last_node(&c.pipe);
                    return Err(self.errorf(
                        pos,
                        &ctx,
                        format!("can't use {n} to iterate over more than one variable"),
                    ));
                }
                for i in 0..(*n).max(0) {
                    ran = true;
                    self.step()?;
                    if self.range_iteration(c, mark, Value::Int(i), Value::Int(i))? {
                        break;
                    }
                }
            }
            Value::Nil => {}
            other => match other.list_elements() {
                Some(l) => {
                    for (i, e) in l.into_iter().enumerate() {
                        ran = true;
                        if self.range_iteration(c, mark, Value::Int(i as i64), e)? {
                            break;
                        }
                    }
                }
                None => {
                    let (pos, ctx) = last_node(&c.pipe);
                    return Err(self.errorf(
                        pos,
                        &ctx,
                        format!("range can't iterate over {}", gofmt::sprint_value(other)),
                    ));
                }
            },
        }
        if !ran && let Some(e) = &c.else_list {
            return self.walk_list(dot, e);
        }
        Ok(())
    }

    /// One pass of a range body; true when the body said `break`.
    fn range_iteration(
        &mut self,
        c: &super::parse::Control,
        mark: usize,
        index: Value,
        elem: Value,
    ) -> R<bool> {
        let decl = &c.pipe.decl;
        if !decl.is_empty() {
            if c.pipe.is_assign {
                if decl.len() > 1 {
                    self.set_var(c.pos, &decl[0], index.clone())?;
                } else {
                    self.set_var(c.pos, &decl[0], elem.clone())?;
                }
            } else if let Some(top) = self.vars.last_mut() {
                top.1 = elem.clone();
            }
        }
        if decl.len() > 1 {
            if c.pipe.is_assign {
                self.set_var(c.pos, &decl[1], elem.clone())?;
            } else {
                let n = self.vars.len();
                if n >= 2 {
                    self.vars[n - 2].1 = index;
                }
            }
        }
        let r = self.walk_list(&elem, &c.list);
        self.vars.truncate(mark);
        match r {
            Ok(()) | Err(Ctl::Continue) => Ok(false),
            Err(Ctl::Break) => Ok(true),
            Err(e) => Err(e),
        }
    }

    fn set_var(&mut self, pos: usize, name: &str, v: Value) -> R<()> {
        for (n, val) in self.vars.iter_mut().rev() {
            if n == name {
                *val = v;
                return Ok(());
            }
        }
        Err(self.errorf(pos, name, format!("undefined variable: {name}")))
    }

    fn var_value(&self, pos: usize, name: &str) -> R<Value> {
        for (n, val) in self.vars.iter().rev() {
            if n == name {
                return Ok(val.clone());
            }
        }
        Err(self.errorf(pos, name, format!("undefined variable: {name}")))
    }

    fn eval_pipeline(&mut self, dot: &Value, pipe: &Pipe) -> R<Value> {
        let mut value: Option<Value> = None;
        for cmd in &pipe.cmds {
            value = Some(self.eval_command(dot, cmd, value)?);
        }
        let value = value.unwrap_or_default();
        for name in &pipe.decl {
            if pipe.is_assign {
                self.set_var(pipe.pos, name, value.clone())?;
            } else {
                self.vars.push((name.clone(), value.clone()));
            }
        }
        Ok(value)
    }

    fn not_a_function(&self, args: &[Arg], final_: &Option<Value>) -> R<()> {
        if args.len() > 1 || final_.is_some() {
            let first = &args[0];
            return Err(self.errorf(
                first.pos(),
                &first.to_string(),
                format!("can't give argument to non-function {first}"),
            ));
        }
        Ok(())
    }

    fn eval_command(&mut self, dot: &Value, cmd: &Command, final_: Option<Value>) -> R<Value> {
        self.step()?;
        let first = &cmd.args[0];
        match first {
            Arg::Field { pos, ident } => {
                let ctx = first.to_string();
                self.eval_field_chain(dot, dot.clone(), *pos, &ctx, ident, &cmd.args, final_)
            }
            Arg::Chain { .. } => self.eval_chain(dot, first, &cmd.args, final_),
            Arg::Identifier { pos, name } => {
                let cmd_ctx = cmd.to_string();
                self.eval_function(dot, name, *pos, cmd.pos, &cmd_ctx, &cmd.args[1..], final_)
            }
            Arg::Pipe(p) => {
                self.not_a_function(&cmd.args, &final_)?;
                self.enter(p.pos, &p.to_string())?;
                let r = self.eval_pipeline(dot, p);
                self.depth -= 1;
                r
            }
            Arg::Variable { .. } => self.eval_variable(dot, first, &cmd.args, final_),
            _ => {
                self.not_a_function(&cmd.args, &final_)?;
                self.eval_literal(dot, first)
            }
        }
    }

    fn eval_literal(&self, dot: &Value, arg: &Arg) -> R<Value> {
        match arg {
            Arg::Bool { val, .. } => Ok(Value::Bool(*val)),
            Arg::Dot { .. } => Ok(dot.clone()),
            Arg::Nil { pos } => Err(self.errorf(*pos, "nil", "nil is not a command")),
            Arg::String { val, .. } => Ok(Value::String(val.clone())),
            Arg::Number { pos, num } => {
                let is_char = num.text.starts_with('\'');
                let lower = num.text.to_ascii_lowercase();
                let is_hex_int =
                    lower.trim_start_matches(['+', '-']).starts_with("0x") && !lower.contains('p');
                if num.float.is_some()
                    && !is_hex_int
                    && !is_char
                    && num.text.contains(['.', 'e', 'E', 'p', 'P'])
                {
                    return Ok(Value::Float(num.float.unwrap_or_default()));
                }
                if let Some(i) = num.int {
                    return Ok(Value::Int(i));
                }
                if num.is_uint {
                    return Err(self.errorf(*pos, &num.text, format!("{} overflows int", num.text)));
                }
                // Go's idealConstant falls through to the invalid value here.
                Ok(Value::Nil)
            }
            other => Err(self.errorf(
                other.pos(),
                &other.to_string(),
                format!("can't evaluate command {}", gofmt::quote(&other.to_string())),
            )),
        }
    }

    fn eval_arg(&mut self, dot: &Value, arg: &Arg) -> R<Value> {
        match arg {
            Arg::Dot { .. } => Ok(dot.clone()),
            Arg::Nil { .. } => Ok(Value::Nil),
            Arg::Field { pos, ident } => {
                let ctx = arg.to_string();
                self.eval_field_chain(dot, dot.clone(), *pos, &ctx, ident, std::slice::from_ref(arg), None)
            }
            Arg::Variable { .. } => self.eval_variable(dot, arg, std::slice::from_ref(arg), None),
            Arg::Pipe(p) => {
                self.enter(p.pos, &p.to_string())?;
                let r = self.eval_pipeline(dot, p);
                self.depth -= 1;
                r
            }
            Arg::Identifier { pos, name } => self.eval_function(dot, name, *pos, *pos, name, &[], None),
            Arg::Chain { .. } => self.eval_chain(dot, arg, std::slice::from_ref(arg), None),
            _ => self.eval_literal(dot, arg),
        }
    }

    fn eval_chain(&mut self, dot: &Value, chain: &Arg, args: &[Arg], final_: Option<Value>) -> R<Value> {
        let Arg::Chain { pos, node, fields } = chain else {
            return Err(self.errorf(chain.pos(), &chain.to_string(), "internal error: not a chain"));
        };
        let ctx = chain.to_string();
        if let Arg::Nil { .. } = **node {
            return Err(self.errorf(*pos, &ctx, format!("indirection through explicit nil in {ctx}")));
        }
        let receiver = self.eval_arg(dot, node)?;
        self.eval_field_chain(dot, receiver, *pos, &ctx, fields, args, final_)
    }

    fn eval_variable(&mut self, dot: &Value, var: &Arg, args: &[Arg], final_: Option<Value>) -> R<Value> {
        let Arg::Variable { pos, ident } = var else {
            return Err(self.errorf(var.pos(), &var.to_string(), "internal error: not a variable"));
        };
        let value = self.var_value(*pos, &ident[0])?;
        if ident.len() == 1 {
            self.not_a_function(args, &final_)?;
            return Ok(value);
        }
        let ctx = var.to_string();
        self.eval_field_chain(dot, value, *pos, &ctx, &ident[1..], args, final_)
    }

    #[allow(clippy::too_many_arguments)]
    fn eval_field_chain(
        &mut self,
        dot: &Value,
        mut receiver: Value,
        pos: usize,
        ctx: &str,
        ident: &[String],
        args: &[Arg],
        final_: Option<Value>,
    ) -> R<Value> {
        let n = ident.len();
        for name in &ident[..n.saturating_sub(1)] {
            receiver = self.eval_field(dot, name, pos, ctx, &[], None, receiver)?;
        }
        match ident.last() {
            Some(last) => self.eval_field(dot, last, pos, ctx, args, final_, receiver),
            None => Ok(receiver),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn eval_field(
        &mut self,
        dot: &Value,
        name: &str,
        pos: usize,
        ctx: &str,
        args: &[Arg],
        final_: Option<Value>,
        receiver: Value,
    ) -> R<Value> {
        let has_args = args.len() > 1 || final_.is_some();
        match &receiver {
            Value::Nil => {
                if self.missing == MissingKey::Error {
                    return Err(self.errorf(
                        pos,
                        ctx,
                        format!("nil data; no entry for key {}", gofmt::quote(name)),
                    ));
                }
                Ok(Value::Nil)
            }
            Value::Map(_) | Value::StringMap(_) => {
                if has_args {
                    return Err(self.errorf(pos, ctx, format!("{name} is not a method but has arguments")));
                }
                match receiver.map_get(name) {
                    Some(Some(v)) => Ok(v),
                    _ => match self.missing {
                        MissingKey::Default => Ok(Value::Nil),
                        MissingKey::Zero => Ok(receiver.map_zero()),
                        MissingKey::Error => Err(self.errorf(
                            pos,
                            ctx,
                            format!("map has no entry for key {}", gofmt::quote(name)),
                        )),
                    },
                }
            }
            Value::Object(o) => {
                if has_args {
                    let mut argv = Vec::with_capacity(args.len());
                    for a in args.iter().skip(1) {
                        argv.push(self.eval_arg(dot, a)?);
                    }
                    if let Some(f) = final_ {
                        argv.push(f);
                    }
                    return match o.method(name, &argv) {
                        Some(Ok(v)) => Ok(v),
                        Some(Err(e)) => Err(self.call_error(pos, ctx, pos, name, name, e)),
                        None if o.field(name).is_some() => Err(self.errorf(
                            pos,
                            ctx,
                            format!("{name} has arguments but cannot be invoked as function"),
                        )),
                        None => Err(self.errorf(
                            pos,
                            ctx,
                            format!("can't evaluate field {name} in type {}", o.type_name()),
                        )),
                    };
                }
                if let Some(v) = o.field(name) {
                    return Ok(v);
                }
                match o.method(name, &[]) {
                    Some(Ok(v)) => Ok(v),
                    Some(Err(e)) => Err(self.call_error(pos, ctx, pos, name, name, e)),
                    None => Err(self.errorf(
                        pos,
                        ctx,
                        format!("can't evaluate field {name} in type {}", o.type_name()),
                    )),
                }
            }
            other => Err(self.errorf(
                pos,
                ctx,
                format!("can't evaluate field {name} in type {}", other.type_name()),
            )),
        }
    }

    /// "error calling NAME: ERR" at the command, or a raw argument error at the function name.
    fn call_error(&self, pos: usize, ctx: &str, ident_pos: usize, ident: &str, name: &str, e: String) -> Ctl {
        match e.strip_prefix(RAW_ERROR_MARK) {
            Some(raw) => self.errorf(ident_pos, ident, raw),
            None => self.errorf(pos, ctx, format!("error calling {name}: {e}")),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn eval_function(
        &mut self,
        dot: &Value,
        name: &str,
        ident_pos: usize,
        cmd_pos: usize,
        cmd_ctx: &str,
        args: &[Arg],
        final_: Option<Value>,
    ) -> R<Value> {
        let user = self.funcs.get(name).cloned();
        let builtin = user.is_none() && builtins::is_builtin(name);
        if user.is_none() && !builtin {
            return Err(self.errorf(
                ident_pos,
                name,
                format!("{} is not a defined function", gofmt::quote(name)),
            ));
        }
        if builtin {
            let (fixed, variadic) = builtins::arity(name).unwrap_or((0, true));
            let num_in = args.len() + usize::from(final_.is_some());
            if variadic && num_in < fixed {
                return Err(self.errorf(
                    ident_pos,
                    name,
                    format!("wrong number of args for {name}: want at least {fixed} got {}", args.len()),
                ));
            }
            if !variadic && num_in != fixed {
                return Err(self.errorf(
                    ident_pos,
                    name,
                    format!("wrong number of args for {name}: want {fixed} got {num_in}"),
                ));
            }
            if name == "and" || name == "or" {
                let want = name == "or";
                let mut v = Value::Nil;
                for a in args {
                    v = self.eval_arg(dot, a)?;
                    if v.truth() == want {
                        return Ok(v);
                    }
                }
                if let Some(f) = final_ {
                    v = f;
                }
                return Ok(v);
            }
        }
        let mut argv = Vec::with_capacity(args.len() + 1);
        for a in args {
            argv.push(self.eval_arg(dot, a)?);
        }
        if let Some(f) = final_ {
            argv.push(f);
        }
        let local = self.local.and_then(|l| l(name, &argv));
        let result = match (local, user) {
            (Some(r), _) => r,
            (None, Some(f)) => f(&argv),
            (None, None) if name == "call" => Err(match argv.first() {
                Some(Value::Nil) | None => "call of nil".to_string(),
                Some(v) => format!(
                    "non-function {} of type {}",
                    args.first().map_or_else(|| gofmt::sprint_value(v), |a| a.to_string()),
                    v.type_name()
                ),
            }),
            (None, None) => {
                builtins::call(name, &argv).unwrap_or_else(|| Err(format!("{name} is not a function")))
            }
        };
        let v = result.map_err(|e| self.call_error(cmd_pos, cmd_ctx, ident_pos, name, name, e))?;
        if let Value::String(s) = &v
            && s.len() > MAX_OUTPUT
        {
            return Err(self.errorf(
                cmd_pos,
                cmd_ctx,
                format!("result of {name} exceeds the limit of {MAX_OUTPUT} bytes"),
            ));
        }
        Ok(v)
    }
}
