//! The maps a context is made of (its top-level names, a profile's fields)
//! as expressions read them: string keys in a vector, looked up by binary
//! search (fields) or a scan (the few top-level names).
//!
//! A context is built at every open. Built as minijinja's own map (a tree of
//! values), its maps cost a fifth of an open's expression work on the hit
//! path; a profile's fields already arrive sorted, so this one is a vector
//! filled in order. Expressions see no difference: the keys enumerate in the
//! same (sorted) order, and a missing key is undefined.

use std::sync::Arc;

use minijinja::Value;
use minijinja::value::{Enumerator, Object, ObjectExt};

/// A map of string keys to values, sorted by key.
#[derive(Debug, Default)]
pub(crate) struct Fields(Vec<(Box<str>, Value)>);

impl Fields {
    /// The map of `entries`, whose keys are distinct. Sorted here unless
    /// they already are.
    pub(crate) fn new<'k>(entries: impl IntoIterator<Item = (&'k str, Value)>) -> Fields {
        let mut entries: Vec<(Box<str>, Value)> = entries
            .into_iter()
            .map(|(key, value)| (Box::from(key), value))
            .collect();
        if !entries.is_sorted_by(|a, b| a.0 <= b.0) {
            entries.sort_by(|a, b| a.0.cmp(&b.0));
        }
        Fields(entries)
    }

    pub(crate) fn into_value(self) -> Value {
        Value::from_object(self)
    }
}

impl Object for Fields {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.get_value_by_str(key.as_str()?)
    }

    fn get_value_by_str(self: &Arc<Self>, key: &str) -> Option<Value> {
        let index = self
            .0
            .binary_search_by(|(name, _)| (**name).cmp(key))
            .ok()?;
        Some(self.0[index].1.clone())
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        self.mapped_enumerator(|this| Box::new(this.0.iter().map(|(key, _)| Value::from(&**key))))
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.0.len())
    }
}

/// A context's top-level names (`profile`, `now`, ...): a few, known when
/// the server is built, so kept in the order given and found by a scan.
#[derive(Debug, Default)]
pub(crate) struct Names(Vec<(&'static str, Value)>);

impl Names {
    /// The names of `entries`, which are distinct.
    pub(crate) fn value(entries: Vec<(&'static str, Value)>) -> Value {
        Value::from_object(Names(entries))
    }

    /// The names and their values, in the order given.
    pub(crate) fn entries(&self) -> &[(&'static str, Value)] {
        &self.0
    }
}

impl Object for Names {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.get_value_by_str(key.as_str()?)
    }

    fn get_value_by_str(self: &Arc<Self>, key: &str) -> Option<Value> {
        let (_, value) = self.0.iter().find(|(name, _)| *name == key)?;
        Some(value.clone())
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let mut names: Vec<&'static str> = self.0.iter().map(|(name, _)| *name).collect();
        names.sort_unstable();
        Enumerator::Values(names.into_iter().map(Value::from).collect())
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_read_as_the_map_of_the_same_entries() {
        let entries = [
            ("tier", Value::from("gold")),
            ("first_name", Value::from("Alice")),
            ("points", Value::from(12_480)),
        ];
        let fields = Fields::new(entries.clone()).into_value();
        let names = Names::value(entries.to_vec());
        let map = Value::from_pairs(entries);
        let environment = minijinja::Environment::new();
        for text in [
            "{{ m.first_name }} {{ m.points + 1 }} {{ m.tier | upper }}",
            "{{ m | length }} {{ m.missing is defined }} {{ m['tier'] }}",
            "{% for key, value in m | items %}{{ key }}={{ value }};{% endfor %}",
            "{{ m | list }} {{ m }} {{ m == m }}",
            "{{ m.missing.deeper is defined }}",
        ] {
            let render = |m: &Value| {
                environment
                    .render_str(text, minijinja::context! { m => m.clone() })
                    .map_err(|error| error.to_string())
            };
            assert_eq!(render(&fields), render(&map), "{text}");
            assert_eq!(render(&names), render(&map), "{text}");
        }
        let empty = Fields::new(Vec::<(&str, Value)>::new()).into_value();
        assert_eq!(empty.len(), Some(0));
        assert!(!empty.is_true());
    }
}
