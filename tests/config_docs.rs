//! README.md's configuration table, checked against the one declaration of
//! the keys ([`opentime::config::KEYS`]): every key is in the table with
//! its real default, and the table names no key that does not exist, so an
//! operator reading it is never told of a setting opentime ignores.

use std::collections::BTreeMap;
use std::path::Path;

use opentime::config::{Config, KEYS};

/// The table's rows, by key: the default column of each. A row may name
/// several keys (`signing_keys` / `signing_keys_file`), which share it.
fn readme_table() -> BTreeMap<String, String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(path).expect("README.md is readable");
    let table = readme
        .lines()
        .skip_while(|line| line.trim() != "| key | default | meaning |")
        .skip(2)
        .take_while(|line| line.starts_with('|'));
    let mut rows = BTreeMap::new();
    for line in table {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        assert!(cells.len() >= 4, "a row without three columns: {line}");
        for name in backticked(cells[1]) {
            let earlier = rows.insert(name.to_string(), cells[2].to_string());
            assert!(earlier.is_none(), "{name} has two rows");
        }
    }
    assert!(!rows.is_empty(), "README.md has no configuration table");
    rows
}

/// The `quoted` words of a cell.
fn backticked(cell: &str) -> impl Iterator<Item = &str> {
    cell.split('`').skip(1).step_by(2)
}

#[test]
fn the_readme_table_lists_every_key_with_its_default() {
    let rows = readme_table();
    let defaults = Config::default();
    for key in KEYS {
        let Some(cell) = rows.get(key.name) else {
            panic!("README.md's configuration table lacks {}", key.name);
        };
        match key.show(&defaults) {
            Some(default) => assert!(
                cell.starts_with(&format!("`{default}`")),
                "README.md gives {} the default {cell:?}; it is `{default}`",
                key.name
            ),
            None => assert!(
                cell.starts_with("unset"),
                "{} has no default, but README.md gives it {cell:?}",
                key.name
            ),
        }
    }
}

#[test]
fn the_readme_table_names_no_key_that_does_not_exist() {
    for name in readme_table().keys() {
        assert!(
            KEYS.iter().any(|key| key.name == name),
            "README.md's configuration table names {name}, which opentime does not read"
        );
    }
}

/// README.md promises that `OPENTIME_<KEY>` overrides every key.
#[test]
fn every_key_is_overridden_by_its_upper_case_variable() {
    let variables = Config::environment_names();
    for key in KEYS {
        let variable = format!("OPENTIME_{}", key.name.to_ascii_uppercase());
        assert_eq!(key.env, variable);
        assert!(variables.contains(&variable), "{variable}");
    }
    assert_eq!(variables.len(), KEYS.len());
}
