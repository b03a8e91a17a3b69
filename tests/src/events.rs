//! API Gateway proxy events, as `lambda_http` 1.3 (`aws_lambda_events`) expects them.
//!
//! `query` values may be strings, numbers, booleans or arrays of them (repeated keys).
//! Note for REST (v1) events: `lambda_http` puts the stage in the request URI path
//! ("/prod/api/...") unless `AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH` is set; the raw path
//! is in its `RawHttpPath` extension.

use serde_json::{json, Map, Value};
use time::macros::format_description;
use time::OffsetDateTime;

/// The `Host` header and `domainName` of the events.
pub const DOMAIN_NAME: &str = "abc123defg.execute-api.us-east-1.amazonaws.com";
/// The caller's IP in the events.
pub const SOURCE_IP: &str = "203.0.113.10";
/// The caller's user agent in the events.
pub const USER_AGENT: &str = "cruddur-tests/1.0";
/// The REST API stage.
pub const REST_STAGE: &str = "prod";
/// A Cognito ID token as a browser sends it in `Authorization`: JWT-shaped, signed by
/// nobody (API Gateway's authorizer verifies tokens; the functions never read one). Tests
/// look for it in every pillar to prove it never gets there.
pub const ID_TOKEN: &str = "eyJraWQiOiJ0ZXN0LWtleSIsImFsZyI6IlJTMjU2In0.\
                            eyJzdWIiOiJ0ZXN0LWNhbGxlciIsInRva2VuX3VzZSI6ImlkIn0.\
                            dGVzdC1zaWduYXR1cmUtbm90LWEtc2VjcmV0";

/// The REST API (v1) event of `GET /api/activities/home`, the route most tests use.
pub fn home_activities_event() -> Value {
    rest_api_event(
        "GET",
        "/api/activities/home",
        "/api/activities/home",
        None,
        None,
        None,
    )
}

/// An API Gateway REST API (v1) proxy event.
///
/// `path` is the request path ("/api/activities/home"), `resource` the API resource
/// ("/api/activities/{activity_uuid}"), `path_parameters` and `query` JSON objects.
pub fn rest_api_event(
    method: &str,
    path: &str,
    resource: &str,
    path_parameters: Option<Value>,
    query: Option<Value>,
    body: Option<&str>,
) -> Value {
    let method = method.to_ascii_uppercase();
    let pairs = query_pairs(query.as_ref());
    let (single, multi) = if pairs.is_empty() {
        (Value::Null, Value::Null)
    } else {
        let mut single = Map::new();
        let mut multi = Map::new();
        for (key, value) in &pairs {
            single.insert(key.clone(), json!(value));
            if let Value::Array(values) = multi.entry(key.clone()).or_insert_with(|| json!([])) {
                values.push(json!(value));
            }
        }
        (Value::Object(single), Value::Object(multi))
    };
    let mut headers = vec![
        ("Accept", "application/json".to_owned()),
        ("Accept-Encoding", "gzip, deflate, br".to_owned()),
        ("CloudFront-Forwarded-Proto", "https".to_owned()),
        ("CloudFront-Viewer-Country", "US".to_owned()),
        ("Host", DOMAIN_NAME.to_owned()),
        ("User-Agent", USER_AGENT.to_owned()),
        (
            "Via",
            "2.0 f0e1d2c3b4a5968778695a4b3c2d1e0f.cloudfront.net (CloudFront)".to_owned(),
        ),
        ("X-Forwarded-For", format!("{SOURCE_IP}, 130.176.0.1")),
        ("X-Forwarded-Port", "443".to_owned()),
        ("X-Forwarded-Proto", "https".to_owned()),
    ];
    if body.is_some() {
        headers.push(("Content-Type", "application/json".to_owned()));
    }
    let single_headers: Map<String, Value> =
        headers.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect();
    let multi_headers: Map<String, Value> = headers
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!([v])))
        .collect();
    let now = OffsetDateTime::now_utc();
    json!({
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": single_headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": single,
        "multiValueQueryStringParameters": multi,
        "pathParameters": path_parameters.unwrap_or(Value::Null),
        "stageVariables": Value::Null,
        "requestContext": {
            "accountId": crate::runtime_api::ACCOUNT_ID,
            "apiId": "abc123defg",
            "domainName": DOMAIN_NAME,
            "domainPrefix": "abc123defg",
            "extendedRequestId": "Xyz1AbCdIAMEabc=",
            "httpMethod": method,
            "identity": {
                "accessKey": Value::Null,
                "accountId": Value::Null,
                "caller": Value::Null,
                "cognitoAuthenticationProvider": Value::Null,
                "cognitoAuthenticationType": Value::Null,
                "cognitoIdentityId": Value::Null,
                "cognitoIdentityPoolId": Value::Null,
                "principalOrgId": Value::Null,
                "sourceIp": SOURCE_IP,
                "user": Value::Null,
                "userAgent": USER_AGENT,
                "userArn": Value::Null,
            },
            "path": format!("/{REST_STAGE}{path}"),
            "protocol": "HTTP/1.1",
            "requestId": uuid::Uuid::new_v4().to_string(),
            "requestTime": request_time(now),
            "requestTimeEpoch": epoch_millis(now),
            "resourceId": "a1b2c3",
            "resourcePath": resource,
            "stage": REST_STAGE,
        },
        "body": body,
        "isBase64Encoded": false,
    })
}

