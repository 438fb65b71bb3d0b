//! The admin API's refusals: one [`ApiError`] with a status and a stable
//! code, the conversions from the errors of the subsystems the API calls,
//! and the JSON answers, good or bad.

use bytes::Bytes;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};
use serde_json::{Value, json};

use crate::embed::EmbedError;
use crate::http::form::FormError;
use crate::http::response::{self, Body};
use crate::store::StoreError;
use crate::warm::WarmError;

/// A refusal, as the API answers it.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
    /// More about the refusal, for a program: where in a template it is.
    pub(crate) details: Option<Value>,
}

impl ApiError {
    pub(crate) fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            details: None,
        }
    }

    /// Something that should not happen did (a task panicked): 500.
    pub(crate) fn internal(error: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            error.to_string(),
        )
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            error.to_string(),
        )
    }
}

impl From<WarmError> for ApiError {
    fn from(error: WarmError) -> ApiError {
        let message = error.to_string();
        let (status, code) = match error {
            WarmError::TooManyJobs => (StatusCode::TOO_MANY_REQUESTS, "too_many_jobs"),
            WarmError::TooManyRecipients => (StatusCode::PAYLOAD_TOO_LARGE, "too_many"),
            WarmError::NoRecipients => (StatusCode::BAD_REQUEST, "bad_request"),
            WarmError::NoJob | WarmError::NotHere => (StatusCode::NOT_FOUND, "no_job"),
            WarmError::Store(store) => return store.into(),
        };
        ApiError::new(status, code, message)
    }
}

impl From<EmbedError> for ApiError {
    fn from(error: EmbedError) -> ApiError {
        let code = match error {
            EmbedError::UnknownEsp(_) => "unknown_esp",
            EmbedError::BadAttribute(_) => "bad_attribute",
            EmbedError::BadEmailId(_) => "bad_email_id",
            EmbedError::BadBase(_) => "bad_base_url",
        };
        ApiError::new(StatusCode::BAD_REQUEST, code, error.to_string())
    }
}

/// The answer to a refused call: `{"error": {"code", "message",
/// "details"?}}`, and for a 401 the challenge.
pub(crate) fn error_response(error: ApiError) -> Response<Body> {
    let mut refusal = json!({ "code": error.code, "message": error.message });
    if let Some(details) = error.details {
        refusal["details"] = details;
    }
    let mut response = json_response(error.status, &json!({ "error": refusal }));
    if error.status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"opentime\""),
        );
    }
    response
}

pub(crate) fn body_error(error: FormError) -> ApiError {
    match error {
        FormError::TooLarge(_) => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            error.to_string(),
        ),
        FormError::TooSlow => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            error.to_string(),
        ),
        other => ApiError::bad_request(other.to_string()),
    }
}

pub(crate) fn json_response(status: StatusCode, value: &Value) -> Response<Body> {
    response::no_store(status, "application/json", Bytes::from(value.to_string()))
}
