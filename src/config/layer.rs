//! A layer of configuration: the values one source (the TOML file, or the
//! environment) gives, by key of [`KEYS`], before they are applied on top of
//! the layers below.

use std::fmt;

use serde::{Deserialize, Deserializer};

use super::keys::{KEYS, Key, Kind, Value};

/// The keys one source sets, in the order of [`KEYS`], which is the order
/// they are applied in.
pub(super) struct Layer {
    values: Vec<(usize, Value)>,
}

impl Layer {
    /// Reads `OPENTIME_<KEY>` for every key. `lookup` is the environment, a
    /// parameter so that tests need not touch the process's.
    pub(super) fn from_env(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Layer> {
        let mut values = Vec::new();
        for (index, key) in KEYS.iter().enumerate() {
            if let Some(text) = lookup(key.env) {
                values.push((index, key.parse_env(text)?));
            }
        }
        Ok(Layer { values })
    }

    /// The keys and values, in the order they are applied.
    pub(super) fn values(self) -> impl Iterator<Item = (&'static Key, Value)> {
        self.values
            .into_iter()
            .map(|(index, value)| (&KEYS[index], value))
    }
}

/// A TOML file is a table of keys at its top level; any other key is an
/// error naming it, so that a misspelt key is not silently ignored.
impl<'de> Deserialize<'de> for Layer {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Layer, D::Error> {
        use serde::de::Error as _;
        let table = toml::Table::deserialize(deserializer)?;
        let mut values = Vec::with_capacity(table.len());
        for (name, value) in table {
            let index = Key::position(&name).ok_or_else(|| {
                D::Error::custom(format!("unknown key {name:?} (README.md lists the keys)"))
            })?;
            let value = match value {
                // Only a key of tables takes them; it takes nothing else.
                toml::Value::Array(_) | toml::Value::Table(_)
                    if matches!(KEYS[index].kind(), Kind::Tables) =>
                {
                    Value::Tables(serde_json::to_value(&value).map_err(D::Error::custom)?)
                }
                _ if matches!(KEYS[index].kind(), Kind::Tables) => {
                    let written = if name == "feeds" {
                        "[feeds.NAME]".to_string()
                    } else {
                        format!("[[{name}]]")
                    };
                    return Err(D::Error::custom(format!(
                        "{name} is written as {written} tables"
                    )));
                }
                toml::Value::String(text) => Value::Text(text),
                toml::Value::Boolean(flag) => Value::Flag(flag),
                toml::Value::Integer(number) if number >= 0 => Value::Number(number.unsigned_abs()),
                other => {
                    return Err(D::Error::custom(format!(
                        "{name}: {other} is not a string, a whole number or a boolean"
                    )));
                }
            };
            values.push((index, value));
        }
        values.sort_by_key(|(index, _)| *index);
        Ok(Layer { values })
    }
}

/// Names the keys only: their values may be secrets.
impl fmt::Debug for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.values.iter().map(|(index, _)| KEYS[*index].name))
            .finish()
    }
}