/// An API Gateway HTTP API (v2, payload format 2.0) event.
///
/// `route_key` is like "GET /api/activities/home" (or "$default").
pub fn http_api_event(
    method: &str,
    path: &str,
    route_key: &str,
    path_parameters: Option<Value>,
    query: Option<Value>,
    body: Option<&str>,
) -> Value {
    let method = method.to_ascii_uppercase();
    let pairs = query_pairs(query.as_ref());
    let raw_query = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let mut headers = Map::new();
    for (key, value) in [
        ("accept", "application/json".to_owned()),
        ("accept-encoding", "gzip, deflate, br".to_owned()),
        ("content-length", body.map_or(0, str::len).to_string()),
        ("host", DOMAIN_NAME.to_owned()),
        ("user-agent", USER_AGENT.to_owned()),
        ("x-forwarded-for", SOURCE_IP.to_owned()),
        ("x-forwarded-port", "443".to_owned()),
        ("x-forwarded-proto", "https".to_owned()),
    ] {
        headers.insert(key.to_owned(), json!(value));
    }
    if body.is_some() {
        headers.insert("content-type".to_owned(), json!("application/json"));
    }
    let now = OffsetDateTime::now_utc();
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": crate::runtime_api::ACCOUNT_ID,
            "apiId": "abc123defg",
            "domainName": DOMAIN_NAME,
            "domainPrefix": "abc123defg",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": SOURCE_IP,
                "userAgent": USER_AGENT,
            },
            "requestId": format!("{}=", &uuid::Uuid::new_v4().simple().to_string()[..15]),
            "routeKey": route_key,
            "stage": "$default",
            "time": request_time(now),
            "timeEpoch": epoch_millis(now),
        },
        "isBase64Encoded": false,
    });
    if !pairs.is_empty() {
        let mut joined: Map<String, Value> = Map::new();
        for (key, value) in &pairs {
            match joined.get_mut(key) {
                Some(Value::String(existing)) => {
                    existing.push(',');
                    existing.push_str(value);
                }
                _ => {
                    joined.insert(key.clone(), json!(value));
                }
            }
        }
        event["queryStringParameters"] = Value::Object(joined);
    }
    if let Some(parameters) = path_parameters {
        event["pathParameters"] = parameters;
    }
    if let Some(body) = body {
        event["body"] = json!(body);
    }
    event
}

/// The claims of a Cognito ID token for the user `handle` whose id is `sub`, as API
/// Gateway's Cognito user pool authorizer hands them to a function (every value a string).
pub fn cognito_claims(sub: &str, handle: &str) -> Value {
    json!({
        "sub": sub,
        "cognito:username": handle,
        "preferred_username": handle,
        "email": format!("{handle}@example.com"),
        "email_verified": "true",
        "iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Example1",
        "aud": "3n4b5urk1ft4fl3mg5e62d9ado",
        "token_use": "id",
        "auth_time": "1764064790",
        "iat": "Tue Nov 25 09:59:50 UTC 2025",
        "exp": "Tue Nov 25 10:59:50 UTC 2025",
    })
}

/// `event` (made by either builder) as the signed-in user `handle` (id `sub`) sends it through
/// API Gateway's authorizer: [`ID_TOKEN`] in `Authorization`, and [`cognito_claims`] in
/// `requestContext.authorizer.claims` (REST API) or `requestContext.authorizer.jwt.claims`
/// (HTTP API's JWT authorizer).
pub fn signed_in(mut event: Value, sub: &str, handle: &str) -> Value {
    set_header(&mut event, "Authorization", ID_TOKEN);
    let claims = cognito_claims(sub, handle);
    let is_v2 = event.get("version").and_then(Value::as_str) == Some("2.0");
    event["requestContext"]["authorizer"] = if is_v2 {
        json!({"jwt": {"claims": claims, "scopes": null}})
    } else {
        json!({ "claims": claims })
    };
    event
}

/// Sets a request header on an event made by either builder (v1: both `headers` and
/// `multiValueHeaders`; v2: lowercase name in `headers`).
pub fn set_header(event: &mut Value, name: &str, value: &str) {
    let is_v2 = event.get("version").and_then(Value::as_str) == Some("2.0");
    if is_v2 {
        event["headers"][name.to_ascii_lowercase()] = json!(value);
    } else {
        event["headers"][name] = json!(value);
        event["multiValueHeaders"][name] = json!([value]);
    }
}

fn query_pairs(query: Option<&Value>) -> Vec<(String, String)> {
    let Some(Value::Object(map)) = query else {
        return Vec::new();
    };
    let mut pairs = Vec::new();
    for (key, value) in map {
        match value {
            Value::Array(values) => pairs.extend(values.iter().map(|v| (key.clone(), scalar(v)))),
            Value::Null => {}
            other => pairs.push((key.clone(), scalar(other))),
        }
    }
    pairs
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn request_time(now: OffsetDateTime) -> String {
    now.format(format_description!(
        "[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000"
    ))
    .unwrap_or_default()
}

fn epoch_millis(now: OffsetDateTime) -> i64 {
    (now.unix_timestamp_nanos() / 1_000_000) as i64
}
