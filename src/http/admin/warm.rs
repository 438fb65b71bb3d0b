//! `POST /api/v1/warm` (a JSON order with its `recipients`, or NDJSON
//! lines with the order in the query string), `GET /api/v1/warm/{job}`
//! and `DELETE /api/v1/warm/{job}`: the admin API's side of cache warming,
//! which reads orders and lists and hands them to the jobs of
//! [`crate::warm`].

use std::collections::BTreeMap;

use crate::http::body::RequestBody;
use bytes::Bytes;
use hyper::StatusCode;
use serde::Deserialize;
use serde_json::Value;

use super::error::{ApiError, body_error};
use super::recipients::recipient_named;
use crate::app::App;
use crate::expr::Opener;
use crate::http::form::read_limited;
use crate::http::lines::{Line, LineReader};
use crate::open::{QueryPairs, Target};
use crate::recipient::RecipientId;
use crate::render::OutputFormat;
use crate::template::Template;
use crate::warm::{MAX_RECIPIENTS, Order, WarmError};

/// The largest JSON order read; longer lists come as NDJSON.
const MAX_JSON_ORDER: usize = 16 * 1024 * 1024;

/// The longest line of an NDJSON list.
const MAX_LINE: usize = 4096;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrderJson {
    template: String,
    #[serde(default)]
    scale: Option<u32>,
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    user_agent: Option<String>,
    #[serde(default)]
    opener: Option<String>,
    #[serde(default)]
    query: BTreeMap<String, String>,
    #[serde(default)]
    recipients: Vec<String>,
}

