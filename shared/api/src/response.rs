//! JSON responses and errors.

use lambda_http::{
    http::{header::CONTENT_TYPE, StatusCode},
    Body, Response,
};
use serde::Serialize;

/// A JSON response with `status`.
pub fn json(status: StatusCode, value: &impl Serialize) -> Response<Body> {
    let body = serde_json::to_string(value).unwrap_or_else(|_| "null".into());
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "application/json")
        .body(Body::Text(body))
        .expect("static response parts are valid")
}

/// A client error answered as `{"error": code, "message": …}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status (4xx).
    pub status: StatusCode,
    /// Stable machine-readable code (Cruddur's, e.g. `message_blank`).
    pub code: &'static str,
    /// Human-readable explanation.
    pub message: String,
}

impl ApiError {
    /// The error as a JSON response.
    pub fn into_response(self) -> Response<Body> {
        #[derive(Serialize)]
        struct Shape<'a> {
            error: &'a str,
            message: &'a str,
        }
        json(self.status, &Shape { error: self.code, message: &self.message })
    }
}
