//! The expression language of conditions, texts and links (minijinja), and
//! the request context it reads: `profile`, `query`, `now`, `device`,
//! `opener`. (Skeleton: the implementation lands with expressions.)

use std::collections::BTreeMap;

use jiff::Timestamp;

use crate::recipient::Profile;

mod device;
mod opener;

pub use device::Device;
pub use opener::{Opener, SCANNER_MARKS, classify};

/// What is known about one request, before it is turned into a context.
#[derive(Debug, Clone, Default)]
pub struct RequestFacts {
    /// `None` when there is no recipient or no state for them.
    pub profile: Option<Profile>,
    /// The template's declared query parameters, already length-checked.
    pub query: BTreeMap<String, String>,
    pub now: Timestamp,
    pub user_agent: Option<String>,
    /// HEAD requests are a scanner's mark.
    pub is_head: bool,
}

/// The evaluated context of one request.
#[derive(Debug, Clone)]
pub struct Context {
    pub opener: Opener,
}

impl Context {
    pub fn new(facts: &RequestFacts) -> Context {
        let _ = facts;
        Context {
            opener: Opener::Human,
        }
    }
}

/// A compiled `when` condition.
#[derive(Debug)]
pub struct Condition {}

impl Condition {
    pub fn compile(source: &str) -> Result<Condition, ExprError> {
        Err(ExprError::Syntax(format!("{source}: not implemented")))
    }
    /// Evaluates to a boolean by Jinja truthiness.
    pub fn eval(&self, context: &Context) -> Result<bool, ExprError> {
        let _ = context;
        Ok(false)
    }
}

/// The compiled text and link templates of one template file.
#[derive(Debug, Default)]
pub struct TextSet {}

/// A handle to one compiled text in a [`TextSet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextId(pub usize);

impl TextSet {
    pub fn new() -> TextSet {
        TextSet {}
    }
    pub fn add(&mut self, source: &str) -> Result<TextId, ExprError> {
        Err(ExprError::Syntax(format!("{source}: not implemented")))
    }
    pub fn render(&self, id: TextId, context: &Context) -> Result<String, ExprError> {
        let _ = (id, context);
        Ok(String::new())
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ExprError {
    #[error("syntax error: {0}")]
    Syntax(String),
    #[error("evaluation failed: {0}")]
    Eval(String),
}