/// `POST /api/v1/warm`: a JSON order with its `recipients`, or an NDJSON
/// body of `{"recipient": ...}` lines with the order in the query string.
pub(super) async fn start(
    app: &App,
    query: &QueryPairs,
    content_type: Option<&str>,
    body: RequestBody,
) -> Result<Value, ApiError> {
    let ndjson = content_type.is_some_and(|value| {
        let essence = value.split(';').next().unwrap_or_default().trim();
        essence.eq_ignore_ascii_case("application/x-ndjson")
            || essence.eq_ignore_ascii_case("application/jsonl")
    });
    // Refused before the list is read, so that parallel calls do not each
    // hold one.
    app.warm_jobs.check_room()?;
    let (order, recipients) = if ndjson {
        for (name, _) in &query.0 {
            if !["template", "scale", "format", "user_agent", "opener"].contains(&name.as_str()) {
                return Err(ApiError::bad_request(format!(
                    "{name:?} is not a warming parameter: template, scale, format, user_agent, opener"
                )));
            }
        }
        let order = OrderJson {
            template: query.get("template").unwrap_or_default().to_string(),
            scale: match query.get("scale") {
                Some(scale) => Some(
                    scale
                        .parse()
                        .map_err(|_| ApiError::bad_request("scale is 1 or 2"))?,
                ),
                None => None,
            },
            format: query.get("format").map(str::to_string),
            user_agent: query.get("user_agent").map(str::to_string),
            opener: query.get("opener").map(str::to_string),
            query: BTreeMap::new(),
            recipients: Vec::new(),
        };
        let order = check_order(app, order)?;
        (order, read_list(body).await?)
    } else {
        let bytes = read_limited(body, MAX_JSON_ORDER)
            .await
            .map_err(body_error)?;
        let mut json: OrderJson = serde_json::from_slice(&bytes).map_err(|error| {
            ApiError::bad_request(format!(
                "send {{\"template\": name, \"recipients\": [ids], ...}} or NDJSON: {error}"
            ))
        })?;
        if json.recipients.len() > MAX_RECIPIENTS {
            return Err(WarmError::TooManyRecipients.into());
        }
        let recipients = std::mem::take(&mut json.recipients)
            .iter()
            .enumerate()
            .map(|(index, id)| {
                recipient_named(id).map_err(|error| {
                    ApiError::bad_request(format!("recipients[{index}]: {}", error.message))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        (check_order(app, json)?, recipients)
    };
    let rate = app.config.warm.rate;
    Ok(app
        .warm_jobs
        .start(&app.pipeline, rate, order, recipients)?)
}

/// `GET /api/v1/warm/{job}`.
pub(super) async fn progress(app: &App, job: &str) -> Result<Value, ApiError> {
    Ok(app.warm_jobs.progress(&app.store, job).await?)
}

/// `DELETE /api/v1/warm/{job}`: stops a job of this replica.
pub(super) fn cancel(app: &App, job: &str) -> Result<Value, ApiError> {
    Ok(app.warm_jobs.cancel(job)?)
}

fn check_order(app: &App, order: OrderJson) -> Result<Order, ApiError> {
    let template = app.templates.get(&order.template).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no_template",
            format!("no template {:?} is loaded", order.template),
        )
    })?;
    let target = target_of(&template, order.scale, order.format.as_deref())?;
    let opener = opener_named(order.opener.as_deref())?;
    let mut query = BTreeMap::new();
    for (name, value) in order.query {
        match template.params.get(&name) {
            Some(spec) if value.len() <= spec.max_len => {
                query.insert(name, value);
            }
            Some(_) => {
                return Err(ApiError::bad_request(format!("query.{name} is too long")));
            }
            None => {
                return Err(ApiError::bad_request(format!(
                    "query.{name} is not a parameter the template declares"
                )));
            }
        }
    }
    Ok(Order {
        target,
        template,
        user_agent: order.user_agent,
        opener,
        query,
    })
}

/// The image a warm job or a preview renders: the template's format and
/// 1x unless asked otherwise, and only what the template offers.
pub(crate) fn target_of(
    template: &Template,
    scale: Option<u32>,
    format: Option<&str>,
) -> Result<Target, ApiError> {
    let format = match format.filter(|name| !name.is_empty()) {
        None => template.format,
        Some(name) => OutputFormat::from_extension(name)
            .ok_or_else(|| ApiError::bad_request("format is png, jpg or gif"))?,
    };
    if format == OutputFormat::Gif && template.timer.is_none() {
        return Err(ApiError::bad_request("only a countdown template is a gif"));
    }
    let scale = scale.unwrap_or(1);
    if !template.allows_scale(scale) {
        return Err(ApiError::bad_request(
            "the template does not offer that scale",
        ));
    }
    Ok(Target { scale, format })
}

/// The opener the rules see: a person unless named.
pub(crate) fn opener_named(label: Option<&str>) -> Result<Opener, ApiError> {
    match label.filter(|label| !label.is_empty()) {
        None => Ok(Opener::Human),
        Some(label) => Opener::from_str_label(label).ok_or_else(|| {
            ApiError::bad_request(
                "opener is human, apple_proxy, gmail_proxy, yahoo_proxy or scanner",
            )
        }),
    }
}

/// The ids of an NDJSON body; the first bad line fails the call, naming it.
async fn read_list(body: RequestBody) -> Result<Vec<RecipientId>, ApiError> {
    #[derive(Deserialize)]
    struct Item {
        recipient: String,
    }
    let mut reader = LineReader::new(body, MAX_LINE);
    let mut recipients = Vec::new();
    while let Some(line) = reader
        .next_line()
        .await
        .map_err(|error| ApiError::bad_request(error.to_string()))?
    {
        let (number, bytes): (u64, Bytes) = match line {
            Line::Text { number, bytes } => (number, bytes),
            Line::TooLong { number } => {
                return Err(ApiError::bad_request(format!("line {number} is too long")));
            }
        };
        let item: Item = serde_json::from_slice(&bytes).map_err(|error| {
            ApiError::bad_request(format!(
                "line {number}: a line is {{\"recipient\": id, ...}}: {error}"
            ))
        })?;
        let id = recipient_named(&item.recipient)
            .map_err(|error| ApiError::bad_request(format!("line {number}: {}", error.message)))?;
        if recipients.len() == MAX_RECIPIENTS {
            return Err(WarmError::TooManyRecipients.into());
        }
        recipients.push(id);
    }
    Ok(recipients)
}
