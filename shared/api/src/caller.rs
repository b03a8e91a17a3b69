//! The caller: who signed in, read from the authorizer's claims in the event.
//!
//! API Gateway's Cognito user pool authorizer (REST API) verifies the caller's ID token
//! and puts its claims in `requestContext.authorizer.claims`; an HTTP API's JWT authorizer
//! puts them in `requestContext.authorizer.jwt.claims` (and so does an HTTP API's payload
//! 1.0). The caller's id is the `sub` claim; their handle is `preferred_username` (set at
//! sign-up), else `cognito:username`, else `username` (an access token's).
//!
//! [`caller`] is the one place that reads them. It records the id on the invocation span
//! as `enduser.id` (OpenTelemetry's attribute; the telemetry turns it into the log lines'
//! `user_id` and X-Ray's searchable `enduser_id`). Nothing else of the claims, and never
//! the token (the `Authorization` header, which the edge does not read at all), is logged
//! or recorded.
//!
//! Without claims, the caller is the local user of a local run, if one is configured
//! ([`Settings::local_user`](crate::Settings::local_user)), else nobody.

use std::collections::BTreeMap;

use domain::Handle;
use lambda_http::{request::RequestContext, Request, RequestExt};
use serde_json::Value;

use crate::settings::Settings;
use crate::ApiError;

/// The claims that name the caller's handle, in the order they are read.
pub const HANDLE_CLAIMS: &[&str] = &["preferred_username", "cognito:username", "username"];

/// A signed-in caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    id: String,
    handle: Handle,
}

impl Caller {
    /// The caller with this id and handle.
    pub fn new(id: String, handle: Handle) -> Caller {
        Caller { id, handle }
    }

    /// Their id: Cognito's `sub` (or `local:<handle>` for a local run's user).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Their handle, as the store knows users.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }
}

/// The request's caller: from the authorizer's claims, else the local user, else nobody.
///
/// Records the caller's id on the current span as `enduser.id`: call it where the current
/// span is the invocation's (a handler's first lines, as [`Route::check`](crate::Route::check)
/// does). Fails with 401 `unauthorized` when the claims carry no `sub`, and 403
/// `caller_handle_invalid` when their handle is missing or not a Cruddur handle.
pub fn caller(request: &Request, settings: &Settings) -> Result<Option<Caller>, ApiError> {
    let caller = match claims(request) {
        Some(claims) => Some(from_claims(&claims)?),
        None => settings.local_user.clone(),
    };
    if let Some(caller) = &caller {
        tracing::Span::current().record("enduser.id", caller.id());
    }
    Ok(caller)
}

/// The authorizer's claims (as strings), if the event has any.
fn claims(request: &Request) -> Option<BTreeMap<String, String>> {
    let claims = match request.request_context_ref()? {
        RequestContext::ApiGatewayV1(context) => {
            let fields = &context.authorizer.fields;
            let object = fields
                .get("claims")
                .or_else(|| fields.get("jwt").and_then(|jwt| jwt.get("claims")))?
                .as_object()?;
            object
                .iter()
                .map(|(key, value)| {
                    let value = match value {
                        Value::String(text) => text.clone(),
                        other => other.to_string(),
                    };
                    (key.clone(), value)
                })
                .collect()
        }
        RequestContext::ApiGatewayV2(context) => context
            .authorizer
            .as_ref()?
            .jwt
            .as_ref()?
            .claims
            .iter()
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect(),
        #[allow(unreachable_patterns)]
        _ => return None,
    };
    let claims: BTreeMap<String, String> = claims;
    (!claims.is_empty()).then_some(claims)
}

fn from_claims(claims: &BTreeMap<String, String>) -> Result<Caller, ApiError> {
    let present = |name: &str| claims.get(name).filter(|value| !value.trim().is_empty());
    let id = present("sub")
        .ok_or_else(|| ApiError::unauthorized_because("the authorizer's claims carry no sub"))?;
    let Some((claim, value)) = HANDLE_CLAIMS
        .iter()
        .find_map(|claim| present(claim).map(|value| (*claim, value)))
    else {
        return Err(ApiError::caller_handle_invalid(format!(
            "signed in, but the token names no handle (none of {})",
            HANDLE_CLAIMS.join(", ")
        )));
    };
    let handle = Handle::parse(value).map_err(|_| {
        ApiError::caller_handle_invalid(format!(
            "signed in, but the token's {claim} {value:?} is not a Cruddur handle \
             (1-32 letters, digits and underscores)"
        ))
    })?;
    Ok(Caller::new(id.clone(), handle))
}

#[cfg(test)]
mod tests {
    use lambda_http::http::StatusCode;
    use serde_json::json;

    use super::*;

    const SUB: &str = "8c2b2f5e-7a1d-4f3e-9b6a-0d1e2f3a4b5c";

