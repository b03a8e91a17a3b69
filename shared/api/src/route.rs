//! Each function checks that a request is for its own route.
//!
//! API Gateway routes every request to the right function, so in production the
//! check only ever passes; it matters for `sam local invoke` with the wrong event, for a
//! misconfigured API, and it gives every function the same answers to what it does not
//! serve: 404 `not_found` for another path, 405 `method_not_allowed` (with `Allow`) for
//! another method on its path.
//!
//! # Which path is matched
//!
//! The path API Gateway matched its own route against: `lambda_http`'s
//! [`raw_http_path`](lambda_http::RequestExt::raw_http_path) (the event's `path` for a
//! REST API, `rawPath` for an HTTP API), or the URI's path for a request built by hand.
//! Not the URI's path of an API Gateway request: `lambda_http` does not strip a stage
//! from it, it *adds* one (`/prod/api/activities/home` for stage `prod`), unless
//! `AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH` is set. A REST API's `path` has no stage; an
//! HTTP API's `rawPath` has none on its `$default` stage but keeps a named stage's
//! prefix, which this check then answers 404 (use the `$default` stage).

use std::ops::Index;

use lambda_http::{http::Method, Request, RequestExt};

use crate::ApiError;

/// One function's route: an HTTP method and a path template.
///
/// A template is a path whose segments are literal (`activities`) or hold one parameter,
/// with an optional literal before and after it: `{uuid}`, `@{handle}`. A parameter
/// matches a non-empty part of one segment and is percent-decoded.
///
/// ```
/// use api::Route;
/// const REPLY: Route = Route::post("/api/activities/{uuid}/reply");
/// let params = REPLY.match_path("/api/activities/68f126b0-1ceb-4a33-88be-d90fa7109eee/reply").unwrap();
/// assert_eq!(&params["uuid"], "68f126b0-1ceb-4a33-88be-d90fa7109eee");
/// assert!(REPLY.match_path("/api/activities/reply").is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    method: Method,
    template: &'static str,
}

impl Route {
    /// A route for `method` on `template` (e.g. `/api/activities/@{handle}`).
    pub const fn new(method: Method, template: &'static str) -> Route {
        Route { method, template }
    }

    /// A `GET` route.
    pub const fn get(template: &'static str) -> Route {
        Route::new(Method::GET, template)
    }

    /// A `POST` route.
    pub const fn post(template: &'static str) -> Route {
        Route::new(Method::POST, template)
    }

    /// The route's method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The route's path template.
    pub fn template(&self) -> &'static str {
        self.template
    }

    /// Checks that `request` is for this route and returns its path parameters.
    ///
    /// Fails with 404 `not_found` when the path does not match the template, and with
    /// 405 `method_not_allowed` (its `Allow` header naming this route's method) when the
    /// path matches but the method does not.
    pub fn check(&self, request: &Request) -> Result<PathParams, ApiError> {
        let path = request_path(request);
        let params = self
            .match_path(path)
            .ok_or_else(|| ApiError::not_found(request.method(), path))?;
        if request.method() != self.method {
            return Err(ApiError::method_not_allowed(request.method(), path, &self.method));
        }
        Ok(params)
    }

    /// Matches a path (no query string) against the template, ignoring one trailing `/`.
    pub fn match_path(&self, path: &str) -> Option<PathParams> {
        let path = match path.strip_suffix('/') {
            Some(trimmed) if !trimmed.is_empty() => trimmed,
            _ => path,
        };
        let mut templates = self.template.split('/');
        let mut segments = path.split('/');
        let mut params = PathParams::default();
        loop {
            match (templates.next(), segments.next()) {
                (None, None) => return Some(params),
                (Some(template), Some(segment)) => {
                    if let Some((name, value)) = match_segment(template, segment)? {
                        params.0.push((name, value));
                    }
                }
                _ => return None,
            }
        }
    }
}

/// The path parameters of a matched request, by name (`handle` for `@{handle}`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathParams(Vec<(&'static str, String)>);

impl PathParams {
    /// The value of the parameter `name`, if the template has it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.as_str())
    }
}

impl Index<&str> for PathParams {
    type Output = str;

    /// The value of the parameter `name`.
    ///
    /// # Panics
    ///
    /// When the route's template has no parameter `name` (a bug in the function).
    fn index(&self, name: &str) -> &str {
        self.get(name)
            .unwrap_or_else(|| panic!("the route's template has no parameter {name:?}"))
    }
}

/// The path API Gateway routed on (see the module doc).
fn request_path(request: &Request) -> &str {
    match request.raw_http_path() {
        "" => request.uri().path(),
        raw => raw,
    }
}

/// Matches one segment: `Ok(None)` for a literal, `Some((name, value))` for a parameter.
fn match_segment(template: &'static str, segment: &str) -> Option<Option<(&'static str, String)>> {
    let parameter = template
        .split_once('{')
        .and_then(|(prefix, rest)| rest.split_once('}').map(|(name, suffix)| (prefix, name, suffix)));
    let Some((prefix, name, suffix)) = parameter else {
        return (template == segment).then_some(None);
    };
    let value = segment.strip_prefix(prefix)?.strip_suffix(suffix)?;
    if value.is_empty() {
        return None;
    }
    Some(Some((name, percent_decode(value))))
}

/// Decodes `%XX` escapes; a value that does not decode to UTF-8 is kept as given.
fn percent_decode(value: &str) -> String {
    if !value.contains('%') {
        return value.to_owned();
    }
    let bytes = value.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(high), Some(low)) => {
                decoded.push((high * 16 + low) as u8);
                i += 3;
            }
            (byte, _, _) => {
                decoded.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(decoded).unwrap_or_else(|_| value.to_owned())
}

