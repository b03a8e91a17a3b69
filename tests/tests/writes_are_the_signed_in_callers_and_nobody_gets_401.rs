//! Through the real binaries, as API Gateway's authorizer hands them requests: a write
//! without a caller answers 401 (JSON, Cruddur's error shape, with the CORS origin); a
//! signed-in write is authored by the caller the claims name (REST API claims, and an HTTP
//! API's JWT claims), and a caller the store does not know gets 403; the caller's id is in
//! the story (the invocation span's `enduser.id`, the log lines' `user_id`, X-Ray's
//! searchable `enduser_id` annotation), and the token itself is nowhere in it.

use anyhow::anyhow;
use cruddur_tests::{
    events::{http_api_event, rest_api_event, signed_in, ID_TOKEN},
    eventually, otel_trace_id_from_root, trace_header, Behaviour, Invocation, ReceivedSpan, Stack,
    DEFAULT_TIMEOUT,
};
use serde_json::{json, Value};

const WORF_SUB: &str = "c4e2a7d1-5b3f-4a69-8e0c-1d2f3a4b5c6d";
const ORIGIN: &str = "https://cruddur.example.com";

fn new_activity(message: &str) -> Value {
    let body = json!({"message": message, "ttl": "1-hour"}).to_string();
    rest_api_event(
        "POST",
        "/api/activities",
        "/api/activities",
        None,
        None,
        Some(&body),
    )
}

async fn start(binary: &str) -> anyhow::Result<Stack> {
    Stack::start(
        binary,
        Behaviour::Healthy,
        &[
            ("CRUDDUR_ALLOWED_ORIGIN", ORIGIN),
            // Event logging on: the token must stay out of the logged event too.
            ("POWERTOOLS_LOGGER_LOG_EVENT", "true"),
        ],
    )
    .await
}

/// Invokes `event` under a fresh sampled trace; returns the invocation, its response, the
/// response's JSON body and the trace's X-Ray root.
async fn invoke(stack: &Stack, event: Value) -> anyhow::Result<(Invocation, Value, Value, String)> {
    let (header, root, _) = trace_header(true);
    let invocation = stack.runtime.invoke(event, Some(&header)).await?;
    let response = invocation.json();
    let body = serde_json::from_str(response["body"].as_str().unwrap_or_default())
        .map_err(|e| anyhow!("body is not JSON ({e}): {response}"))?;
    Ok((invocation, response, body, root))
}

/// A response header (REST API responses carry them as `multiValueHeaders`, HTTP API
/// responses as `headers`).
fn header<'a>(response: &'a Value, name: &str) -> Option<&'a str> {
    ["headers", "multiValueHeaders"].iter().find_map(|key| {
        let value = response[key]
            .as_object()?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))?
            .1;
        value.as_str().or_else(|| value[0].as_str())
    })
}

/// The invocation's own OTLP span (the one with its `faas.invocation_id`).
async fn invocation_span(stack: &Stack, invocation: &Invocation) -> anyhow::Result<ReceivedSpan> {
    eventually("the invocation's OTLP span", || {
        stack
            .otlp
            .spans()
            .into_iter()
            .find(|s| s.str_attr("faas.invocation_id") == Some(invocation.request_id.as_str()))
    })
    .await
}

