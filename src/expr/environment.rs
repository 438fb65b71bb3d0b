//! The one minijinja configuration that every condition and text runs under:
//! its helpers, its undefined behaviour, no auto-escaping, and the bounds on
//! the work one evaluation may do.
//!
//! Conditions compile against [`GLOBAL`], a process-wide environment, so that
//! a compiled condition can be stored in long-lived template structs. Texts
//! need an environment that owns their compiled templates, so each
//! [`super::TextSet`] builds its own with [`configured_environment`]; both
//! come from the same function, so a helper works the same in a `when` and in
//! a text.

use std::sync::LazyLock;

use minijinja::syntax::SyntaxConfig;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};

use super::{dates, feed, number, secret, words};

/// The instructions one evaluation may execute. Real conditions and texts
/// take tens; this leaves room for loops over small lists while stopping a
/// runaway template within a few milliseconds of one image request.
pub const FUEL: u64 = 50_000;

/// How deep loops, conditionals and macro calls may nest. Far more than any
/// email text needs, and well under minijinja's own safe maximum.
pub const RECURSION_LIMIT: usize = 64;

/// The environment conditions compile against.
pub(crate) static GLOBAL: LazyLock<Environment<'static>> = LazyLock::new(configured_environment);

/// A fresh environment with opentime's configuration and no templates.
pub(crate) fn configured_environment() -> Environment<'static> {
    let mut environment = Environment::new();
    // Chainable: `profile.missing.deeper` is undefined rather than an error,
    // so that a rule about a field some recipients lack is simply false for
    // them instead of an error in the logs at every open.
    environment.set_undefined_behavior(UndefinedBehavior::Chainable);
    // Texts end up in pixels and links, never in HTML.
    environment.set_auto_escape_callback(|_name| AutoEscape::None);
    environment.set_fuel(Some(FUEL));
    environment.set_recursion_limit(RECURSION_LIMIT);
    // Debug mode copies the template source into every error; errors here are
    // located from their byte range instead, which is always recorded.
    environment.set_debug(false);
    // A text is what its author wrote, trailing newline included, as it is
    // for texts without any Jinja that never reach minijinja.
    environment.set_syntax(
        SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .build()
            .expect("the default delimiters are a valid syntax"),
    );
    // `debug()` prints the whole context: of no use in an image, and a way to
    // put every profile field on screen by mistake.
    environment.remove_global("debug");

    environment.add_function("days_until", dates::days_until);
    environment.add_function("days_since", dates::days_since);
    environment.add_function("hours_until", dates::hours_until);
    environment.add_function("hours_since", dates::hours_since);
    environment.add_filter("date", dates::date);
    environment.add_filter("number", number::number);
    environment.add_filter("plural", words::plural);
    environment.add_filter("money", words::money);
    environment.add_function("money", words::money);
    environment.add_function("secret", secret::secret);
    environment.add_function("feed_item", feed::feed_item);
    environment
}
