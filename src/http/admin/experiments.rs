//! Experiments: `GET /api/v1/experiments/{id}`, each arm's people,
//! successes and probability of being best, and the winner; and `POST
//! /api/v1/experiments/{id}/winner {"arm": "b"}`, a decision by hand,
//! which overrules the rule's.

use bytes::Bytes;
use hyper::StatusCode;
use serde_json::{Value, json};

use super::error::ApiError;
use crate::app::App;
use crate::experiments::{self, probability_best};
use crate::store::{Decision, Store};
use crate::template::{Experiment, Template};

/// The template running the experiment `id`.
fn running(app: &App, id: &str) -> Result<(std::sync::Arc<Template>, Experiment), ApiError> {
    app.templates
        .snapshot()
        .templates()
        .into_iter()
        .find_map(|template| {
            let experiment = template.experiment.clone().filter(|e| e.id == id)?;
            Some((template, experiment))
        })
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "no_experiment",
                format!("no loaded template runs the experiment {id:?}"),
            )
        })
}

/// `GET /api/v1/experiments/{id}`.
pub(super) async fn status(app: &App, store: &Store, id: &str) -> Result<Value, ApiError> {
    let (template, experiment) = running(app, id)?;
    let counts = experiments::arm_counts(store, &experiment).await?;
    let best = probability_best(&counts);
    let decision = store
        .experiment_decisions(&[experiment.id.as_str()])
        .await?
        .pop()
        .flatten();
    let arms: Vec<Value> = experiment
        .arms
        .iter()
        .zip(counts.iter().zip(best))
        .map(|(arm, (counts, best))| {
            json!({
                "arm": arm.name,
                "weight": arm.weight,
                "paused": arm.paused,
                "exposures": counts.exposures,
                "successes": counts.successes,
                "rate": (counts.exposures > 0)
                    .then(|| counts.successes as f64 / counts.exposures as f64),
                "probability_best": best,
            })
        })
        .collect();
    Ok(json!({
        "experiment": experiment.id,
        "template": template.name,
        "metric": match experiment.metric {
            crate::template::file::ExperimentMetric::Click => "click",
            crate::template::file::ExperimentMetric::Conversion => "conversion",
        },
        "winner_rule": experiment.winner.map(|rule| json!({
            "min_exposures": rule.min_exposures,
            "probability": rule.probability,
        })),
        "arms": arms,
        "winner": decision.map(decision_json),
    }))
}

/// `POST /api/v1/experiments/{id}/winner`.
pub(super) async fn decide(
    app: &App,
    store: &Store,
    id: &str,
    body: Bytes,
) -> Result<Value, ApiError> {
    let (template, experiment) = running(app, id)?;
    let asked: Value = serde_json::from_slice(&body)
        .map_err(|error| ApiError::bad_request(format!("the body is not JSON: {error}")))?;
    let arm = asked
        .get("arm")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("give the winning arm: {\"arm\": \"b\"}"))?;
    if experiment.arm(arm).is_none() {
        let names: Vec<&str> = experiment
            .arms
            .iter()
            .map(|arm| arm.name.as_str())
            .collect();
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "no_arm",
            format!(
                "{arm:?} is not an arm of {id:?}; its arms are {}",
                names.join(", ")
            ),
        ));
    }
    let decision = Decision {
        arm: arm.to_string(),
        at: app.clock.now().as_second(),
        by: "manual".into(),
    };
    experiments::decide(
        store,
        &app.events,
        &app.metrics,
        &app.decisions,
        &experiment,
        &template.name,
        decision.clone(),
    )
    .await?;
    Ok(json!({ "experiment": experiment.id, "winner": decision_json(decision) }))
}

fn decision_json(decision: Decision) -> Value {
    let at = jiff::Timestamp::from_second(decision.at)
        .map(|at| at.to_string())
        .unwrap_or_default();
    json!({ "arm": decision.arm, "at": at, "by": decision.by })
}