#[tokio::test]
async fn an_anonymous_write_answers_401() -> anyhow::Result<()> {
    for (binary, event) in [
        ("create-activity", new_activity("Nobody wrote this")),
        (
            "create-message",
            rest_api_event(
                "POST",
                "/api/messages",
                "/api/messages",
                None,
                None,
                Some(r#"{"message": "hi", "user_receiver_handle": "worf"}"#),
            ),
        ),
        (
            "create-reply",
            rest_api_event(
                "POST",
                "/api/activities/68f126b0-1ceb-4a33-88be-d90fa7109eee/reply",
                "/api/activities/{activity_uuid}/reply",
                Some(json!({"activity_uuid": "68f126b0-1ceb-4a33-88be-d90fa7109eee"})),
                None,
                Some(r#"{"message": "hi"}"#),
            ),
        ),
    ] {
        let stack = start(binary).await?;
        let (_, response, body, _) = invoke(&stack, event).await?;
        assert_eq!(response["statusCode"], 401, "{binary}: {response}");
        assert_eq!(body["error"], "unauthorized", "{binary}: {body}");
        assert!(
            body["message"].as_str().is_some_and(|m| m.contains("sign in")),
            "{body}"
        );
        assert_eq!(
            header(&response, "access-control-allow-origin"),
            Some(ORIGIN),
            "{response}"
        );
        assert_eq!(
            header(&response, "www-authenticate"),
            Some("Bearer"),
            "{response}"
        );
        stack.check_traces()?;
    }
    Ok(())
}

#[tokio::test]
async fn a_signed_in_write_is_authored_by_the_caller() -> anyhow::Result<()> {
    let stack = start("create-activity").await?;
    let event = signed_in(new_activity("Today is a good day to post"), WORF_SUB, "worf");
    let (_, response, activity, _) = invoke(&stack, event).await?;
    assert_eq!(response["statusCode"], 200, "{response}");
    assert_eq!(header(&response, "access-control-allow-origin"), Some(ORIGIN));
    assert_eq!(
        (activity["handle"].as_str(), activity["display_name"].as_str()),
        (Some("worf"), Some("Worf")),
        "{activity}"
    );

    // An HTTP API's JWT authorizer, and the handle from cognito:username alone.
    let body = json!({"message": "Tailor? Spy.", "ttl": "1-day"}).to_string();
    let mut event = http_api_event(
        "POST",
        "/api/activities",
        "POST /api/activities",
        None,
        None,
        Some(&body),
    );
    event = signed_in(event, "5a7e0c1d-0000-4000-8000-000000000003", "garek");
    event["requestContext"]["authorizer"]["jwt"]["claims"]
        .as_object_mut()
        .expect("claims")
        .remove("preferred_username");
    let (_, response, activity, _) = invoke(&stack, event).await?;
    assert_eq!(response["statusCode"], 200, "{response}");
    assert_eq!(activity["handle"], "garek", "{activity}");

    // A caller the store does not know.
    let event = signed_in(
        new_activity("Who am I?"),
        "0d0e0f00-0000-4000-8000-000000000009",
        "bayko",
    );
    let (_, response, body, _) = invoke(&stack, event).await?;
    assert_eq!(response["statusCode"], 403, "{response}");
    assert_eq!(body["error"], "user_not_registered", "{body}");
    assert_eq!(header(&response, "access-control-allow-origin"), Some(ORIGIN));

    // Messages and replies too: the sender and the author are the caller.
    let send = start("create-message").await?;
    let event = rest_api_event(
        "POST",
        "/api/messages",
        "/api/messages",
        None,
        None,
        Some(r#"{"message": "Qapla'!", "user_receiver_handle": "@garek"}"#),
    );
    let (_, response, message, _) = invoke(&send, signed_in(event, WORF_SUB, "worf")).await?;
    assert_eq!(response["statusCode"], 200, "{response}");
    assert_eq!(message["handle"], "worf", "{message}");
    stack.check_traces()?;
    Ok(())
}

/// Needs the telemetry to declare `enduser.id` on the invocation span and carry it to the
/// log lines (`user_id`) and X-Ray (`enduser_id`): the api crate records it there.
#[tokio::test]
async fn the_caller_is_in_every_pillar_and_the_token_nowhere() -> anyhow::Result<()> {
    let stack = start("create-activity").await?;
    let event = signed_in(new_activity("Traced as Worf"), WORF_SUB, "worf");
    let (invocation, response, _, root) = invoke(&stack, event).await?;
    assert_eq!(response["statusCode"], 200, "{response}");

    // OTLP: the invocation span's enduser.id.
    let span = invocation_span(&stack, &invocation).await?;
    assert_eq!(span.trace_id_hex, otel_trace_id_from_root(&root));
    assert_eq!(
        span.str_attr("enduser.id"),
        Some(WORF_SUB),
        "the invocation span's enduser.id: {span:#?}"
    );

    // Logs: the invocation's lines carry the caller's id as user_id.
    let id = invocation.request_id.clone();
    let line = stack
        .function
        .wait_for_json_log(
            |l| l["requestId"] == id.as_str() && l["message"] == "CreateActivity",
            DEFAULT_TIMEOUT,
        )
        .await?;
    assert_eq!(line["user_id"], WORF_SUB, "{line}");
    for line in stack.function.json_logs() {
        if line["requestId"] == id.as_str() && !line["user_id"].is_null() {
            assert_eq!(line["user_id"], WORF_SUB, "{line}");
        }
    }

    // X-Ray: a searchable annotation on the invocation's subsegment.
    let doc = eventually("the invocation's X-Ray subsegment", || {
        stack
            .xray
            .documents()
            .into_iter()
            .find(|d| d["trace_id"] == root.as_str() && d["annotations"].get("ColdStart").is_some())
    })
    .await?;
    assert_eq!(
        doc["annotations"]["enduser_id"], WORF_SUB,
        "X-Ray annotation enduser_id: {doc}"
    );

    // The token: not in any log line, span or segment (nor its signature alone).
    let signature = ID_TOKEN.rsplit('.').next().unwrap_or(ID_TOKEN);
    let everything = format!(
        "{}\n{}\n{:?}\n{:?}",
        stack.function.stdout_lines().join("\n"),
        stack.function.stderr_lines().join("\n"),
        stack.xray.documents(),
        stack.otlp.spans(),
    );
    assert!(!everything.contains(signature), "the token leaked");
    stack.check_traces()?;
    Ok(())
}
