//! `secret('NAME')`: a source's URL and headers read the server's
//! `[secrets]` through it. Only those texts may call it (the names check
//! refuses it anywhere else), and only their context holds the secrets,
//! under a name no template can write: a text elsewhere that found a way
//! to call it would still read nothing.

use minijinja::value::Value;
use minijinja::{Error, ErrorKind, State};

/// The context entry that holds the secrets while a source's texts render.
pub const SECRETS_NAME: &str = "__opentime_secrets";

pub(super) fn secret(state: &State, name: &str) -> Result<Value, Error> {
    let secrets = state.lookup(SECRETS_NAME).unwrap_or_default();
    match secrets.get_attr(name) {
        Ok(value) if !value.is_undefined() => Ok(value),
        // The name is the author's own; the value is never in a message.
        _ => Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("no secret {name:?} in the server's [secrets]"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::{Context, RequestFacts, TextSet};

    #[test]
    fn a_source_text_reads_a_secret_that_no_other_text_can() {
        let mut texts = TextSet::new();
        let header = texts
            .add_source_text("Bearer {{ secret('shop_api') }}")
            .expect("a source text may call secret()");
        let context = Context::new(&RequestFacts::default());
        let with_secrets = context.with(
            SECRETS_NAME,
            Value::from_pairs([("shop_api", Value::from("k-123"))]),
        );
        assert_eq!(texts.render(header, &with_secrets).unwrap(), "Bearer k-123");
        let error = texts.render(header, &context).expect_err("no secrets here");
        assert!(error.to_string().contains("shop_api"), "{error}");
        assert!(!error.to_string().contains("k-123"), "{error}");
        let refused = texts
            .add("{{ secret('shop_api') }}")
            .expect_err("a text may not call secret()");
        assert!(
            refused.to_string().contains("source's url and headers"),
            "{refused}"
        );
    }
}
