//! Every sample event in events/ (the ones `sam local invoke -e` and `cargo lambda invoke
//! --data-file` use) gets the status events/expected.json gives it from the real binary,
//! with the allowed origin's `Access-Control-Allow-Origin` on every answer (errors too), and
//! a client error is marked as one in every pillar: X-Ray `error` (not `fault`), the OTLP
//! invocation span's `http.response.status_code`, and one WARN log line with the
//! invocation's `requestId`. Each event is for its binary's route in the api crate's table,
//! and carries authorizer claims where that route is for signed-in callers, except the
//! `anonymous` cases, which answer 401.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;

use anyhow::{anyhow, ensure, Context as _};
use api::Access;
use cruddur_tests::{
    eventually, function::workspace_root, otel_trace_id_from_root, trace_header, Behaviour, Outcome, Stack,
    DEFAULT_TIMEOUT,
};
use serde_json::Value;

/// The error code each client-error event's body names.
const ERROR_CODES: &[(&str, &str)] = &[
    ("create-activity/anonymous.json", "unauthorized"),
    ("create-activity/body-not-json.json", "body_invalid_json"),
    ("create-activity/message-blank.json", "message_blank"),
    (
        "create-activity/message-too-long.json",
        "message_exceed_max_chars",
    ),
    ("create-activity/ttl-invalid.json", "ttl_invalid"),
    ("create-message/anonymous.json", "unauthorized"),
    (
        "create-message/receiver-missing.json",
        "user_receiver_handle_blank",
    ),
    ("create-reply/anonymous.json", "unauthorized"),
    ("health-check/unknown-path.json", "not_found"),
    ("home-activities/wrong-method.json", "method_not_allowed"),
    ("message-groups/anonymous.json", "unauthorized"),
    ("messages/anonymous.json", "unauthorized"),
    ("messages/handle-malformed.json", "handle_invalid"),
    ("notifications-activities/anonymous.json", "unauthorized"),
    (
        "notifications-activities/not-registered.json",
        "user_not_registered",
    ),
    ("search-activities/term-missing.json", "search_term_blank"),
    ("show-activity/moved-user-activities.json", "route_moved"),
    ("show-activity/not-found.json", "activity_not_found"),
    ("show-activity/uuid-malformed.json", "uuid_invalid"),
    ("user-activities/not-found.json", "user_not_found"),
];

#[tokio::test]
async fn every_event_gets_its_expected_status() -> anyhow::Result<()> {
    let events_dir = workspace_root().join("events");
    let expected: BTreeMap<String, u16> =
        serde_json::from_str(&fs::read_to_string(events_dir.join("expected.json"))?)
            .context("events/expected.json maps each event file to a status")?;
    let codes: BTreeMap<&str, &str> = ERROR_CODES.iter().copied().collect();
    let client_errors: BTreeSet<&str> = expected
        .iter()
        .filter(|(_, status)| (400..500).contains(*status))
        .map(|(file, _)| file.as_str())
        .collect();
    assert_eq!(
        client_errors,
        codes.keys().copied().collect(),
        "every 4xx event needs its code in ERROR_CODES"
    );
    assert_eq!(
        event_files(&events_dir)?,
        expected.keys().cloned().collect(),
        "event files vs events/expected.json"
    );

    // One process per binary, for all of its events.
    let mut by_binary: BTreeMap<&str, Vec<(&str, u16)>> = BTreeMap::new();
    for (file, status) in &expected {
        let binary = file.split_once('/').map(|(binary, _)| binary).unwrap_or_default();
        by_binary.entry(binary).or_default().push((file, *status));
    }
    for (binary, cases) in by_binary {
        let route = api::routes::by_binary(binary)
            .ok_or_else(|| anyhow!("events/{binary}/ is for no route of api::ROUTES"))?;
        let stack = Stack::start(
            binary,
            Behaviour::Healthy,
            &[("CRUDDUR_ALLOWED_ORIGIN", ALLOWED_ORIGIN)],
        )
        .await?;
        for (file, status) in cases {
            let text = fs::read_to_string(events_dir.join(file))?;
            lambda_http::request::from_str(&text)
                .map_err(|e| anyhow!("{file}: lambda_http rejects it: {e}"))?;
            let event: Value = serde_json::from_str(&text)?;
            check_event_shape(route, file, &event, codes.get(file).copied());
            check(&stack, file, event, status, codes.get(file).copied())
                .await
                .with_context(|| format!("{file} (expected {status})"))?;
        }
        // No client error was logged as a failure; no success was logged as rejected.
        let errors: Vec<Value> = stack
            .function
            .json_logs()
            .into_iter()
            .filter(|l| l["level"] == "ERROR")
            .collect();
        assert!(errors.is_empty(), "{binary} logged errors: {errors:#?}");
        stack.check_traces().with_context(|| binary.to_string())?;
    }
    Ok(())
}

/// The origin the functions are told to allow.
const ALLOWED_ORIGIN: &str = "https://cruddur.example.com";

