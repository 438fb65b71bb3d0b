//! The studio's calls:
//!
//! - `GET /preview/source?template=NAME`: the template's JSON as it is
//!   written (its file now, or what the admin API stored), its origin and
//!   the version that serves;
//! - `POST /preview/board`: `{template, source, samples, state, query,
//!   now, user_agent, opener, scales}` in. `source`, when given, is the
//!   editor's text: it is loaded as the admin API's put would load it, and
//!   never stored. Out: the same errors and warnings as `opentime check`,
//!   each with the line and column of the field it names; the fields the
//!   template reads with each sample's value; every variant with its
//!   layers' frames; and one image per variant, sample and scale, each
//!   variant forced, with the variant the rules choose for that sample
//!   marked (and a countdown's first frame, which is all Outlook on
//!   Windows shows);
//! - `PUT /preview/templates/{name}`: saves through the admin API's put, so
//!   an invalid template is refused there and never stored; a refusal
//!   names the line.
//!
//! A sample is `none` (a recipient without state, as a test send sees),
//! `state` (the profile the request gives) or a demo recipient's id.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use hyper::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::super::admin::error::ApiError;
use super::super::admin::recipients::fields_of;
use super::super::admin::templates::{self, MAX_TEMPLATE_BYTES};
use super::super::admin::warm::{opener_named, target_of};
use super::{declared_query, moment, preview_error};
use crate::app::App;
use crate::check::{Finding, SampleSource, fields_read_by, load_sample_states, template_findings};
use crate::open::OWN_PROFILE_FIELDS;
use crate::open::QueryPairs;
use crate::open::preview::PreviewRequest;
use crate::recipient::{Profile, RecipientId};
use crate::render::OutputFormat;
use crate::template::locate::{Locator, Position, locate};
use crate::template::{Template, TemplateError};

/// The largest board request read: a template and a state.
pub const MAX_BOARD_BODY: usize = MAX_TEMPLATE_BYTES + 64 * 1024;
/// The most sample recipients one board shows.
const MAX_SAMPLES: usize = 8;
/// The most images one board renders.
const MAX_IMAGES: usize = 120;

pub(super) fn source(app: &App, query: &QueryPairs) -> Result<Value, ApiError> {
    let name = query.get("template").unwrap_or_default();
    let template = app.templates.get(name).ok_or_else(|| no_template(name))?;
    let (origin, bytes) = app
        .templates
        .source(name)
        .ok_or_else(|| no_template(name))?;
    Ok(json!({
        "template": name,
        "origin": origin.as_str(),
        "version": hex::encode(template.version),
        "text": String::from_utf8_lossy(&bytes),
    }))
}

