//! The names a condition or text uses, found in its parsed form when it
//! loads rather than when an open runs it.
//!
//! minijinja looks filters, tests and functions up only when it reaches
//! them, so `{{ profile.name | upercase }}` compiles and then fails on every
//! open that gets that far. Walking the syntax tree finds every such name,
//! including those in branches no sample state takes, and the environment
//! itself says which names it has: membership is asked of it, never of a
//! list kept here, so a helper added to (or removed from) the environment
//! is known (or unknown) at once.
//!
//! The same walk tells `opentime check` which fields of `profile` and
//! `query` a source reads and where ([`fields_read`]).

use std::collections::BTreeSet;
use std::ops::Range;

use minijinja::machinery::ast::{self, CallArg, Expr, Stmt};
use minijinja::machinery::{Span, parse, parse_expr};
use minijinja::{Environment, ErrorKind};

use super::error::{ExprError, line_and_column};

/// How a source is written: a `when` condition is one expression, texts and
/// links are templates with `{{ }}` in them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceForm {
    Expression,
    Template,
}

/// A field of one of the context's maps that a source reads:
/// `profile.first_name` or `query["sub"]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRead {
    /// `profile`, `query`, `prefs`, ...
    pub root: String,
    pub field: String,
    /// Where the read is written, in bytes of the source.
    pub range: Range<usize>,
}

/// Every `root.field` (and `root["field"]`) that `source` reads, in the
/// order written. A source that does not parse reads nothing: loading has
/// refused it already.
pub fn fields_read(source: &str, form: SourceForm) -> Vec<FieldRead> {
    let mut uses = Vec::new();
    if walk_source(source, form, &mut uses).is_err() {
        return Vec::new();
    }
    uses.into_iter()
        .filter_map(|found| match found {
            Use::Field { root, field, span } => Some(FieldRead {
                root: root.to_string(),
                field,
                range: span.start_offset as usize..span.end_offset as usize,
            }),
            _ => None,
        })
        .collect()
}

/// Refuses a source that calls a filter, test or function `environment`
/// does not have, naming the first one, where it is, and the closest name
/// the environment does have when one is a slip of the keyboard away.
pub(crate) fn refuse_unknown_names(
    environment: &Environment<'_>,
    source: &str,
    form: SourceForm,
) -> Result<(), ExprError> {
    refuse_names(environment, source, form, false)
}

/// [`refuse_unknown_names`] for a source's URL and headers, the only texts
/// that may call `secret()`: anywhere else a secret could end up in an
/// image, a link or the studio.
pub(crate) fn refuse_names(
    environment: &Environment<'_>,
    source: &str,
    form: SourceForm,
    secrets_allowed: bool,
) -> Result<(), ExprError> {
    let mut uses = Vec::new();
    walk_source(source, form, &mut uses).map_err(|error| ExprError::syntax(&error, source))?;
    if !secrets_allowed
        && let Some(span) = uses.iter().find_map(|found| match found {
            Use::Call("secret", span) => Some(*span),
            _ => None,
        })
    {
        let (line, column) = line_and_column(source, span.start_offset as usize);
        return Err(ExprError::UnknownName(format!(
            "line {line}, column {column}: secret() may be called only in a source's url and headers"
        )));
    }
    // A macro, a `set` or a loop variable may be called like a function.
    let bound: BTreeSet<&str> = uses
        .iter()
        .filter_map(|found| match found {
            Use::Binds(name) => Some(*name),
            _ => None,
        })
        .collect();
    for found in &uses {
        let (kind, name, span) = match *found {
            Use::Filter(name, span) => (NameKind::Filter, name, span),
            Use::Test(name, span) => (NameKind::Test, name, span),
            Use::Call(name, span) if !bound.contains(name) => (NameKind::Function, name, span),
            _ => continue,
        };
        if kind.is_known(environment, name) {
            continue;
        }
        let (line, column) = line_and_column(source, span.start_offset as usize);
        let mut message = format!(
            "line {line}, column {column}: unknown {} {name:?}",
            kind.as_str()
        );
        if let Some(closest) = kind.closest(environment, name) {
            message.push_str(&format!(" (did you mean {closest:?}?)"));
        }
        return Err(ExprError::UnknownName(message));
    }
    Ok(())
}

