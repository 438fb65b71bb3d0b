//! The texts and links of one template file, compiled once when the file
//! loads and rendered for each request.
//!
//! Most texts are plain ("Renew now"): those never reach minijinja and render
//! as written. The others are compiled into an environment that the set owns,
//! under generated names, so that dropping the set (when the template file is
//! reloaded) drops its compiled texts too.

use std::io;

use minijinja::Environment;

use super::context::Context;
use super::environment::configured_environment;
use super::error::ExprError;
use super::names::{SourceForm, refuse_names};

/// The longest output of one text, in bytes. Texts go into images and links,
/// where even a few hundred bytes is long; the cap stops a template that
/// builds an enormous string before it costs memory on every request.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;

/// The compiled text and link templates of one template file.
#[derive(Debug)]
pub struct TextSet {
    environment: Environment<'static>,
    texts: Vec<Text>,
}

/// A handle to one compiled text in a [`TextSet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextId(pub usize);

#[derive(Debug)]
enum Text {
    /// No Jinja in it: rendered as written.
    Literal(String),
    /// Compiled into the set's environment under `name`.
    Template { name: String, source: String },
}

impl TextSet {
    pub fn new() -> TextSet {
        TextSet {
            environment: configured_environment(),
            texts: Vec::new(),
        }
    }

    /// Compiles `source`, e.g. `Thank you, {{ profile.first_name }}!`. A
    /// filter, test or function the language lacks is refused here rather
    /// than failing at every open that reaches it.
    pub fn add(&mut self, source: &str) -> Result<TextId, ExprError> {
        self.add_text(source, false)
    }

    /// Compiles a source's URL or header text, which alone may call
    /// `secret('NAME')`; it renders against a context that holds the
    /// secrets (`Context::with_secrets`), which no other text ever sees.
    pub fn add_source_text(&mut self, source: &str) -> Result<TextId, ExprError> {
        self.add_text(source, true)
    }

    fn add_text(&mut self, source: &str, secrets_allowed: bool) -> Result<TextId, ExprError> {
        let id = TextId(self.texts.len());
        if !has_jinja(source) {
            self.texts.push(Text::Literal(source.to_string()));
            return Ok(id);
        }
        let name = format!("text-{}", id.0);
        self.environment
            .add_template_owned(name.clone(), source.to_string())
            .map_err(|error| ExprError::syntax(&error, source))?;
        if let Err(error) = refuse_names(
            &self.environment,
            source,
            SourceForm::Template,
            secrets_allowed,
        ) {
            self.environment.remove_template(&name);
            return Err(error);
        }
        self.texts.push(Text::Template {
            name,
            source: source.to_string(),
        });
        Ok(id)
    }

    pub fn render(&self, id: TextId, context: &Context) -> Result<String, ExprError> {
        let (name, source) = match self.texts.get(id.0) {
            Some(Text::Literal(text)) => return Ok(text.clone()),
            Some(Text::Template { name, source }) => (name, source),
            None => {
                return Err(ExprError::Eval(format!(
                    "no text {} in this set of {}",
                    id.0,
                    self.texts.len()
                )));
            }
        };
        let template = self
            .environment
            .get_template(name)
            .map_err(|error| ExprError::eval(&error, source))?;
        // Room for most texts' output at once: growing from nothing, the
        // buffer was reallocated two or three times a text.
        let mut output = BoundedOutput {
            bytes: Vec::with_capacity(source.len().clamp(64, 1024)),
            overflowed: false,
        };
        let rendered = template.render_captured_to(context.value(), &mut output);
        if output.overflowed {
            return Err(ExprError::Eval(format!(
                "the text is longer than {MAX_TEXT_BYTES} bytes"
            )));
        }
        rendered.map_err(|error| ExprError::eval(&error, source))?;
        String::from_utf8(output.bytes)
            .map_err(|_| ExprError::Eval("the text is not valid UTF-8".to_string()))
    }

    /// Whether the text has no Jinja in it, so it reads the same for
    /// everyone.
    pub fn is_literal(&self, id: TextId) -> bool {
        matches!(self.texts.get(id.0), Some(Text::Literal(_)))
    }

    /// The text as the template wrote it.
    pub fn source(&self, id: TextId) -> Option<&str> {
        match self.texts.get(id.0)? {
            Text::Literal(text) => Some(text),
            Text::Template { source, .. } => Some(source),
        }
    }

    /// How many texts the set holds.
    pub fn len(&self) -> usize {
        self.texts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }
}

impl Default for TextSet {
    fn default() -> TextSet {
        TextSet::new()
    }
}

/// Whether minijinja would see anything but literal text in `source`.
fn has_jinja(source: &str) -> bool {
    source.contains("{{") || source.contains("{%") || source.contains("{#")
}

/// Collects rendered output and refuses to grow past [`MAX_TEXT_BYTES`],
/// which makes minijinja stop rendering.
struct BoundedOutput {
    bytes: Vec<u8>,
    overflowed: bool,
}

impl io::Write for BoundedOutput {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.bytes.len() + buf.len() > MAX_TEXT_BYTES {
            self.overflowed = true;
            return Err(io::Error::other("text too long"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