pub(super) async fn save(app: &App, name: &str, body: Bytes) -> Result<Value, ApiError> {
    let text = String::from_utf8_lossy(&body).into_owned();
    templates::put(app, name, body).await.map_err(|mut error| {
        let field = error
            .details
            .as_ref()
            .and_then(|details| details["field"].as_str())
            .map(str::to_string);
        if let Some(position) = position_of(&text, field.as_deref(), &error.message)
            && let Some(details) = error.details.as_mut()
        {
            details["line"] = json!(position.line);
            details["column"] = json!(position.column);
        }
        error
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BoardRequest {
    template: String,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    samples: Vec<String>,
    #[serde(default)]
    state: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    query: BTreeMap<String, String>,
    #[serde(default)]
    now: Option<String>,
    #[serde(default)]
    user_agent: Option<String>,
    #[serde(default)]
    opener: Option<String>,
    #[serde(default)]
    scales: Vec<u32>,
}

/// One sample recipient of a board.
struct Sample {
    id: String,
    profile: Option<Profile>,
    /// Whose id the template's sources are called with: a demo
    /// recipient's own. `none` and `state` name no one, so their sources
    /// are called as for an open without a token, never with the sample's
    /// name as a customer's id.
    recipient: Option<RecipientId>,
}

pub(super) async fn board(app: &App, body: &[u8]) -> Result<Value, ApiError> {
    let request: BoardRequest = serde_json::from_slice(body)
        .map_err(|error| ApiError::bad_request(format!("a board request: {error}")))?;
    let (template, warnings) = match &request.source {
        Some(text) => match checked(app, &request.template, text).await? {
            Ok(checked) => checked,
            Err(error) => {
                return Ok(json!({
                    "template": request.template,
                    "valid": false,
                    "errors": [located_error(text, &error)],
                    "warnings": [],
                }));
            }
        },
        None => {
            let template = app
                .templates
                .get(&request.template)
                .ok_or_else(|| no_template(&request.template))?;
            (template, Vec::new())
        }
    };
    let text = request.source.as_deref().unwrap_or_default();
    let warnings: Vec<Value> = warnings
        .iter()
        .map(|finding| located_warning(text, &template, finding))
        .collect();
    let samples = samples_of(app, &request)?;
    let now = moment(app, request.now.as_deref())?;
    let opener = opener_named(request.opener.as_deref())?;
    let format = template.timer.is_some().then_some("gif");
    let mut scales = request.scales.clone();
    if scales.is_empty() {
        scales.push(1);
    }
    scales.sort_unstable();
    scales.dedup();
    let targets = scales
        .iter()
        .map(|&scale| target_of(&template, Some(scale), format))
        .collect::<Result<Vec<_>, _>>()?;
    let images = template.variants.len() * samples.len() * targets.len();
    if images > MAX_IMAGES {
        return Err(ApiError::bad_request(format!(
            "a board shows at most {MAX_IMAGES} images; this one would need {images}: choose fewer samples or one scale"
        )));
    }
    let query = declared_query(&template, request.query.clone());
    let user_agent = request.user_agent.clone().filter(|ua| !ua.is_empty());
    let mut cells = Vec::with_capacity(images);
    for variant in &template.variants {
        for sample in &samples {
            for target in &targets {
                let preview = app
                    .pipeline
                    .preview(
                        &template,
                        PreviewRequest {
                            profile: sample.profile.clone(),
                            recipient: sample.recipient.clone(),
                            query: query.clone(),
                            now,
                            user_agent: user_agent.clone(),
                            opener,
                            target: *target,
                            variant: Some(variant.id.clone()),
                        },
                    )
                    .await;
                let mut cell = json!({
                    "variant": variant.id,
                    "sample": sample.id,
                    "scale": target.scale,
                });
                match preview {
                    Ok(preview) => {
                        let link = preview.link.map_err(|error| error.to_string());
                        cell["chosen"] = json!(preview.chosen == variant.id);
                        cell["link"] = json!(link.as_ref().ok());
                        cell["link_error"] = json!(link.as_ref().err());
                        cell["render_ms"] =
                            json!((preview.render_time.as_secs_f64() * 100_000.0).round() / 100.0);
                        cell["bytes"] = json!(preview.bytes.len());
                        cell["image"] = json!(data_url(target.format, &preview.bytes));
                        if target.format == OutputFormat::Gif {
                            cell["first_frame"] = json!(first_frame(&preview.bytes));
                        }
                    }
                    Err(error) => cell["error"] = json!(preview_error(error).message),
                }
                cells.push(cell);
            }
        }
    }
    Ok(json!({
        "template": template.name,
        "valid": true,
        "version": hex::encode(template.version),
        "width": template.width,
        "height": template.height,
        "format": format.unwrap_or(template.format.extension()),
        "scales": scales,
        "errors": [],
        "warnings": warnings,
        "samples": samples.iter().map(|sample| sample.id.as_str()).collect::<Vec<_>>(),
        "fields": fields(&template, &samples, &with_defaults(&template, &query)),
        "variants": variants(&template, text),
        "cells": cells,
        "now": now.to_string(),
    }))
}

/// The editor's text loaded as the admin API's put loads it, with the
/// warnings `opentime check` gives it; or why it does not load.
async fn checked(
    app: &App,
    name: &str,
    text: &str,
) -> Result<Result<(Arc<Template>, Vec<Finding>), TemplateError>, ApiError> {
    if text.len() > MAX_TEMPLATE_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("a template holds at most {MAX_TEMPLATE_BYTES} bytes"),
        ));
    }
    let registry = app.templates.clone();
    let renderer = app.cache.renderer().clone();
    let demo_dir = app.config.store.demo_dir.clone();
    let name = name.to_string();
    let text = text.to_string();
    // Loading renders the fallback images: CPU work, off the reactor.
    tokio::task::spawn_blocking(move || {
        registry.validate(&name, text.as_bytes()).map(|template| {
            let findings = template_findings(&template, &renderer, &demo_dir);
            (Arc::new(template), findings)
        })
    })
    .await
    .map_err(ApiError::internal)
}