#[derive(Debug, Clone, Copy)]
enum NameKind {
    Filter,
    Test,
    Function,
}

impl NameKind {
    fn as_str(self) -> &'static str {
        match self {
            NameKind::Filter => "filter",
            NameKind::Test => "test",
            NameKind::Function => "function",
        }
    }

    /// Whether the environment has this name. minijinja offers no list of
    /// its filters and tests, but it says "unknown filter" (or test) for a
    /// name it lacks before anything runs; a name it has is called with no
    /// arguments and fails on the missing value, which costs nothing.
    fn is_known(self, environment: &Environment<'_>, name: &str) -> bool {
        match self {
            NameKind::Filter => !matches!(
                environment.empty_state().apply_filter(name, &[]),
                Err(error) if error.kind() == ErrorKind::UnknownFilter
            ),
            NameKind::Test => !matches!(
                environment.empty_state().perform_test(name, &[]),
                Err(error) if error.kind() == ErrorKind::UnknownTest
            ),
            NameKind::Function => environment.globals().any(|(global, _)| global == name),
        }
    }

    /// A known name one edit away from `name` (`defnied`, `days_sinse`), or
    /// else one edit away from the longest prefix that has one (`upercase`
    /// is `uper` and more: `upper`). The candidates are asked of the
    /// environment, so a suggestion is always a name it has.
    fn closest(self, environment: &Environment<'_>, name: &str) -> Option<String> {
        let chars: Vec<char> = name.chars().collect();
        let shortest_prefix = 3.min(chars.len());
        (shortest_prefix..=chars.len()).rev().find_map(|length| {
            let prefix: String = chars[..length].iter().collect();
            if length < chars.len() && self.is_known(environment, &prefix) {
                return Some(prefix);
            }
            one_edit_away(&prefix)
                .into_iter()
                .find(|candidate| candidate != name && self.is_known(environment, candidate))
        })
    }
}

/// Every identifier one deletion, transposition, substitution or insertion
/// away from `name`, sorted so that a suggestion is the same on every run.
fn one_edit_away(name: &str) -> BTreeSet<String> {
    const ALPHABET: &str = "abcdefghijklmnopqrstuvwxyz0123456789_";
    let chars: Vec<char> = name.chars().collect();
    let text = |chars: &[char]| chars.iter().collect::<String>();
    let mut candidates = BTreeSet::new();
    for index in 0..chars.len() {
        let mut deleted = chars.clone();
        deleted.remove(index);
        candidates.insert(text(&deleted));
        if index + 1 < chars.len() {
            let mut swapped = chars.clone();
            swapped.swap(index, index + 1);
            candidates.insert(text(&swapped));
        }
        for letter in ALPHABET.chars() {
            let mut substituted = chars.clone();
            substituted[index] = letter;
            candidates.insert(text(&substituted));
        }
    }
    for index in 0..=chars.len() {
        for letter in ALPHABET.chars() {
            let mut inserted = chars.clone();
            inserted.insert(index, letter);
            candidates.insert(text(&inserted));
        }
    }
    candidates.remove(name);
    candidates
}

/// One thing the walk found.
enum Use<'a> {
    Filter(&'a str, Span),
    Test(&'a str, Span),
    /// A call of a plain name: `days_until(...)`.
    Call(&'a str, Span),
    Field {
        root: &'a str,
        field: String,
        span: Span,
    },
    /// A name the source itself binds: a macro, `set`, loop or `with`
    /// variable, a macro's argument.
    Binds(&'a str),
}

fn walk_source<'a>(
    source: &'a str,
    form: SourceForm,
    uses: &mut Vec<Use<'a>>,
) -> Result<(), minijinja::Error> {
    match form {
        SourceForm::Expression => walk_expr(&parse_expr(source)?, uses),
        SourceForm::Template => {
            let syntax = super::environment::GLOBAL.syntax().clone();
            walk_stmt(&parse(source, "<text>", syntax)?, uses);
        }
    }
    Ok(())
}

fn walk_stmts<'a>(stmts: &[Stmt<'a>], uses: &mut Vec<Use<'a>>) {
    for stmt in stmts {
        walk_stmt(stmt, uses);
    }
}

