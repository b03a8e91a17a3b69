//! Calls this function makes: each one a client span (an X-Ray subsegment in the
//! `remote` or `aws` namespace) whose ids travel onward in `X-Amzn-Trace-Id` and
//! W3C `traceparent`, so the callee continues the same trace.

use std::{fmt::Display, future::Future};

use lambda_http::http::{HeaderName, HeaderValue, Request, Response};
use tracing::{field::Empty, Instrument, Span};

use crate::{capture::span_ids, model::ids::traceparent};

/// The trace headers naming `span` as the caller: `X-Amzn-Trace-Id` and `traceparent`.
pub fn trace_headers(span: &Span) -> Vec<(HeaderName, HeaderValue)> {
    let Some((trace, span_id)) = span_ids(span) else {
        return Vec::new();
    };
    let xray = format!(
        "Root={};Parent={span_id};Sampled={}",
        trace.xray_trace_id,
        u8::from(trace.sampled)
    );
    let w3c = traceparent(trace.trace_id, span_id, trace.sampled);
    [("x-amzn-trace-id", xray), ("traceparent", w3c)]
        .into_iter()
        .filter_map(|(name, value)| {
            Some((HeaderName::from_static(name), HeaderValue::from_str(&value).ok()?))
        })
        .collect()
}

/// A URL fit for telemetry, as OpenTelemetry's guidance for `url.full` asks: userinfo
/// becomes `REDACTED:REDACTED`, every query value `REDACTED` (tokens and presigned-URL
/// signatures travel there), and the fragment goes.
pub fn redacted_url(uri: &lambda_http::http::Uri) -> String {
    let mut url = String::new();
    if let Some(scheme) = uri.scheme_str() {
        url.push_str(scheme);
        url.push_str("://");
    }
    if let Some(authority) = uri.authority() {
        if authority.as_str().contains('@') {
            url.push_str("REDACTED:REDACTED@");
        }
        url.push_str(authority.host());
        if let Some(port) = authority.port() {
            url.push(':');
            url.push_str(port.as_str());
        }
    }
    url.push_str(uri.path());
    if let Some(query) = uri.query() {
        let pairs: Vec<String> = query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) => format!("{key}=REDACTED"),
                None => pair.to_owned(),
            })
            .collect();
        url.push('?');
        url.push_str(&pairs.join("&"));
    }
    url
}

/// Sends an HTTP request through any client as a traced call.
///
/// ```no_run
/// # async fn example(client: hyper_util::client::legacy::Client<hyper_util::client::legacy::connect::HttpConnector, String>) {
/// let request = lambda_http::http::Request::get("http://example.com/").body(String::new()).unwrap();
/// let response = telemetry::outgoing::send(request, |r| client.request(r)).await;
/// # }
/// ```
pub async fn send<B, R, E, F, Fut>(mut request: Request<B>, send: F) -> Result<Response<R>, E>
where
    F: FnOnce(Request<B>) -> Fut,
    Fut: Future<Output = Result<Response<R>, E>>,
    E: Display,
{
    let host = request.uri().host().unwrap_or("unknown").to_owned();
    let span = tracing::info_span!(
        "http-call",
        otel.name = %format!("{} {host}", request.method()),
        otel.kind = "client",
        http.request.method = %request.method(),
        url.full = %redacted_url(request.uri()),
        server.address = %host,
        http.response.status_code = Empty,
    );
    request.headers_mut().extend(trace_headers(&span));
    let result = send(request).instrument(span.clone()).await;
    match &result {
        Ok(response) => {
            span.record("http.response.status_code", response.status().as_u16());
        }
        Err(error) => span.in_scope(
            || tracing::error!(exception.type = "HttpError", exception.message = %error, "HTTP call failed"),
        ),
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_secrets() {
        let url = |u: &str| redacted_url(&u.parse().unwrap());
        assert_eq!(
            url("https://user:pw@s3.amazonaws.com:443/b/k?X-Amz-Signature=abc&X-Amz-Credential=AKIA&list"),
            "https://REDACTED:REDACTED@s3.amazonaws.com:443/b/k?X-Amz-Signature=REDACTED&X-Amz-Credential=REDACTED&list"
        );
        assert_eq!(
            url("http://127.0.0.1:9000/profile"),
            "http://127.0.0.1:9000/profile"
        );
        assert_eq!(url("/relative?token=t"), "/relative?token=REDACTED");
    }
}
