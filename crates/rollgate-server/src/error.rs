//! The one API error type. Every failure an HTTP client sees is an
//! [`AppError`] rendered as `{code, message, details}`, with a message that
//! says what to fix and never a secret.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rollgate_store::StoreError;
use serde_json::{Value, json};

#[derive(Debug)]
pub struct AppError {
    pub status: StatusCode,
    /// Stable machine-readable code, e.g. `PERMISSION_DENIED`.
    pub code: &'static str,
    pub message: String,
    pub details: Value,
}

impl AppError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> AppError {
        AppError {
            status,
            code,
            message: message.into(),
            details: Value::Object(Default::default()),
        }
    }

    pub fn with_details(mut self, details: Value) -> AppError {
        self.details = details;
        self
    }

    pub fn invalid_argument(message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", message)
    }

    pub fn unauthenticated(message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", message)
    }

    pub fn not_found(message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::NOT_FOUND, "NOT_FOUND", message)
    }

    pub fn internal() -> AppError {
        AppError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "internal server error; see the server log",
        )
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let body = json!({
            "code": self.code,
            "message": self.message,
            "details": self.details,
        });
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<StoreError> for AppError {
    fn from(error: StoreError) -> AppError {
        match &error {
            StoreError::NotFound { .. } => AppError::not_found(error.to_string()),
            StoreError::Conflict { .. } => {
                AppError::new(StatusCode::CONFLICT, "ALREADY_EXISTS", error.to_string())
            }
            StoreError::Invalid { .. } => AppError::invalid_argument(error.to_string()),
            // The driver's text goes to the log only: it may name hosts or
            // users of the metadata store.
            StoreError::Database { .. } => {
                tracing::error!(%error, "metadata store error");
                AppError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "UNAVAILABLE",
                    "the metadata store is unavailable; retry later",
                )
            }
        }
    }
}

/// The last word on error bodies: a 4xx/5xx response that is not JSON (an
/// extractor's plain-text rejection, such as a path segment that is not
/// UTF-8 or not a number) becomes an [`AppError`] with the same status and
/// the rejection's text as its message, so every error has one shape.
pub(crate) async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let code = match status {
        StatusCode::NOT_FOUND => "NOT_FOUND",
        StatusCode::METHOD_NOT_ALLOWED => "METHOD_NOT_ALLOWED",
        StatusCode::PAYLOAD_TOO_LARGE => "PAYLOAD_TOO_LARGE",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "UNSUPPORTED_MEDIA_TYPE",
        StatusCode::UNAUTHORIZED => "UNAUTHENTICATED",
        StatusCode::FORBIDDEN => "PERMISSION_DENIED",
        s if s.is_server_error() => "INTERNAL",
        _ => "INVALID_ARGUMENT",
    };
    // Rejection texts are short; anything longer is cut rather than buffered.
    let bytes = axum::body::to_bytes(response.into_body(), 4096)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes).trim().to_string();
    let message = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("the request failed")
            .to_string()
    } else {
        format!("{text}; fix the request's path, query or body")
    };
    AppError::new(status, code, message).into_response()
}
