//! The shape of the house, checked: the layers of `src/` import only
//! downward, only `http/` serves with hyper (`remote/` and `opentime warm`
//! fetch with it), and
//! no source file outgrows a sitting (ARCHITECTURE.md, "Invariants").
//!
//! It reads the sources as text: `crate::X` paths outside comments and
//! test modules are the imports of module `X`'s files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The crate's top-level modules, lowest layer first. A module may import
/// from its own layer's neighbours only if no circle forms, and from lower
/// layers freely.
const LAYERS: &[&[&str]] = &[
    &[
        "clock",
        "countdown",
        "geo",
        "metrics",
        "prefs",
        "render",
        "words",
    ],
    &["recipient"],
    &["expr", "access"],
    &["poll", "template"],
    &["events", "store"],
    &[
        "remote",
        "cache",
        "sources",
        "feeds",
        "experiments",
        "reports",
    ],
    &["open"],
    &["check", "warm", "embed", "webhooks"],
    &["config", "app"],
    &["http", "cli"],
];

/// The most lines a source file may have before its test module.
const MAX_LINES: usize = 700;

#[test]
fn modules_import_only_downward_and_form_no_circle() {
    let imports = crate_imports();
    let layer_of = |module: &str| {
        LAYERS
            .iter()
            .position(|layer| layer.contains(&module))
            .unwrap_or_else(|| panic!("src/{module} is in no layer of tests/architecture.rs"))
    };
    let mut upward = Vec::new();
    for ((from, to), files) in &imports {
        if layer_of(to) > layer_of(from) {
            upward.push(format!("{from} -> {to} ({})", files.join(", ")));
        }
    }
    assert!(
        upward.is_empty(),
        "imports from a lower layer up to a higher one:\n{}",
        upward.join("\n")
    );
    let circles = circles(&imports);
    assert!(circles.is_empty(), "import circles: {circles:?}");
}

#[test]
fn only_http_and_remote_speak_hyper() {
    for file in source_files() {
        let module = top_module(&file);
        // `opentime warm` is a client of the server's own API.
        let client = file.ends_with("cli/warm.rs");
        if module == "http" || module == "remote" || client {
            continue;
        }
        let code = code_of(&file);
        assert!(
            !code.contains("hyper::"),
            "{} uses hyper: only http/ (serving), remote/ and cli/warm.rs (fetching) may",
            file.display()
        );
    }
}

#[test]
fn no_source_file_outgrows_a_sitting() {
    let mut long = Vec::new();
    for file in source_files() {
        let text = std::fs::read_to_string(&file).expect("a source file");
        let lines = text
            .lines()
            .take_while(|line| !line.starts_with("#[cfg(test)]"))
            .count();
        if lines > MAX_LINES {
            long.push(format!("{} ({lines} lines)", file.display()));
        }
    }
    assert!(
        long.is_empty(),
        "files over {MAX_LINES} lines before their tests: {long:?}"
    );
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn source_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("a source folder") {
            let path = entry.expect("a folder entry").path();
            if path.is_dir() {
                walk(&path, files);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                files.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&src(), &mut files);
    files.sort();
    files
}

/// `http` for `src/http/image.rs`, `app` for `src/app.rs`.
fn top_module(file: &Path) -> String {
    let relative = file.strip_prefix(src()).expect("a file under src/");
    let first = relative
        .components()
        .next()
        .expect("a path")
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

/// A file's code: without comment lines, and without its test module
/// (tests may reach anywhere).
fn code_of(file: &Path) -> String {
    let text = std::fs::read_to_string(file).expect("a source file");
    text.lines()
        .take_while(|line| !line.starts_with("#[cfg(test)]"))
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Each (importing module, imported module) pair, with the files that
/// import.
fn crate_imports() -> BTreeMap<(String, String), Vec<String>> {
    let mut imports: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for file in source_files() {
        let from = top_module(&file);
        if from == "lib" || from == "main" {
            continue;
        }
        let code = code_of(&file);
        let mut named = BTreeSet::new();
        for (index, _) in code.match_indices("crate::") {
            let rest = &code[index + "crate::".len()..];
            let to: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !to.is_empty() && to != from {
                named.insert(to);
            }
        }
        // `use crate::{a, b}` names several modules at once.
        for (index, _) in code.match_indices("crate::{") {
            let rest = &code[index + "crate::{".len()..];
            let group = rest.split('}').next().unwrap_or_default();
            for item in group.split(',') {
                let to: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !to.is_empty() && to != from {
                    named.insert(to);
                }
            }
        }
        let shown = file
            .strip_prefix(src())
            .expect("a file under src/")
            .display()
            .to_string();
        for to in named {
            imports
                .entry((from.clone(), to))
                .or_default()
                .push(shown.clone());
        }
    }
    imports
}

/// The groups of modules that import each other in a circle.
fn circles(imports: &BTreeMap<(String, String), Vec<String>>) -> Vec<BTreeSet<String>> {
    let mut graph: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (from, to) in imports.keys() {
        graph.entry(from).or_default().insert(to);
    }
    let reaches = |start: &str| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![start];
        while let Some(module) = todo.pop() {
            for next in graph.get(module).into_iter().flatten() {
                if seen.insert(*next) {
                    todo.push(next);
                }
            }
        }
        seen
    };
    let mut circles: Vec<BTreeSet<String>> = Vec::new();
    for &module in graph.keys() {
        let from_here = reaches(module);
        if !from_here.contains(module) {
            continue;
        }
        let circle: BTreeSet<String> = from_here
            .iter()
            .filter(|other| reaches(other).contains(module))
            .map(|other| other.to_string())
            .collect();
        if !circles.contains(&circle) {
            circles.push(circle);
        }
    }
    circles
}
