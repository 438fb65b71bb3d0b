//! `when` conditions: Jinja expressions compiled once, when a template loads,
//! and evaluated against each request's context.

use std::fmt;

use minijinja::Expression;

use super::context::Context;
use super::environment::GLOBAL;
use super::error::ExprError;
use super::names::{SourceForm, refuse_unknown_names};

/// A compiled `when` condition.
///
/// It borrows the process-wide environment, which lives for the whole
/// program, so it can be stored in long-lived template structs and shared
/// between threads.
pub struct Condition {
    source: String,
    expression: Expression<'static, 'static>,
}

impl Condition {
    /// Compiles `source`, e.g. `profile.points > 1000 and opener == "human"`.
    /// A filter, test or function the language lacks is refused here
    /// rather than failing at every open that reaches it.
    pub fn compile(source: &str) -> Result<Condition, ExprError> {
        let expression = GLOBAL
            .compile_expression_owned(source.to_string())
            .map_err(|error| ExprError::syntax(&error, source))?;
        refuse_unknown_names(&GLOBAL, source, SourceForm::Expression)?;
        Ok(Condition {
            source: source.to_string(),
            expression,
        })
    }

    /// Evaluates to a boolean by Jinja truthiness: `false`, `0`, `""`, empty
    /// lists and maps, `none` and undefined are false, the rest true.
    pub fn eval(&self, context: &Context) -> Result<bool, ExprError> {
        self.expression
            .eval(context.value())
            .map(|value| value.is_true())
            .map_err(|error| ExprError::eval(&error, &self.source))
    }

    /// Evaluates to the expression's value, for an expression that gives
    /// more than a yes or no: a repeat layer's list of items.
    pub fn value(&self, context: &Context) -> Result<minijinja::Value, ExprError> {
        self.expression
            .eval(context.value())
            .map_err(|error| ExprError::eval(&error, &self.source))
    }

    /// The source as written in the template.
    pub fn source(&self) -> &str {
        &self.source
    }
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Condition").field(&self.source).finish()
    }
}