#[cfg(test)]
mod tests {
    use lambda_http::{http, http::StatusCode, Body};

    use super::*;

    const HOME: Route = Route::get("/api/activities/home");
    const USER: Route = Route::get("/api/activities/@{handle}");
    const REPLY: Route = Route::post("/api/activities/{uuid}/reply");

    fn request(method: &str, uri: &str) -> Request {
        http::Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::Empty)
            .unwrap()
    }

    fn rest_event(method: &str, path: &str, resource: &str) -> Request {
        let event = serde_json::json!({
            "resource": resource,
            "path": path,
            "httpMethod": method,
            "headers": {"Host": "abc123.execute-api.us-east-1.amazonaws.com"},
            "multiValueHeaders": {},
            "queryStringParameters": null,
            "multiValueQueryStringParameters": null,
            "pathParameters": null,
            "stageVariables": null,
            "requestContext": {
                "accountId": "123456789012",
                "resourceId": "abc123",
                "stage": "prod",
                "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
                "identity": {"sourceIp": "203.0.113.7"},
                "resourcePath": resource,
                "httpMethod": method,
                "path": format!("/prod{path}"),
                "apiId": "abc123"
            },
            "body": null,
            "isBase64Encoded": false
        });
        lambda_http::request::from_str(&event.to_string()).unwrap()
    }

    #[test]
    fn literal_paths_match_exactly() {
        assert_eq!(
            HOME.match_path("/api/activities/home"),
            Some(PathParams::default())
        );
        assert_eq!(
            HOME.match_path("/api/activities/home/"),
            Some(PathParams::default())
        );
        for path in [
            "/api/activities",
            "/api/activities/home/x",
            "/api/activities/Home",
            "/api/activities/homes",
            "api/activities/home",
            "/",
            "",
        ] {
            assert_eq!(HOME.match_path(path), None, "{path}");
        }
    }

    #[test]
    fn parameters_take_one_non_empty_segment_between_their_literals() {
        assert_eq!(
            &USER.match_path("/api/activities/@worf").unwrap()["handle"],
            "worf"
        );
        assert_eq!(USER.match_path("/api/activities/worf"), None);
        assert_eq!(USER.match_path("/api/activities/@"), None);
        assert_eq!(USER.match_path("/api/activities/@worf/x"), None);
        let params = REPLY.match_path("/api/activities/abc/reply").unwrap();
        assert_eq!(params.get("uuid"), Some("abc"));
        assert_eq!(params.get("handle"), None);
        assert_eq!(REPLY.match_path("/api/activities//reply"), None);
        assert_eq!(REPLY.match_path("/api/activities/abc"), None);
    }

    #[test]
    fn parameters_are_percent_decoded() {
        assert_eq!(
            &USER.match_path("/api/activities/@wo%72f").unwrap()["handle"],
            "worf"
        );
        assert_eq!(
            &USER.match_path("/api/activities/@a%20b").unwrap()["handle"],
            "a b"
        );
        // An escaped `/` stays inside its segment; a broken escape is kept as given.
        assert_eq!(
            &USER.match_path("/api/activities/@a%2Fb").unwrap()["handle"],
            "a/b"
        );
        assert_eq!(
            &USER.match_path("/api/activities/@100%").unwrap()["handle"],
            "100%"
        );
        assert_eq!(&USER.match_path("/api/activities/@%FF").unwrap()["handle"], "%FF");
    }

    #[test]
    #[should_panic(expected = "no parameter \"uuid\"")]
    fn indexing_a_parameter_the_template_lacks_panics() {
        let _ = &USER.match_path("/api/activities/@worf").unwrap()["uuid"];
    }

    #[test]
    fn check_answers_404_for_another_path() {
        let error = HOME
            .check(&request("GET", "/api/activities/notifications"))
            .unwrap_err();
        assert_eq!((error.status, error.code), (StatusCode::NOT_FOUND, "not_found"));
        assert_eq!(error.message, "no route for GET /api/activities/notifications");
        assert_eq!(error.allow, None);
        // Another path with another method is still 404: the path decides first.
        let error = HOME.check(&request("POST", "/api/messages")).unwrap_err();
        assert_eq!(error.code, "not_found");
    }

    #[test]
    fn check_answers_405_with_allow_for_another_method() {
        let error = REPLY
            .check(&request("GET", "/api/activities/abc/reply"))
            .unwrap_err();
        assert_eq!(
            (error.status, error.code),
            (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
        );
        assert_eq!(error.allow, Some(Method::POST));
        let response = error.into_response();
        assert_eq!(response.headers()["allow"], "POST");
    }

    #[test]
    fn check_returns_the_parameters() {
        let params = USER.check(&request("GET", "/api/activities/@worf?x=1")).unwrap();
        assert_eq!(&params["handle"], "worf");
    }

    #[test]
    fn rest_api_events_match_on_their_path_without_the_stage() {
        // lambda_http puts the stage into the URI's path; the route ignores it.
        let request = rest_event("GET", "/api/activities/@worf", "/api/activities/@{handle}");
        assert_eq!(request.uri().path(), "/prod/api/activities/@worf");
        assert_eq!(&USER.check(&request).unwrap()["handle"], "worf");
        let request = rest_event("POST", "/api/activities/home", "/api/activities/home");
        assert_eq!(HOME.check(&request).unwrap_err().code, "method_not_allowed");
    }
}
