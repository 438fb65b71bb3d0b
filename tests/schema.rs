//! `opentime schema`: the JSON Schema of the template format accepts every
//! shipped template, refuses what the loader refuses for its shape
//! (unknown fields, unknown values), and the copy in `docs/` is current.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn printed_schema() -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_opentime"))
        .arg("schema")
        // A broken configuration does not stop the schema.
        .env("OPENTIME_LISTEN", "not an address")
        .output()
        .expect("the opentime binary runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the schema is JSON")
}

fn shipped_templates() -> Vec<(String, Value)> {
    let mut templates: Vec<(String, Value)> = std::fs::read_dir(root().join("assets/templates"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            (
                path.display().to_string(),
                serde_json::from_str(&text).unwrap(),
            )
        })
        .collect();
    templates.sort_by(|a, b| a.0.cmp(&b.0));
    templates
}

#[test]
fn the_schema_accepts_every_shipped_template() {
    let schema = printed_schema();
    let validator = jsonschema::validator_for(&schema).expect("the schema is a valid JSON Schema");
    let templates = shipped_templates();
    assert!(templates.len() >= 5);
    for (path, template) in &templates {
        let errors: Vec<String> = validator
            .iter_errors(template)
            .map(|error| format!("{}: {error}", error.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{path}: {errors:#?}");
    }
}

#[test]
fn the_schema_refuses_unknown_fields_and_values() {
    let validator = jsonschema::validator_for(&printed_schema()).unwrap();
    let card = |layer: Value, top: Value| {
        let mut template = json!({
            "$schema": "../../docs/template.schema.json",
            "name": "card", "width": 300, "height": 80, "access": "public",
            "variants": [ { "id": "default", "link": "https://example.com/",
                            "layers": [ layer ] } ]
        });
        for (key, value) in top.as_object().unwrap() {
            template[key] = value.clone();
        }
        template
    };
    let text = json!({ "type": "text", "x": 0, "y": 0, "width": 300, "height": 80,
                       "text": "Hello", "size": 24 });
    assert!(validator.is_valid(&card(text.clone(), json!({}))));

    let mut typo = text.clone();
    typo["colour"] = json!("#ffffff");
    assert!(
        !validator.is_valid(&card(typo, json!({}))),
        "a misspelt field"
    );
    assert!(
        !validator.is_valid(&card(text.clone(), json!({ "acess": "public" }))),
        "a misspelt top-level field"
    );
    assert!(
        !validator.is_valid(&card(text.clone(), json!({ "access": "open" }))),
        "an unknown access mode"
    );
    let mut weight = text.clone();
    weight["weight"] = json!("heavy-ish");
    assert!(
        !validator.is_valid(&card(weight, json!({}))),
        "an unknown weight"
    );
    let unknown_layer = json!({ "type": "video", "x": 0, "y": 0, "width": 1, "height": 1 });
    assert!(
        !validator.is_valid(&card(unknown_layer, json!({}))),
        "an unknown layer type"
    );
    let mut missing = text;
    missing.as_object_mut().unwrap().remove("text");
    assert!(
        !validator.is_valid(&card(missing, json!({}))),
        "a required field"
    );
}

#[test]
fn the_schema_in_docs_is_what_opentime_schema_prints() {
    let shipped: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("docs/template.schema.json")).unwrap(),
    )
    .unwrap();
    assert!(
        shipped == printed_schema(),
        "docs/template.schema.json is stale: run `cargo run -- schema > docs/template.schema.json`"
    );
}
