//! [`Route`]: one row of the route table, and the check each function makes that a
//! request is for its own route and from a caller it may serve.
//!
//! API Gateway routes every request to the right function, so in production the path
//! check only ever passes, except for the old `@handle` forms that API Gateway routes to a
//! variable sibling ([`MOVED`](crate::MOVED)); it matters for `sam local invoke` with the
//! wrong event, for a misconfigured API, and it gives every function the same answers to
//! what it does not serve: 404 `route_moved` for an old form, 404 `not_found` for another
//! path, 405 `method_not_allowed` (with `Allow`) for another method on its path, 401
//! `unauthorized` for nobody on a signed-in route.
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

use crate::caller::{self, Caller};
use crate::routes::MOVED;
use crate::settings::Settings;
use crate::ApiError;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// Anyone, signed in or not: the deployed route has no authorizer.
    Anyone,
    /// Only a signed-in caller: the deployed route has the Cognito user pool authorizer,
    /// and the function answers 401 itself when the event carries no caller.
    SignedIn,
}

/// One API route: an HTTP method, a path template, the function binary that serves it,
/// and who may call it. The whole table is [`ROUTES`](crate::ROUTES).
///
/// A template is a path whose segments are literal (`activities`) or hold one parameter,
/// with an optional literal before and after it: `{activity_uuid}`, `@{handle}` (the
/// latter only in [`MOVED`](crate::MOVED)'s old forms: API Gateway takes a parameter only
/// as a whole path part). A parameter matches a non-empty part of one segment and is
/// percent-decoded.
///
/// ```
/// let reply = &api::routes::CREATE_REPLY;
/// let params = reply.match_path("/api/activities/68f126b0-1ceb-4a33-88be-d90fa7109eee/reply").unwrap();
/// assert_eq!(&params["activity_uuid"], "68f126b0-1ceb-4a33-88be-d90fa7109eee");
/// assert!(reply.match_path("/api/activities/reply").is_none());
/// assert_eq!(reply.binary(), "create-reply");
/// assert_eq!(reply.access(), api::Access::SignedIn);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    method: Method,
    template: &'static str,
    binary: &'static str,
    access: Access,
}

impl Route {
    /// The route `method` `template`, served by the function `binary`, for `access`.
    pub const fn new(method: Method, template: &'static str, binary: &'static str, access: Access) -> Route {
        Route {
            method,
            template,
            binary,
            access,
        }
    }

    /// The route's method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The route's path template (e.g. `/api/users/{handle}/activities`).
    pub fn template(&self) -> &'static str {
        self.template
    }

    /// The function binary (and crate under `functions/`) that serves it.
    pub fn binary(&self) -> &'static str {
        self.binary
    }

    /// Who may call it.
    pub fn access(&self) -> Access {
        self.access
    }

    /// The route's path with its parameters filled in (`{handle}` by `params`' `handle`);
    /// a parameter `params` lacks stays as written.
    pub fn path_with(&self, params: &PathParams) -> String {
        self.template
            .split('/')
            .map(|segment| match parameter(segment) {
                Some((prefix, name, suffix)) => match params.get(name) {
                    Some(value) => format!("{prefix}{value}{suffix}"),
                    None => segment.to_owned(),
                },
                None => segment.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("/")
    }

    /// Checks that `request` is for this route and may be made by its caller; returns
    /// the path parameters and the caller ([`Call`]).
    ///
    /// Reads the process's [`Settings`] ([`Settings::global`]); see [`Route::check_with`].
    pub fn check(&self, request: &Request) -> Result<Call, ApiError> {
        self.check_with(request, Settings::global())
    }

    /// Checks `request` under `settings`, in this order:
    ///
    /// 1. a path in its old form ([`MOVED`](crate::MOVED)) answers 404 `route_moved`, naming
    ///    the new path (on a REST API `/api/activities/@worf` reaches show-activity, whose
    ///    `{activity_uuid}` matches it);
    /// 2. another path answers 404 `not_found`; another method on this path 405
    ///    `method_not_allowed`, its `Allow` header naming this route's method;
    /// 3. the caller is read from the event ([`caller::caller`]); a signed-in route
    ///    without one answers 401 `unauthorized`.
    pub fn check_with(&self, request: &Request, settings: &Settings) -> Result<Call, ApiError> {
        let path = request_path(request);
        for moved in MOVED {
            if request.method() == moved.method {
                if let Some(params) = match_template(moved.from, path) {
                    return Err(ApiError::route_moved(
                        request.method(),
                        path,
                        &moved.to.path_with(&params),
                    ));
                }
            }
        }
        let params = self
            .match_path(path)
            .ok_or_else(|| ApiError::not_found(request.method(), path))?;
        if request.method() != self.method {
            return Err(ApiError::method_not_allowed(request.method(), path, &self.method));
        }
        let caller = caller::caller(request, settings)?;
        if self.access == Access::SignedIn && caller.is_none() {
            return Err(ApiError::unauthorized());
        }
        Ok(Call { params, caller })
    }

    /// Matches a path (no query string) against the template, ignoring one trailing `/`.
    pub fn match_path(&self, path: &str) -> Option<PathParams> {
        match_template(self.template, path)
    }
}

/// A request checked against its route: its path parameters and its caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The path parameters, by name.
    pub params: PathParams,
    caller: Option<Caller>,
}

