//! Errors as HTTP answers: a status, a JSON body the fal clients read
//! (`detail`, `error_type`) and the `X-Fal-Error-Type` header.
//!
//! Statuses: 422 the request's own fault (its body, its media, its words),
//! 499 cancelled, 504 not started before its deadline, 500 Vantage's fault.
//! Never 503: on fal a 503 from a job endpoint gets the runner killed.

use crate::model::{ErrorBody, FieldError, FieldRemedy, ValidationErrors};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use vantage_app::{AppError, Failure, Remedy};
use vantage_core::ErrorKind;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiError {
    pub status: u16,
    pub error_type: String,
    /// The response body: `{"detail": [...]}` or an [`ErrorBody`].
    pub body: Value,
}

impl ApiError {
    /// A 422 naming each field that is wrong.
    pub fn validation(detail: Vec<FieldError>) -> Self {
        ApiError {
            status: 422,
            error_type: "validation_error".into(),
            body: to_value(&ValidationErrors { detail }),
        }
    }

    pub fn new(status: u16, error_type: &str, detail: impl Into<String>) -> Self {
        Self::with_remedies(status, error_type, detail, Vec::new())
    }

    fn with_remedies(
        status: u16,
        error_type: &str,
        detail: impl Into<String>,
        remedies: Vec<FieldRemedy>,
    ) -> Self {
        let body = ErrorBody {
            detail: detail.into(),
            error_type: error_type.into(),
            remedies,
        };
        ApiError {
            status,
            error_type: error_type.into(),
            body: to_value(&body),
        }
    }

    pub fn cancelled() -> Self {
        Self::new(
            499,
            "client_cancelled",
            "the request was cancelled; its finished stages stay cached",
        )
    }

    /// A failed run. `field` names a `stage.param` as the request's own
    /// field where it has one (`analyze.on_mismatch` is `on_mismatch` for a sync).
    pub fn from_app(e: &AppError, field: fn(&str, &str) -> String) -> Self {
        let failure = Failure::from(e);
        let remedies = failure
            .remedies
            .iter()
            .filter_map(|r| match r {
                Remedy::SetParam {
                    stage,
                    param,
                    choices,
                } => Some(FieldRemedy {
                    field: field(stage, param),
                    choices: choices.clone(),
                }),
                Remedy::FetchWeights { .. } => None,
            })
            .collect();
        let (status, error_type) = match failure.kind {
            ErrorKind::InvalidInput => (422, "invalid_input"),
            ErrorKind::DifferentContent => (422, "different_content"),
            ErrorKind::MissingWeights => (422, "missing_weights"),
            ErrorKind::Cancelled => return Self::cancelled(),
            ErrorKind::ToolFailure => (500, "tool_failure"),
            ErrorKind::Internal => (500, "internal_error"),
        };
        let mut message = failure.message;
        if let Some(Remedy::FetchWeights { name }) = failure
            .remedies
            .iter()
            .find(|r| matches!(r, Remedy::FetchWeights { .. }))
        {
            message.push_str(&format!(
                " (this server has no '{name}' weights: choose an installed model, or ask its operator to run `vantage weights fetch {name}`)"
            ));
        }
        Self::with_remedies(status, error_type, message, remedies)
    }

    /// As one item's error in a batch or a stream: the message, the type, the remedies.
    pub fn to_body(&self) -> ErrorBody {
        ErrorBody {
            detail: self.message(),
            error_type: self.error_type.clone(),
            remedies: serde_json::from_value(self.body["remedies"].clone()).unwrap_or_default(),
        }
    }

    /// One line for the queue status's `error` field and the logs.
    pub fn message(&self) -> String {
        match self.body.get("detail") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(errors)) => errors
                .iter()
                .map(|e| {
                    let loc: Vec<String> = e["loc"]
                        .as_array()
                        .map(|l| {
                            l.iter()
                                .skip(1)
                                .map(|s| s.as_str().map_or_else(|| s.to_string(), str::to_string))
                                .collect()
                        })
                        .unwrap_or_default();
                    format!("{}: {}", loc.join("."), e["msg"].as_str().unwrap_or(""))
                })
                .collect::<Vec<_>>()
                .join("; "),
            _ => self.error_type.clone(),
        }
    }
}

fn to_value<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = (status, axum::Json(self.body)).into_response();
        if let Ok(v) = HeaderValue::from_str(&self.error_type) {
            resp.headers_mut().insert("x-fal-error-type", v);
        }
        if self.error_type == "request_timeout" {
            // The JS client does not retry a 504 that says it is the caller's deadline.
            resp.headers_mut().insert(
                "x-fal-request-timeout-type",
                HeaderValue::from_static("user"),
            );
        }
        resp
    }
}
