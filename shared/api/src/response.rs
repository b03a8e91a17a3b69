//! JSON responses and errors.

use std::fmt;

use lambda_http::{
    http::{
        header::{ACCESS_CONTROL_ALLOW_ORIGIN, ALLOW, CONTENT_TYPE, WWW_AUTHENTICATE},
        HeaderValue, Method, StatusCode,
    },
    Body, Response,
};
use serde::Serialize;

use crate::request::MAX_BODY_BYTES;
use crate::settings::Settings;

/// A JSON response with `status`.
pub fn json(status: StatusCode, value: &impl Serialize) -> Response<Body> {
    let body = serde_json::to_string(value).unwrap_or_else(|_| "null".into());
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "application/json")
        .body(Body::Text(body))
        .expect("static response parts are valid")
}

/// The response for a handler's result: the response itself, or the error's
/// ([`ApiError::into_response`], which logs the rejection), with the CORS header.
///
/// Every answer of every function goes through here (or [`respond_with`]), so every
/// answer, errors included, carries `Access-Control-Allow-Origin`: the process's
/// [`Settings::allowed_origin`].
pub fn respond(result: Result<Response<Body>, ApiError>) -> Response<Body> {
    respond_with(result, Settings::global())
}

/// [`respond`] under `settings`.
pub fn respond_with(result: Result<Response<Body>, ApiError>, settings: &Settings) -> Response<Body> {
    let mut response = result.unwrap_or_else(ApiError::into_response);
    let origin = HeaderValue::from_str(&settings.allowed_origin).unwrap_or(HeaderValue::from_static("*"));
    response.headers_mut().insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    response
}

/// The answer to a request whose handler failed or panicked (the telemetry crate's
/// fault response): a 500 naming the Lambda request id and nothing internal, with the
/// headers every answer carries (CORS).
pub fn fault_response(request_id: Option<&str>) -> Response<Body> {
    let body = serde_json::json!({
        "error": "internal_error",
        "message": "The server failed to handle this request.",
        "requestId": request_id,
    });
    respond(Ok(json(StatusCode::INTERNAL_SERVER_ERROR, &body)))
}

/// An error answered as `{"error": code, "message": …}`: a client error (4xx), or a
/// dependency failing (5xx, e.g. 503 `database_unavailable`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status (4xx, or 5xx when a dependency fails).
    pub status: StatusCode,
    /// Stable machine-readable code (Cruddur's, e.g. `message_blank`).
    pub code: &'static str,
    /// Human-readable explanation.
    pub message: String,
    /// The method the path allows, sent as the `Allow` header (405 only).
    pub allow: Option<Method>,
    /// The `WWW-Authenticate` challenge (401 only).
    pub www_authenticate: Option<&'static str>,
}

impl ApiError {
    /// An error with `status`, `code` and `message`.
    pub fn new(status: StatusCode, code: &'static str, message: String) -> ApiError {
        ApiError {
            status,
            code,
            message,
            allow: None,
            www_authenticate: None,
        }
    }

    /// 404 `route_moved`: `method` `path` is an old form of the path `to`.
    pub fn route_moved(method: &Method, path: &str, to: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "route_moved",
            format!("{method} {path} moved to {method} {to}"),
        )
    }

    /// 401 `unauthorized`: nobody is signed in, on a route for signed-in callers.
    pub fn unauthorized() -> ApiError {
        ApiError::unauthorized_because(
            "sign in: this route needs a Cognito ID token in the Authorization header",
        )
    }

    /// 401 `unauthorized`, saying why.
    pub fn unauthorized_because(message: &str) -> ApiError {
        ApiError {
            www_authenticate: Some("Bearer"),
            ..ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message.to_owned())
        }
    }

    /// 403 `caller_handle_invalid`: signed in, but the token names no usable handle.
    pub fn caller_handle_invalid(message: String) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "caller_handle_invalid", message)
    }

    /// 404 `not_found`: no route for this method and path.
    pub fn not_found(method: &Method, path: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no route for {method} {path}"),
        )
    }

    /// 405 `method_not_allowed`: the path exists, for `allowed` only.
    pub fn method_not_allowed(method: &Method, path: &str, allowed: &Method) -> ApiError {
        ApiError {
            allow: Some(allowed.clone()),
            ..ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("{method} is not allowed on {path}: use {allowed}"),
            )
        }
    }

    /// 400 `body_invalid_json`: the body is missing or is not the expected JSON.
    pub fn body_invalid_json(message: String) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "body_invalid_json", message)
    }

    /// 413 `body_too_large`: the body has `len` bytes, more than [`MAX_BODY_BYTES`].
    pub fn body_too_large(len: usize) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("request body has {len} bytes, more than the {MAX_BODY_BYTES} allowed"),
        )
    }

    /// The error as a JSON response.
    ///
    /// Logs one WARN line with `error.code` and `http.status`: `request rejected` for a
    /// client error, worth seeing in the logs but not a failure of the function; `request
    /// failed` for a 5xx, whose cause was logged at ERROR where it happened (e.g. the
    /// database query), so one failure is one ERROR line.
    pub fn into_response(self) -> Response<Body> {
        #[derive(Serialize)]
        struct Shape<'a> {
            error: &'a str,
            message: &'a str,
        }
        if self.status.is_server_error() {
            tracing::warn!(
                error.code = self.code,
                http.status = self.status.as_u16(),
                "request failed"
            );
        } else {
            tracing::warn!(
                error.code = self.code,
                http.status = self.status.as_u16(),
                "request rejected"
            );
        }
        let mut response = json(
            self.status,
            &Shape {
                error: self.code,
                message: &self.message,
            },
        );
        if let Some(allow) = self.allow {
            let value = allow.as_str().parse().expect("a method is a valid header value");
            response.headers_mut().insert(ALLOW, value);
        }
        if let Some(challenge) = self.www_authenticate {
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        response
    }
}

