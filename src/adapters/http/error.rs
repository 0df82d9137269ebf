//! The API's error type: a status and a JSON body `{"error": "..."}` (a 409 also carries the
//! controller's `report`). Internal errors are logged with their cause and answered without it.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// What a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No or a wrong bearer token.
    #[error("missing or invalid bearer token")]
    Unauthorized,
    /// The mutating endpoints are disabled (no admin token configured).
    #[error(
        "mutating endpoints are disabled: set the environment variable named by server.admin_token_env"
    )]
    Disabled,
    /// Push ingest is disabled (no ingest token configured).
    #[error(
        "push ingest is disabled: set the environment variable named by server.ingest_token_env"
    )]
    DisabledIngest,
    /// The body is larger than the configured limit.
    #[error("{0}")]
    TooLarge(String),
    /// The body's content type or encoding is not one the endpoint reads.
    #[error("{0}")]
    UnsupportedMedia(String),
    /// Nothing with that id or key.
    #[error("{0} not found")]
    NotFound(String),
    /// The request is malformed or not allowed in the current state.
    #[error("{0}")]
    BadRequest(String),
    /// The command is not allowed in the rollout's current phase; the body says why.
    #[error("the command was rejected in the rollout's current phase")]
    Conflict(serde_json::Value),
    /// The store or something else failed.
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl From<crate::adapters::store::StoreError> for ApiError {
    fn from(err: crate::adapters::store::StoreError) -> ApiError {
        ApiError::Internal(err.into())
    }
}

/// A 409's body: the controller's reason as `error` (what the README promises), and its whole
/// report as `report`.
fn conflict_body(report: &serde_json::Value) -> serde_json::Value {
    let reason = report
        .get("reason")
        .and_then(serde_json::Value::as_str)
        .filter(|reason| !reason.trim().is_empty())
        .map_or_else(
            || "the command was rejected in the rollout's current phase".to_string(),
            |reason| format!("rejected: {reason}"),
        );
    serde_json::json!({ "error": reason, "report": report })
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Disabled | ApiError::DisabledIngest => StatusCode::FORBIDDEN,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMedia(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Internal(err) => {
                tracing::error!(error = format!("{err:#}"), "api request failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let body = match &self {
            ApiError::Conflict(report) => conflict_body(report),
            _ => serde_json::json!({ "error": self.to_string() }),
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}