/// The samples a board asks for, in its order; the template's own demo
/// recipients (ids starting with its name) when it names none.
fn samples_of(app: &App, request: &BoardRequest) -> Result<Vec<Sample>, ApiError> {
    let states = load_sample_states(&app.config.store.demo_dir, &[]).unwrap_or_default();
    let demo = |id: &str| {
        states.iter().find_map(|state| match &state.source {
            SampleSource::Demo(demo) if demo == id => Some(state.profile.clone()),
            _ => None,
        })
    };
    let mut asked = request.samples.clone();
    if asked.is_empty() {
        asked.push("none".to_string());
        let prefix = format!("{}-", request.template);
        asked.extend(states.iter().filter_map(|state| match &state.source {
            SampleSource::Demo(id) if id.starts_with(&prefix) => Some(id.clone()),
            _ => None,
        }));
    }
    asked.dedup();
    asked.truncate(MAX_SAMPLES);
    asked
        .into_iter()
        .map(|id| {
            let (profile, recipient) = match id.as_str() {
                "none" => (None, None),
                "state" => {
                    let fields = fields_of(request.state.clone().unwrap_or_default())
                        .map_err(|message| ApiError::bad_request(format!("state: {message}")))?;
                    (Some(Profile::from_iter(fields)), None)
                }
                other => {
                    let profile = demo(other).ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "no sample {other:?}: a sample is none, state or a demo recipient's id"
                        ))
                    })?;
                    (profile, RecipientId::new(other).ok())
                }
            };
            Ok(Sample {
                id,
                profile,
                recipient,
            })
        })
        .collect()
}

/// The fields the template reads, each with every sample's value: a
/// profile field as the sample has it, a parameter as the URL would give
/// it; what the server fills at the open (the time, the opener, a poll's
/// results) has no sample value.
fn fields(template: &Template, samples: &[Sample], query: &BTreeMap<String, String>) -> Vec<Value> {
    fields_read_by(template)
        .into_iter()
        .map(|(root, field)| {
            let values: serde_json::Map<String, Value> = samples
                .iter()
                .map(|sample| {
                    let value = match root.as_str() {
                        "profile" => sample
                            .profile
                            .as_ref()
                            .and_then(|profile| profile.get(&field))
                            .map(str::to_string),
                        "query" => query.get(&field).cloned(),
                        _ => None,
                    };
                    (sample.id.clone(), json!(value))
                })
                .collect();
            let kept = root == "profile" && OWN_PROFILE_FIELDS.contains(&field.as_str());
            json!({
                "name": format!("{root}.{field}"),
                "filled_at_open": kept || !matches!(root.as_str(), "profile" | "query"),
                "values": values,
            })
        })
        .collect()
}

/// The parameters an open of a URL with `query` has: the template's
/// defaults, then what `query` gives.
fn with_defaults(
    template: &Template,
    query: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut all = template.default_query();
    all.extend(query.clone());
    all
}