    fn rest(authorizer: Value) -> Request {
        let event = json!({
            "resource": "/api/activities",
            "path": "/api/activities",
            "httpMethod": "POST",
            "headers": {},
            "multiValueHeaders": {},
            "requestContext": {
                "accountId": "123456789012",
                "resourceId": "abc123",
                "stage": "prod",
                "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
                "identity": {"sourceIp": "203.0.113.7"},
                "resourcePath": "/api/activities",
                "httpMethod": "POST",
                "apiId": "abc123",
                "authorizer": authorizer,
            },
            "body": null,
            "isBase64Encoded": false
        });
        lambda_http::request::from_str(&event.to_string()).unwrap()
    }

    fn http_api(claims: Value) -> Request {
        let event = json!({
            "version": "2.0",
            "routeKey": "POST /api/activities",
            "rawPath": "/api/activities",
            "rawQueryString": "",
            "headers": {},
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "abc123",
                "http": {"method": "POST", "path": "/api/activities", "protocol": "HTTP/1.1",
                         "sourceIp": "203.0.113.7", "userAgent": "t"},
                "requestId": "abc=",
                "routeKey": "POST /api/activities",
                "stage": "$default",
                "time": "25/Nov/2025:10:00:00 +0000",
                "timeEpoch": 1764064800000i64,
                "authorizer": {"jwt": {"claims": claims, "scopes": null}},
            },
            "isBase64Encoded": false
        });
        lambda_http::request::from_str(&event.to_string()).unwrap()
    }

    fn nobody() -> Settings {
        Settings::from_lookup(|_| None)
    }

    fn of(request: &Request) -> Result<Option<Caller>, ApiError> {
        caller(request, &nobody())
    }

    fn signed_in(request: &Request) -> (String, String) {
        let caller = of(request).unwrap().expect("a caller");
        (caller.id().to_owned(), caller.handle().to_string())
    }

    #[test]
    fn rest_claims_name_the_caller() {
        let request = rest(json!({"claims": {
            "sub": SUB, "cognito:username": "andrew", "preferred_username": "andrewbrown",
            "email": "andrew@example.com", "token_use": "id", "email_verified": "true"
        }}));
        assert_eq!(signed_in(&request), (SUB.to_owned(), "andrewbrown".to_owned()));
    }

    #[test]
    fn the_handle_falls_back_to_the_username() {
        let request = rest(json!({"claims": {"sub": SUB, "cognito:username": "worf"}}));
        assert_eq!(signed_in(&request).1, "worf");
        let request =
            rest(json!({"claims": {"sub": SUB, "preferred_username": " ", "cognito:username": "@worf"}}));
        assert_eq!(signed_in(&request).1, "worf");
        let request = http_api(json!({"sub": SUB, "username": "garek"}));
        assert_eq!(signed_in(&request).1, "garek");
    }

    #[test]
    fn http_api_jwt_claims_name_the_caller() {
        let request = http_api(json!({"sub": SUB, "preferred_username": "worf", "cognito:username": "x"}));
        assert_eq!(signed_in(&request), (SUB.to_owned(), "worf".to_owned()));
    }

    #[test]
    fn no_claims_is_nobody_or_the_local_user() {
        for request in [rest(Value::Null), rest(json!({})), rest(json!({"claims": {}}))] {
            assert_eq!(of(&request).unwrap(), None);
        }
        let built = lambda_http::http::Request::get("/x")
            .body(lambda_http::Body::Empty)
            .unwrap();
        assert_eq!(of(&built).unwrap(), None);
        let local = Settings::from_lookup(|name| (name == "CRUDDUR_LOCAL_USER").then(|| "worf".to_owned()));
        let caller = caller(&rest(Value::Null), &local).unwrap().unwrap();
        assert_eq!((caller.id(), caller.handle().as_str()), ("local:worf", "worf"));
        // Claims win over the local user.
        let request = rest(json!({"claims": {"sub": SUB, "cognito:username": "garek"}}));
        assert_eq!(super::caller(&request, &local).unwrap().unwrap().id(), SUB);
    }

    #[test]
    fn claims_without_a_sub_are_401_and_without_a_handle_403() {
        let error = of(&rest(json!({"claims": {"cognito:username": "worf"}}))).unwrap_err();
        assert_eq!(
            (error.status, error.code),
            (StatusCode::UNAUTHORIZED, "unauthorized")
        );
        let error = of(&rest(json!({"claims": {"sub": SUB, "email": "a@example.com"}}))).unwrap_err();
        assert_eq!(
            (error.status, error.code),
            (StatusCode::FORBIDDEN, "caller_handle_invalid")
        );
        let error = of(&rest(
            json!({"claims": {"sub": SUB, "preferred_username": "Andrew Brown"}}),
        ))
        .unwrap_err();
        assert_eq!(error.code, "caller_handle_invalid");
        assert!(
            error.message.contains("preferred_username \"Andrew Brown\""),
            "{}",
            error.message
        );
    }
}
