//! The routes that API Gateway could not deploy as Cruddur wrote them, through the real
//! binaries: `GET /api/users/{handle}/activities` and `GET /api/messages/{handle}` answer a
//! handle with or without Cruddur's `@`; the old `GET /api/activities/@{handle}`, which a
//! REST API routes to show-activity's `{activity_uuid}`, answers 404 `route_moved` naming
//! where it went. Every answer carries the allowed origin.

use api::routes::{MESSAGES, SHOW_ACTIVITY, USER_ACTIVITIES};
use cruddur_tests::{
    events::{rest_api_event, signed_in},
    trace_header, Behaviour, Stack,
};
use serde_json::{json, Value};

const ORIGIN: &str = "http://localhost:3000";

async fn get(
    stack: &Stack,
    route: &api::Route,
    path: &str,
    parameter: (&str, &str),
) -> anyhow::Result<(Value, Value)> {
    let (name, value) = parameter;
    let event = rest_api_event(
        "GET",
        path,
        route.template(),
        Some(json!({ name: value })),
        None,
        None,
    );
    let event = if route.access() == api::Access::SignedIn {
        signed_in(event, "8b1f4c9e-2d7a-4e31-9c5b-6a0f3e2d1c4b", "andrewbrown")
    } else {
        event
    };
    let (header, _, _) = trace_header(true);
    let response = stack.runtime.invoke(event, Some(&header)).await?.json();
    // A REST API response: lambda_http writes its headers as multiValueHeaders.
    assert_eq!(
        response["multiValueHeaders"]["access-control-allow-origin"],
        json!([ORIGIN]),
        "{path}: {response}"
    );
    let body = serde_json::from_str(response["body"].as_str().unwrap_or_default())?;
    Ok((response, body))
}

async fn start(binary: &str) -> anyhow::Result<Stack> {
    Stack::start(binary, Behaviour::Healthy, &[("CRUDDUR_ALLOWED_ORIGIN", ORIGIN)]).await
}

fn messages(body: &Value) -> Vec<&str> {
    body.as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| item["message"].as_str())
        .collect()
}

#[tokio::test]
async fn user_activities_answer_with_or_without_the_at() -> anyhow::Result<()> {
    let stack = start(USER_ACTIVITIES.binary()).await?;
    for handle in ["worf", "@worf", "%40worf", "Worf"] {
        let path = format!("/api/users/{handle}/activities");
        let (response, body) = get(&stack, &USER_ACTIVITIES, &path, ("handle", handle)).await?;
        assert_eq!(response["statusCode"], 200, "{path}: {response}");
        assert_eq!(messages(&body), ["I am out of prune juice"], "{path}");
    }
    let (response, body) = get(
        &stack,
        &USER_ACTIVITIES,
        "/api/users/@nobody/activities",
        ("handle", "@nobody"),
    )
    .await?;
    assert_eq!(response["statusCode"], 404);
    assert_eq!(body["error"], "user_not_found");
    Ok(())
}

#[tokio::test]
async fn messages_answer_with_or_without_the_at() -> anyhow::Result<()> {
    let stack = start(MESSAGES.binary()).await?;
    for handle in ["worf", "@worf"] {
        let path = format!("/api/messages/{handle}");
        let (response, body) = get(&stack, &MESSAGES, &path, ("handle", handle)).await?;
        assert_eq!(response["statusCode"], 200, "{path}: {response}");
        assert_eq!(messages(&body), ["Cloud is fun!"], "{path}");
    }
    Ok(())
}

#[tokio::test]
async fn the_old_user_activities_path_answers_where_it_moved() -> anyhow::Result<()> {
    let stack = start(SHOW_ACTIVITY.binary()).await?;
    let (response, body) = get(
        &stack,
        &SHOW_ACTIVITY,
        "/api/activities/@worf",
        ("activity_uuid", "@worf"),
    )
    .await?;
    assert_eq!(response["statusCode"], 404, "{response}");
    assert_eq!(body["error"], "route_moved", "{body}");
    assert_eq!(
        body["message"],
        "GET /api/activities/@worf moved to GET /api/users/worf/activities"
    );
    // Its own route still answers.
    let id = "68f126b0-1ceb-4a33-88be-d90fa7109eee";
    let (response, body) = get(
        &stack,
        &SHOW_ACTIVITY,
        &format!("/api/activities/{id}"),
        ("activity_uuid", id),
    )
    .await?;
    assert_eq!(response["statusCode"], 200, "{response}");
    assert_eq!(body["message"], "Cloud is fun!");
    Ok(())
}