fn walk_stmt<'a>(stmt: &Stmt<'a>, uses: &mut Vec<Use<'a>>) {
    match stmt {
        Stmt::Template(template) => walk_stmts(&template.children, uses),
        Stmt::EmitExpr(emit) => walk_expr(&emit.expr, uses),
        Stmt::EmitRaw(_) => {}
        Stmt::ForLoop(for_loop) => {
            uses.push(Use::Binds("loop"));
            bind_target(&for_loop.target, uses);
            walk_expr(&for_loop.iter, uses);
            if let Some(filter) = &for_loop.filter_expr {
                walk_expr(filter, uses);
            }
            walk_stmts(&for_loop.body, uses);
            walk_stmts(&for_loop.else_body, uses);
        }
        Stmt::IfCond(condition) => {
            walk_expr(&condition.expr, uses);
            walk_stmts(&condition.true_body, uses);
            walk_stmts(&condition.false_body, uses);
        }
        Stmt::WithBlock(with) => {
            for (target, value) in &with.assignments {
                bind_target(target, uses);
                walk_expr(value, uses);
            }
            walk_stmts(&with.body, uses);
        }
        Stmt::Set(set) => {
            bind_target(&set.target, uses);
            walk_expr(&set.expr, uses);
        }
        Stmt::SetBlock(set) => {
            bind_target(&set.target, uses);
            if let Some(filter) = &set.filter {
                walk_expr(filter, uses);
            }
            walk_stmts(&set.body, uses);
        }
        Stmt::AutoEscape(block) => {
            walk_expr(&block.enabled, uses);
            walk_stmts(&block.body, uses);
        }
        Stmt::FilterBlock(block) => {
            walk_expr(&block.filter, uses);
            walk_stmts(&block.body, uses);
        }
        Stmt::Block(block) => walk_stmts(&block.body, uses),
        Stmt::Import(import) => {
            walk_expr(&import.expr, uses);
            bind_target(&import.name, uses);
        }
        Stmt::FromImport(import) => {
            walk_expr(&import.expr, uses);
            for (name, alias) in &import.names {
                bind_target(alias.as_ref().unwrap_or(name), uses);
            }
        }
        Stmt::Extends(extends) => walk_expr(&extends.name, uses),
        Stmt::Include(include) => walk_expr(&include.name, uses),
        Stmt::Macro(definition) => {
            uses.push(Use::Binds(definition.name));
            walk_macro(definition, uses);
        }
        Stmt::CallBlock(block) => {
            uses.push(Use::Binds("caller"));
            walk_call(&block.call, block.call.span(), uses);
            walk_macro(&block.macro_decl, uses);
        }
        Stmt::Do(call) => walk_call(&call.call, call.call.span(), uses),
    }
}

fn walk_macro<'a>(definition: &ast::Macro<'a>, uses: &mut Vec<Use<'a>>) {
    for argument in &definition.args {
        bind_target(argument, uses);
    }
    for default in &definition.defaults {
        walk_expr(default, uses);
    }
    // Every macro may read these, whether or not it was given them.
    uses.extend(["varargs", "kwargs", "caller"].map(Use::Binds));
    walk_stmts(&definition.body, uses);
}

/// The names an assignment target binds: `x`, `(a, b)`.
fn bind_target<'a>(target: &Expr<'a>, uses: &mut Vec<Use<'a>>) {
    match target {
        Expr::Var(var) => uses.push(Use::Binds(var.id)),
        Expr::Tuple(tuple) => tuple.items.iter().for_each(|item| bind_target(item, uses)),
        Expr::List(list) => list.items.iter().for_each(|item| bind_target(item, uses)),
        // `set ns.total = ...` writes into a namespace it reads.
        other => walk_expr(other, uses),
    }
}