/// Every variant: its condition and its layers' frames in 1x pixels, each
/// with where `text` writes it.
fn variants(template: &Template, text: &str) -> Vec<Value> {
    let locator = Locator::new(text);
    let place = |field: String| locator.as_ref().and_then(|locator| locator.find(&field));
    template
        .variants
        .iter()
        .enumerate()
        .map(|(variant_index, variant)| {
            let layers: Vec<Value> = variant
                .layers
                .iter()
                .enumerate()
                .map(|(index, layer)| {
                    let (kind, frame) = layer.outline();
                    let position = place(format!("variants[{variant_index}].layers[{index}]"));
                    json!({
                        "index": index,
                        "type": kind,
                        "x": frame.x,
                        "y": frame.y,
                        "width": frame.width,
                        "height": frame.height,
                        "line": position.map(|p| p.line),
                        "column": position.map(|p| p.column),
                    })
                })
                .collect();
            json!({
                "id": variant.id,
                "when": variant.condition.as_ref().map(|condition| condition.source()),
                "layers": layers,
            })
        })
        .collect()
}

/// A loading error with the place in `text` it concerns.
fn located_error(text: &str, error: &TemplateError) -> Value {
    let position = position_of(text, error.field.as_deref(), &error.message);
    json!({
        "field": error.field,
        "variant": error.variant,
        "message": match &error.field {
            Some(field) => format!("{field}: {}", error.message),
            None => error.message.clone(),
        },
        "line": position.map(|p| p.line),
        "column": position.map(|p| p.column),
    })
}

/// A warning with the place in `text` it concerns, its message without
/// the file name every warning of one template shares.
fn located_warning(text: &str, template: &Template, finding: &Finding) -> Value {
    let position = finding
        .field
        .as_deref()
        .and_then(|field| locate(text, field));
    let file = format!("{}: ", template.path.display());
    let message = finding
        .message
        .strip_prefix(&file)
        .unwrap_or(&finding.message);
    json!({
        "field": finding.field,
        "message": message,
        "line": position.map(|p| p.line),
        "column": position.map(|p| p.column),
    })
}

/// Where an error is: the JSON parser's own place when it gives one
/// (`... at line 4 column 7`), else where its field is written.
fn position_of(text: &str, field: Option<&str>, message: &str) -> Option<Position> {
    parser_position(message).or_else(|| locate(text, field?))
}

/// `line L column C` at the end of a JSON parser's message.
fn parser_position(message: &str) -> Option<Position> {
    let (_, place) = message.rsplit_once(" at line ")?;
    let (line, column) = place.split_once(" column ")?;
    Some(Position {
        line: line.trim().parse().ok()?,
        column: column.trim().parse().ok()?,
    })
}

fn data_url(format: OutputFormat, bytes: &[u8]) -> String {
    format!(
        "data:{};base64,{}",
        format.content_type(),
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// The first frame of a GIF as a PNG: what Outlook on Windows shows of an
/// animation. `None` when the bytes do not decode.
fn first_frame(gif_bytes: &[u8]) -> Option<String> {
    let mut options = gif::DecodeOptions::new();
    options.set_color_output(gif::ColorOutput::RGBA);
    let mut decoder = options.read_info(gif_bytes).ok()?;
    let (width, height) = (u32::from(decoder.width()), u32::from(decoder.height()));
    let frame = decoder.read_next_frame().ok()??;
    let mut canvas = image::RgbaImage::new(width, height);
    let frame_image = image::RgbaImage::from_raw(
        u32::from(frame.width),
        u32::from(frame.height),
        frame.buffer.to_vec(),
    )?;
    image::imageops::overlay(
        &mut canvas,
        &frame_image,
        i64::from(frame.left),
        i64::from(frame.top),
    );
    let mut png = Vec::new();
    canvas
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .ok()?;
    Some(data_url(OutputFormat::Png, &png))
}

fn no_template(name: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no_template",
        format!("no template {name:?} is loaded"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parser_error_gives_its_own_place() {
        assert_eq!(
            parser_position("expected `,` or `}` at line 4 column 7"),
            Some(Position { line: 4, column: 7 })
        );
        assert_eq!(parser_position("is not a color"), None);
    }

    #[test]
    fn an_error_without_a_parser_place_is_at_its_field() {
        let text = "{\n  \"name\": \"card\",\n  \"width\": -3\n}";
        assert_eq!(
            position_of(text, Some("width"), "must be positive"),
            Some(Position { line: 3, column: 3 })
        );
    }
}