impl From<domain::Error> for ApiError {
    /// The domain's status (422, 404, or 503/500 when the store fails) and code, with its
    /// `Display` text as the message (which never holds the store's own words).
    fn from(error: domain::Error) -> ApiError {
        let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
        ApiError::new(status, error.code(), error.to_string())
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    fn body(response: &Response<Body>) -> Value {
        match response.body() {
            Body::Text(text) => serde_json::from_str(text).unwrap(),
            other => panic!("not a text body: {other:?}"),
        }
    }

    #[test]
    fn a_fault_names_the_request_and_carries_cors() {
        let response = fault_response(Some("req-1"));
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            body(&response),
            json!({"error": "internal_error", "message": "The server failed to handle this request.", "requestId": "req-1"})
        );
        assert!(response.headers().contains_key(ACCESS_CONTROL_ALLOW_ORIGIN));
    }

    #[test]
    fn domain_errors_keep_their_status_and_code() {
        let error = ApiError::from(domain::Error::MessageExceedMaxChars {
            max: 280,
            actual: 281,
        });
        assert_eq!(error.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(error.code, "message_exceed_max_chars");
        assert_eq!(
            error.message,
            "message has 281 characters, more than the 280 allowed"
        );
        let error = ApiError::from(domain::Error::UserNotFound("nobody".into()));
        assert_eq!(
            (error.status, error.code),
            (StatusCode::NOT_FOUND, "user_not_found")
        );
        let error = ApiError::from(domain::Error::DatabaseUnavailable);
        assert_eq!(
            (error.status, error.code),
            (StatusCode::SERVICE_UNAVAILABLE, "database_unavailable")
        );
    }

    #[test]
    fn errors_answer_json_with_code_and_message() {
        let response = ApiError::from(domain::Error::TtlBlank).into_response();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
        assert_eq!(response.headers().get(ALLOW), None);
        assert_eq!(
            body(&response),
            json!({"error": "ttl_blank", "message": "ttl is blank"})
        );
    }

    #[test]
    fn every_answer_names_the_allowed_origin() {
        let any = Settings::from_lookup(|_| None);
        let one = Settings::from_lookup(|name| {
            (name == "CRUDDUR_ALLOWED_ORIGIN").then(|| "https://cruddur.example.com".to_owned())
        });
        let ok = respond_with(Ok(json(StatusCode::OK, &[1])), &any);
        assert_eq!(ok.headers()[ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        for error in [
            ApiError::unauthorized(),
            ApiError::not_found(&Method::GET, "/x"),
            ApiError::from(domain::Error::DatabaseUnavailable),
        ] {
            let response = respond_with(Err(error), &one);
            assert_eq!(
                response.headers()[ACCESS_CONTROL_ALLOW_ORIGIN],
                "https://cruddur.example.com"
            );
        }
    }

    #[test]
    fn respond_passes_responses_through() {
        let ok = respond(Ok(json(StatusCode::OK, &[1, 2])));
        assert_eq!((ok.status(), body(&ok)), (StatusCode::OK, json!([1, 2])));
        let error = respond(Err(ApiError::body_too_large(70_000)));
        assert_eq!(error.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(body(&error)["error"], "body_too_large");
    }

    #[test]
    fn display_names_status_and_code() {
        let error = ApiError::not_found(&Method::GET, "/nope");
        assert_eq!(error.to_string(), "404 not_found: no route for GET /nope");
    }

    #[test]
    fn a_rejection_logs_one_warn_line() {
        use std::sync::{Arc, Mutex};
        use tracing::field::{Field, Visit};
        use tracing_subscriber::layer::{Context, SubscriberExt};

        #[derive(Clone, Default)]
        struct Lines(Arc<Mutex<Vec<String>>>);
        struct Fields(String);
        impl Visit for Fields {
            fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
                self.0.push_str(&format!(" {}={value:?}", field.name()));
            }
        }
        impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Lines {
            fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
                let mut fields = Fields(event.metadata().level().to_string());
                event.record(&mut fields);
                self.0.lock().unwrap().push(fields.0);
            }
        }

        let lines = Lines::default();
        let subscriber = tracing_subscriber::registry().with(lines.clone());
        tracing::subscriber::with_default(subscriber, || {
            let _ = ApiError::from(domain::Error::SearchTermBlank).into_response();
            let _ = ApiError::from(domain::Error::DatabaseUnavailable).into_response();
        });
        assert_eq!(
            *lines.0.lock().unwrap(),
            [
                "WARN message=request rejected error.code=\"search_term_blank\" http.status=422",
                "WARN message=request failed error.code=\"database_unavailable\" http.status=503"
            ]
        );
    }
}
