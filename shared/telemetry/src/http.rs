//! The HTTP face of a function: API Gateway request in, response out, with the
//! request's method, route, path and status on the invocation span, its request line on
//! the invocation's recorder (the standard metrics' route, Errors and ClientErrors are
//! counted from it after the response), and a handler failure or panic turned into a
//! 500 that names the request id and nothing internal.
//!
//! From the request it also learns what the invocation layer cannot see in Lambda's
//! event envelope: the caller's W3C `traceparent` (a traced browser's span becomes the
//! root span's parent, or a link) and API Gateway's request id, the correlation id
//! every log line of the request carries.

use std::{any::Any, convert::Infallible, fmt::Display, future::Future, panic::AssertUnwindSafe, sync::Arc};

use futures_util::FutureExt;
use lambda_http::{
    http::{header::CONTENT_TYPE, StatusCode},
    request::RequestContext,
    service_fn, Body, Request, RequestExt, Response,
};
use tracing::Span;

use crate::{
    capture::record_fields,
    config::CAPTURED_RESPONSE_MAX_BYTES,
    model::{ids::Traceparent, FieldValue, RequestLine},
};

/// Builds the answer to a request whose handler failed or panicked, from the Lambda
/// request id: a 500 that names the id and nothing internal.
pub type FaultResponse = fn(Option<&str>) -> Response<Body>;

/// Wraps a handler into the service `lambda_http` runs (cloned per concurrent worker).
pub(crate) fn service<H, Fut, E>(
    handler: H,
    fault_response: FaultResponse,
    capture_response: bool,
) -> impl lambda_http::Service<Request, Response = Response<Body>, Error = Infallible, Future: Send + 'static>
       + Clone
       + Send
       + 'static
where
    H: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<Body>, E>> + Send + 'static,
    E: Display + Send + 'static,
{
    let handler = Arc::new(handler);
    service_fn(move |request: Request| {
        let span = Span::current();
        let route = route(&request);
        let correlation = correlation_id(&request);
        let text = |value: &str| Some(FieldValue::Str(value.to_owned()));
        // The invocation's recorder, found once (the metrics' and the fault tracker's).
        let owner = record_fields(
            &span,
            [
                ("http.request.method", text(request.method().as_str())),
                ("url.path", text(request.uri().path())),
                ("http.route", route.as_deref().and_then(text)),
                ("correlation_id", correlation.and_then(text)),
            ],
        );
        if let Some(owner) = &owner {
            if let Some(route) = &route {
                owner.with_metrics(|metrics| metrics.set_route(route));
            }
            let traceparent = request.headers().get("traceparent").and_then(|v| v.to_str().ok());
            if let Some(traceparent) = traceparent.and_then(Traceparent::parse) {
                owner.set_remote(traceparent);
            }
            if let Some(id) = correlation {
                owner.set_correlation_id(id);
            }
        }
        let request_id = request.lambda_context_ref().map(|c| c.request_id.clone());
        let method = request.method().clone();
        let handled = AssertUnwindSafe(handler(request)).catch_unwind();
        async move {
            let response = match handled.await {
                Ok(Ok(response)) => response,
                Ok(Err(error)) => {
                    tracing::error!(exception.type = "HandlerError", exception.message = %error, "handler failed");
                    fault_response(request_id.as_deref())
                }
                Err(panic) => {
                    let stacktrace = crate::panics::take_backtrace().unwrap_or_default();
                    tracing::error!(
                        exception.type = "Panic",
                        exception.message = panic_message(&panic),
                        exception.stacktrace = stacktrace,
                        "handler panicked"
                    );
                    fault_response(request_id.as_deref())
                }
            };
            let status = response.status();
            record_fields(
                &span,
                [(
                    "http.response.status_code",
                    Some(FieldValue::U64(status.as_u16().into())),
                )],
            );
            // Its Errors and ClientErrors metrics are added from it after the response.
            if let Some(owner) = owner {
                owner.set_request(RequestLine {
                    method: method.to_string(),
                    route: route.unwrap_or_default(),
                    status: status.as_u16(),
                });
                if status.is_server_error() {
                    owner.mark_fault();
                }
            }
            if capture_response {
                span.record(CAPTURED_RESPONSE_FIELD, captured_body(response.body()).as_str());
            }
            Ok(response)
        }
    })
}

/// The API route template: REST API's resource path, or HTTP API's route key.
fn route(request: &Request) -> Option<String> {
    match request.request_context_ref()? {
        RequestContext::ApiGatewayV1(ctx) => ctx.resource_path.clone(),
        // `$default` (function URLs, `cargo lambda watch`) names no route.
        RequestContext::ApiGatewayV2(ctx) => ctx
            .route_key
            .as_deref()
            .filter(|key| *key != "$default")
            .map(|key| key.split_once(' ').map_or(key, |(_, path)| path).to_owned()),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

/// The invocation span's field for the captured response body: X-Ray metadata only
/// (`xray.metadata.*` fields never reach OTLP).
pub(crate) const CAPTURED_RESPONSE_FIELD: &str = "xray.metadata.response";

/// The response body as text, at most [`CAPTURED_RESPONSE_MAX_BYTES`].
fn captured_body(body: &Body) -> String {
    let text = match body {
        Body::Empty => return String::new(),
        Body::Text(text) => text.as_str(),
        Body::Binary(bytes) => return format!("<{} bytes, binary>", bytes.len()),
        #[allow(unreachable_patterns)]
        _ => return "<streamed>".into(),
    };
    if text.len() <= CAPTURED_RESPONSE_MAX_BYTES {
        return text.to_owned();
    }
    let mut end = CAPTURED_RESPONSE_MAX_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &text[..end], text.len())
}

/// API Gateway's request id read from the raw event (REST and HTTP API put it at
/// `requestContext.requestId`), for lines written before the request is parsed.
pub(crate) fn correlation_id_of(event: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Event {
        #[serde(rename = "requestContext")]
        request_context: Option<Context>,
    }
    #[derive(serde::Deserialize)]
    struct Context {
        #[serde(rename = "requestId")]
        request_id: Option<String>,
    }
    serde_json::from_slice::<Event>(event)
        .ok()?
        .request_context?
        .request_id
}

/// API Gateway's own request id (REST or HTTP API), the id its access log has too.
fn correlation_id(request: &Request) -> Option<&str> {
    match request.request_context_ref()? {
        RequestContext::ApiGatewayV1(ctx) => ctx.request_id.as_deref(),
        RequestContext::ApiGatewayV2(ctx) => ctx.request_id.as_deref(),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

/// The default [`FaultResponse`]: `{"error": "internal_error", "message": …, "requestId": …}`.
pub fn internal_error(request_id: Option<&str>) -> Response<Body> {
    let body = serde_json::json!({
        "error": "internal_error",
        "message": "The server failed to handle this request.",
        "requestId": request_id,
    });
    Response::builder()
        .status(StatusCode::INTERNAL_SERVER_ERROR)
        .header(CONTENT_TYPE, "application/json")
        .body(Body::Text(body.to_string()))
        .expect("static response parts are valid")
}

fn panic_message(panic: &Box<dyn Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into())
}