fn walk_call<'a>(call: &ast::Call<'a>, span: Span, uses: &mut Vec<Use<'a>>) {
    match &call.expr {
        Expr::Var(var) => uses.push(Use::Call(var.id, span)),
        other => walk_expr(other, uses),
    }
    walk_args(&call.args, uses);
}

fn walk_args<'a>(args: &[CallArg<'a>], uses: &mut Vec<Use<'a>>) {
    for arg in args {
        match arg {
            CallArg::Pos(expr)
            | CallArg::Kwarg(_, expr)
            | CallArg::PosSplat(expr)
            | CallArg::KwargSplat(expr) => walk_expr(expr, uses),
        }
    }
}

fn walk_expr<'a>(expr: &Expr<'a>, uses: &mut Vec<Use<'a>>) {
    match expr {
        Expr::Var(_) | Expr::Const(_) => {}
        Expr::Slice(slice) => {
            walk_expr(&slice.expr, uses);
            for bound in [&slice.start, &slice.stop, &slice.step]
                .into_iter()
                .flatten()
            {
                walk_expr(bound, uses);
            }
        }
        Expr::UnaryOp(op) => walk_expr(&op.expr, uses),
        Expr::BinOp(op) => {
            walk_expr(&op.left, uses);
            walk_expr(&op.right, uses);
        }
        Expr::Compare(compare) => {
            walk_expr(&compare.expr, uses);
            for op in &compare.ops {
                walk_expr(&op.expr, uses);
            }
        }
        Expr::IfExpr(choice) => {
            walk_expr(&choice.test_expr, uses);
            walk_expr(&choice.true_expr, uses);
            if let Some(otherwise) = &choice.false_expr {
                walk_expr(otherwise, uses);
            }
        }
        Expr::Filter(filter) => {
            uses.push(Use::Filter(filter.name, filter.span()));
            if let Some(value) = &filter.expr {
                walk_expr(value, uses);
            }
            walk_args(&filter.args, uses);
        }
        Expr::Test(test) => {
            uses.push(Use::Test(test.name, test.span()));
            walk_expr(&test.expr, uses);
            walk_args(&test.args, uses);
        }
        Expr::GetAttr(get) => match &get.expr {
            Expr::Var(root) => uses.push(Use::Field {
                root: root.id,
                field: get.name.to_string(),
                span: get.span(),
            }),
            other => walk_expr(other, uses),
        },
        Expr::GetItem(get) => match (&get.expr, &get.subscript_expr) {
            (Expr::Var(root), Expr::Const(key)) if key.value.as_str().is_some() => {
                uses.push(Use::Field {
                    root: root.id,
                    field: key.value.as_str().unwrap_or_default().to_string(),
                    span: get.span(),
                })
            }
            (value, subscript) => {
                walk_expr(value, uses);
                walk_expr(subscript, uses);
            }
        },
        Expr::Call(call) => walk_call(call, call.span(), uses),
        Expr::List(list) => list.items.iter().for_each(|item| walk_expr(item, uses)),
        Expr::Tuple(tuple) => tuple.items.iter().for_each(|item| walk_expr(item, uses)),
        Expr::Map(map) => {
            for (key, value) in map.keys.iter().zip(&map.values) {
                walk_expr(key, uses);
                walk_expr(value, uses);
            }
        }
    }
}

/// The names of the secrets a text reads with `secret('NAME')`, in the
/// order written; an argument that is not a name written out in quotes
/// is given as `(an expression)`, which no secret is called.
pub fn secrets_named(source: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = source;
    while let Some(at) = rest.find("secret(") {
        let after = rest[at + "secret(".len()..].trim_start();
        let name = after
            .chars()
            .next()
            .filter(|quote| *quote == '\'' || *quote == '"')
            .and_then(|quote| {
                let inner = &after[1..];
                let end = inner.find(quote)?;
                let closes = inner[end + 1..].trim_start().starts_with(')');
                closes.then(|| inner[..end].to_string())
            });
        names.push(name.unwrap_or_else(|| "(an expression)".to_string()));
        rest = &rest[at + "secret(".len()..];
    }
    names
}
