//! Go `text/template`, with Prometheus's template functions on top.
//!
//! We wrote our own engine because no maintained Rust crate is faithful to Go's templates
//! (the best known, `gtmpl`, has had no release since 2021, lacks `break`/`continue`, Go's
//! comparison rules and `missingkey`, and does not reproduce Go's error texts, which users see
//! in rule checks and alert annotations).
//!
//! Layout, following Go's package structure:
//!
//! - `lex`: the lexer (`parse/lex.go`): text, actions, trim markers `{{- -}}`, comments,
//!   literals, keywords.
//! - `parse`: the parser (`parse/parse.go`): pipelines, variables, `if`/`range`/`with`
//!   (with `else if`/`else with`), `define`, `template`, `block`, `break`/`continue`; unknown
//!   functions and undefined variables are parse errors, as in Go.
//! - `exec`: the executor (`exec.go`) with Go's error contexts and `missingkey` modes.
//! - [`value`]: the dynamic [`Value`]s a template walks, and [`TemplateObject`] for host data.
//! - [`gofmt`]: Go's `fmt` (`%v` printing, `Sprintf` verbs and flags, float formatting).
//! - [`builtins`]: Go's predefined functions (`eq`, `index`, `printf`, `html`, …).
//! - [`prometheus`]: Prometheus's function map and the alert template expander used by rule
//!   evaluation and `harrier rules check`.
//!
//! The core is generic: a [`Template`] is a set of named trees (the main one plus `define`d
//! ones), functions come from a [`FuncMap`] given at parse time (for the "not defined" check)
//! and at execution. Error texts ([`TemplateError`]'s `Display`) are Go's exactly.
//!
//! Known differences from Go: hostile input is bounded ([`MAX_DEPTH`] nesting of controls,
//! parentheses and template calls at parse and run time, [`MAX_OUTPUT`] bytes of output or of
//! one function result, [`MAX_STEPS`] evaluation steps) where Go allows far more; complex and
//! hexadecimal-float literals are refused; `%x` of floats and `%#v` are not Go's; a nil
//! interface value and a missing map entry are both [`Value::Nil`] (Go tells them apart in a
//! few error texts); `call` has no function values to call; regexp syntax errors carry the
//! Rust `regex` crate's wording.

pub mod builtins;
mod exec;
pub mod gofmt;
mod lex;
mod parse;
pub mod prometheus;
pub mod value;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;

pub use exec::{LocalFuncs, MAX_DEPTH, MAX_OUTPUT, MAX_STEPS};
pub use value::{TemplateObject, Value};

/// A template function: arguments in, a value or an error text out. An error becomes Go's
/// `error calling NAME: TEXT`; a text made with [`raw_error`] is reported as is (Go's
/// argument-type and arity errors, which are not call errors).
pub type Func = Arc<dyn Fn(&[Value]) -> Result<Value, String> + Send + Sync>;

/// Marks an error text that the executor reports without the `error calling NAME:` prefix.
pub(crate) const RAW_ERROR_MARK: &str = "\u{0}";

/// An error text reported as is, e.g. `wrong number of args for humanize: want 1 got 2`.
pub fn raw_error(msg: impl Into<String>) -> String {
    format!("{RAW_ERROR_MARK}{}", msg.into())
}

/// Named functions available to templates (Go's `template.FuncMap`). Names here override
/// the builtins, as in Go.
#[derive(Clone, Default)]
pub struct FuncMap(BTreeMap<String, Func>);

impl FuncMap {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, name: impl Into<String>, f: Func) {
        self.0.insert(name.into(), f);
    }

    /// Adds a function from a closure.
    pub fn add<F>(&mut self, name: impl Into<String>, f: F)
    where
        F: Fn(&[Value]) -> Result<Value, String> + Send + Sync + 'static,
    {
        self.0.insert(name.into(), Arc::new(f));
    }

    pub fn get(&self, name: &str) -> Option<&Func> {
        self.0.get(name)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// Adds every function of `other`, replacing same-named ones.
    pub fn extend(&mut self, other: &FuncMap) {
        for (k, v) in &other.0 {
            self.0.insert(k.clone(), v.clone());
        }
    }
}

/// What a missing map key yields (Go's `missingkey` option).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissingKey {
    /// The invalid value, printed `<no value>`.
    #[default]
    Default,
    /// The zero value of the map's element type (`""` for label maps).
    Zero,
    /// An execution error: `map has no entry for key "x"`.
    Error,
}

/// A parse or execution error; `Display` is Go's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("{0}")]
    Parse(String),
    #[error("{0}")]
    Exec(String),
}

/// A parsed template set: the main tree plus the `define`d (and `block`) templates.
#[derive(Clone, Debug)]
pub struct Template {
    name: String,
    trees: BTreeMap<String, Arc<parse::Tree>>,
}

fn has_func(funcs: &FuncMap) -> impl Fn(&str) -> bool + '_ {
    move |name: &str| funcs.contains(name) || builtins::is_builtin(name)
}

impl Template {
    /// Parses `text` as the template named `name` (Go: `template.New(name).Funcs(funcs).Parse(text)`).
    /// Unknown functions are parse errors, as in Go (`function "foo" not defined`).
    pub fn parse(name: &str, text: &str, funcs: &FuncMap) -> Result<Template, TemplateError> {
        let mut t = Template { name: name.to_string(), trees: BTreeMap::new() };
        t.add(name, text, funcs)?;
        Ok(t)
    }

    /// Adds more definitions (Go's `t.New(name).Parse(text)` on an existing set, as
    /// `ParseFiles` does): every tree of `text` joins the set, replacing same-named ones unless
    /// the new one is empty.
    pub fn add(&mut self, name: &str, text: &str, funcs: &FuncMap) -> Result<(), TemplateError> {
        let trees = parse::parse(name, text, &has_func(funcs)).map_err(TemplateError::Parse)?;
        for (n, tree) in trees {
            let keep_old = tree.is_empty() && self.trees.contains_key(&n);
            if !keep_old {
                self.trees.insert(n, Arc::new(tree));
            }
        }
        Ok(())
    }

    /// The name given to [`Template::parse`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether a template of that name is defined.
    pub fn has(&self, name: &str) -> bool {
        self.trees.contains_key(name)
    }

    /// Names of every template in the set.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.trees.keys().map(String::as_str)
    }

    /// Executes the main template.
    pub fn execute(
        &self,
        data: &Value,
        funcs: &FuncMap,
        missing: MissingKey,
    ) -> Result<String, TemplateError> {
        exec::execute(self, &self.name, data, funcs, None, missing)
    }

    /// Executes template `name` with `local` functions consulted before `funcs` (their names
    /// must still be in the parse-time [`FuncMap`]).
    pub fn execute_with(
        &self,
        name: &str,
        data: &Value,
        funcs: &FuncMap,
        local: LocalFuncs<'_>,
        missing: MissingKey,
    ) -> Result<String, TemplateError> {
        exec::execute(self, name, data, funcs, Some(local), missing)
    }

    /// Executes the template `name` of the set (Go's `ExecuteTemplate`).
    pub fn execute_named(
        &self,
        name: &str,
        data: &Value,
        funcs: &FuncMap,
        missing: MissingKey,
    ) -> Result<String, TemplateError> {
        exec::execute(self, name, data, funcs, None, missing)
    }
}