impl Call {
    /// The signed-in caller, or 401 `unauthorized` when nobody is signed in (never on a
    /// signed-in route: its check answered 401 already).
    pub fn caller(&self) -> Result<&Caller, ApiError> {
        self.caller.as_ref().ok_or_else(ApiError::unauthorized)
    }

    /// The signed-in caller, if any (on a route for anyone).
    pub fn signed_in(&self) -> Option<&Caller> {
        self.caller.as_ref()
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

/// Matches `path` against `template` (see [`Route`]), ignoring one trailing `/`.
fn match_template(template: &'static str, path: &str) -> Option<PathParams> {
    let path = match path.strip_suffix('/') {
        Some(trimmed) if !trimmed.is_empty() => trimmed,
        _ => path,
    };
    let mut templates = template.split('/');
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

/// A template segment's parameter: `(prefix, name, suffix)`, or `None` for a literal.
fn parameter(template: &'static str) -> Option<(&'static str, &'static str, &'static str)> {
    template
        .split_once('{')
        .and_then(|(prefix, rest)| rest.split_once('}').map(|(name, suffix)| (prefix, name, suffix)))
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
    let Some((prefix, name, suffix)) = parameter(template) else {
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
    use crate::routes::{CREATE_ACTIVITY, CREATE_REPLY, HOME_ACTIVITIES, SHOW_ACTIVITY, USER_ACTIVITIES};

    const HOME: Route = HOME_ACTIVITIES;
    const USER: Route = USER_ACTIVITIES;
    const REPLY: Route = CREATE_REPLY;
    /// A template with literals around its parameter, as the old forms had.
    const OLD_USER: Route = Route::new(Method::GET, "/api/activities/@{handle}", "x", Access::Anyone);

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

    fn local() -> Settings {
        Settings::from_lookup(|_| None)
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
            &USER.match_path("/api/users/worf/activities").unwrap()["handle"],
            "worf"
        );
        assert_eq!(
            &USER.match_path("/api/users/@worf/activities").unwrap()["handle"],
            "@worf"
        );
        assert_eq!(USER.match_path("/api/users//activities"), None);
        assert_eq!(
            &OLD_USER.match_path("/api/activities/@worf").unwrap()["handle"],
            "worf"
        );
        assert_eq!(OLD_USER.match_path("/api/activities/worf"), None);
        assert_eq!(OLD_USER.match_path("/api/activities/@"), None);
        assert_eq!(OLD_USER.match_path("/api/activities/@worf/x"), None);
        let params = REPLY.match_path("/api/activities/abc/reply").unwrap();
        assert_eq!(params.get("activity_uuid"), Some("abc"));
        assert_eq!(params.get("handle"), None);
        assert_eq!(REPLY.match_path("/api/activities//reply"), None);
        assert_eq!(REPLY.match_path("/api/activities/abc"), None);
    }

    #[test]
    fn parameters_are_percent_decoded() {
        let handle = |path: &str| USER.match_path(path).unwrap()["handle"].to_owned();
        assert_eq!(handle("/api/users/wo%72f/activities"), "worf");
        assert_eq!(handle("/api/users/%40worf/activities"), "@worf");
        assert_eq!(handle("/api/users/a%20b/activities"), "a b");
        // An escaped `/` stays inside its segment; a broken escape is kept as given.
        assert_eq!(handle("/api/users/a%2Fb/activities"), "a/b");
        assert_eq!(handle("/api/users/100%/activities"), "100%");
        assert_eq!(handle("/api/users/%FF/activities"), "%FF");
    }

    #[test]
    #[should_panic(expected = "no parameter \"activity_uuid\"")]
    fn indexing_a_parameter_the_template_lacks_panics() {
        let _ = &USER.match_path("/api/users/worf/activities").unwrap()["activity_uuid"];
    }

    #[test]
    fn path_with_fills_the_parameters() {
        let params = OLD_USER.match_path("/api/activities/@worf").unwrap();
        assert_eq!(USER.path_with(&params), "/api/users/worf/activities");
        assert_eq!(
            USER.path_with(&PathParams::default()),
            "/api/users/{handle}/activities"
        );
    }

    #[test]
    fn check_answers_404_for_another_path() {
        let error = HOME
            .check_with(&request("GET", "/api/activities/notifications"), &local())
            .unwrap_err();
        assert_eq!((error.status, error.code), (StatusCode::NOT_FOUND, "not_found"));
        assert_eq!(error.message, "no route for GET /api/activities/notifications");
        assert_eq!(error.allow, None);
        // Another path with another method is still 404: the path decides first.
        let error = HOME
            .check_with(&request("POST", "/api/messages"), &local())
            .unwrap_err();
        assert_eq!(error.code, "not_found");
    }

    #[test]
    fn check_answers_405_with_allow_for_another_method() {
        let error = REPLY
            .check_with(&request("GET", "/api/activities/abc/reply"), &local())
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
        let call = USER
            .check_with(&request("GET", "/api/users/@worf/activities?x=1"), &local())
            .unwrap();
        assert_eq!(&call.params["handle"], "@worf");
        assert_eq!(call.signed_in(), None);
        assert_eq!(call.caller().unwrap_err().code, "unauthorized");
    }

    #[test]
    fn old_handle_forms_answer_where_they_moved() {
        // On a REST API, GET /api/activities/@worf reaches show-activity.
        let error = SHOW_ACTIVITY
            .check_with(&request("GET", "/api/activities/@worf"), &local())
            .unwrap_err();
        assert_eq!((error.status, error.code), (StatusCode::NOT_FOUND, "route_moved"));
        assert_eq!(
            error.message,
            "GET /api/activities/@worf moved to GET /api/users/worf/activities"
        );
        // Every function answers it alike; the id form stays show-activity's.
        let error = HOME
            .check_with(&request("GET", "/api/activities/@worf/"), &local())
            .unwrap_err();
        assert_eq!(error.code, "route_moved");
        assert!(SHOW_ACTIVITY
            .check_with(&request("GET", "/api/activities/worf"), &local())
            .is_ok());
        // Only for the old route's method.
        let error = CREATE_ACTIVITY
            .check_with(&request("POST", "/api/activities/@worf"), &local())
            .unwrap_err();
        assert_eq!(error.code, "not_found");
    }

    #[test]
    fn signed_in_routes_answer_401_to_nobody() {
        let error = CREATE_ACTIVITY
            .check_with(&request("POST", "/api/activities"), &local())
            .unwrap_err();
        assert_eq!(
            (error.status, error.code),
            (StatusCode::UNAUTHORIZED, "unauthorized")
        );
        let response = error.into_response();
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        // The path and the method are checked first.
        let error = CREATE_ACTIVITY
            .check_with(&request("GET", "/api/activities"), &local())
            .unwrap_err();
        assert_eq!(error.code, "method_not_allowed");
    }

    #[test]
    fn rest_api_events_match_on_their_path_without_the_stage() {
        // lambda_http puts the stage into the URI's path; the route ignores it.
        let request = rest_event(
            "GET",
            "/api/users/worf/activities",
            "/api/users/{handle}/activities",
        );
        assert_eq!(request.uri().path(), "/prod/api/users/worf/activities");
        assert_eq!(
            &USER.check_with(&request, &local()).unwrap().params["handle"],
            "worf"
        );
        let request = rest_event("POST", "/api/activities/home", "/api/activities/home");
        assert_eq!(
            HOME.check_with(&request, &local()).unwrap_err().code,
            "method_not_allowed"
        );
    }
}