/// An event is for its route (its resource is the route's template, or one that API
/// Gateway routes there), and carries claims exactly when it should.
fn check_event_shape(route: &api::Route, file: &str, event: &Value, code: Option<&str>) {
    let resource = event["resource"]
        .as_str()
        .or_else(|| {
            event["routeKey"]
                .as_str()
                .and_then(|k| k.split_once(' '))
                .map(|(_, p)| p)
        })
        .unwrap_or_default();
    if code != Some("not_found") {
        assert_eq!(resource, route.template(), "{file}: resource");
    }
    let authorizer = &event["requestContext"]["authorizer"];
    let claims = if authorizer["jwt"].is_object() {
        &authorizer["jwt"]["claims"]
    } else {
        &authorizer["claims"]
    };
    let anonymous = file.ends_with("/anonymous.json");
    if route.access() == Access::SignedIn && code != Some("method_not_allowed") {
        assert_eq!(claims["sub"].is_string(), !anonymous, "{file}: claims");
    }
    if anonymous {
        assert_eq!(code, Some("unauthorized"), "{file}");
    }
}

/// Invokes one event and checks the response and its telemetry.
async fn check(
    stack: &Stack,
    file: &str,
    event: Value,
    status: u16,
    code: Option<&str>,
) -> anyhow::Result<()> {
    let (header, root, parent) = trace_header(true);
    let trace_hex = otel_trace_id_from_root(&root);
    let invocation = stack.runtime.invoke(event, Some(&header)).await?;
    ensure!(
        invocation.status == Outcome::Response,
        "invocation error: {}",
        invocation.text()
    );
    let response = invocation.json();
    assert_eq!(response["statusCode"], status, "{response}");
    let origin = header_value(&response, "access-control-allow-origin").map(|v| match v {
        Value::Array(values) => values.first().cloned().unwrap_or_default(),
        other => other.clone(),
    });
    assert_eq!(
        origin,
        Some(Value::from(ALLOWED_ORIGIN)),
        "every answer names the allowed origin: {response}"
    );
    if status == 401 {
        assert!(
            header_value(&response, "www-authenticate").is_some(),
            "401 without WWW-Authenticate: {response}"
        );
    }
    let body: Value = serde_json::from_str(response["body"].as_str().unwrap_or_default())
        .map_err(|e| anyhow!("body is not JSON ({e}): {response}"))?;
    if let Some(code) = code {
        assert_eq!(body["error"], code, "{body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    } else {
        assert!(body.is_array() || body.is_object(), "{body}");
    }
    if status == 405 {
        assert!(
            header_value(&response, "allow").is_some(),
            "405 without Allow: {response}"
        );
    }

    // X-Ray: the invocation's subsegment, under Lambda's facade segment.
    let doc = eventually("the invocation's X-Ray document", || {
        stack
            .xray
            .documents()
            .into_iter()
            .find(|d| d["trace_id"] == root.as_str() && d["parent_id"] == parent.as_str())
    })
    .await?;
    assert_eq!(doc["http"]["response"]["status"], status, "{doc}");
    assert_eq!(
        doc["error"].as_bool().unwrap_or(false),
        code.is_some(),
        "error flag: {doc}"
    );
    assert!(!doc["fault"].as_bool().unwrap_or(false), "fault flag: {doc}");

    // OTLP: the invocation span of the same trace.
    let span = eventually("the invocation's OTLP span", || {
        stack.otlp.spans().into_iter().find(|s| {
            s.trace_id_hex == trace_hex
                && s.is_root()
                && s.str_attr("aws.lambda.parent_segment_id") == Some(parent.as_str())
        })
    })
    .await?;
    assert_eq!(
        span.int_attr("http.response.status_code"),
        Some(i64::from(status)),
        "{span:#?}"
    );
    assert_eq!(
        span.str_attr("faas.invocation_id"),
        Some(invocation.request_id.as_str())
    );

    // Logs: one WARN line for a client error, none for a success.
    let rejected = |line: &Value| {
        line["message"] == "request rejected" && line["requestId"] == invocation.request_id.as_str()
    };
    if let Some(code) = code {
        let line = stack
            .function
            .wait_for_json_log(rejected, DEFAULT_TIMEOUT)
            .await?;
        assert_eq!(line["level"], "WARN", "{line}");
        assert_eq!(line["error.code"], code, "{line}");
        assert_eq!(line["http.status"], status, "{line}");
        assert_eq!(line["xray_trace_id"], root.as_str(), "{line}");
    }
    let lines = stack
        .function
        .json_logs()
        .into_iter()
        .filter(|l| rejected(l))
        .count();
    assert_eq!(
        lines,
        usize::from(code.is_some()),
        "`request rejected` lines for {file}"
    );
    Ok(())
}

/// A response header, whatever its case, from `headers` or `multiValueHeaders`.
fn header_value<'a>(response: &'a Value, name: &str) -> Option<&'a Value> {
    ["headers", "multiValueHeaders"].iter().find_map(|key| {
        response[key]
            .as_object()?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// Every `*.json` under events/<binary>/, as `<binary>/<case>.json`.
fn event_files(events_dir: &std::path::Path) -> anyhow::Result<BTreeSet<String>> {
    let mut files = BTreeSet::new();
    for dir in fs::read_dir(events_dir)? {
        let dir = dir?;
        if !dir.file_type()?.is_dir() {
            continue;
        }
        for file in fs::read_dir(dir.path())? {
            let name = file?.file_name().to_string_lossy().into_owned();
            if name.ends_with(".json") {
                files.insert(format!("{}/{name}", dir.file_name().to_string_lossy()));
            }
        }
    }
    Ok(files)
}
