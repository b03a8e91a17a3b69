//! `cargo lambda watch` has no authorizer, so a local run may act as a user:
//! `CRUDDUR_LOCAL_USER=<handle>`. Under the environment `cargo lambda watch` gives
//! (AWS_LAMBDA_FUNCTION_NAME, _VERSION, _MEMORY_SIZE, AWS_LAMBDA_RUNTIME_API, ...: the
//! harness's emulator `like_cargo_lambda_watch`)
//! the signed-in routes then act as that user. Under the environment real Lambda gives
//! (its reserved LAMBDA_TASK_ROOT, AWS_LAMBDA_INITIALIZATION_TYPE, ... which a function's
//! configuration cannot set or unset) the variable is refused, with one WARN line, and
//! the same request answers 401: the local user cannot be switched on in a deployed stack.

use cruddur_tests::{events::rest_api_event, trace_header, Behaviour, RuntimeApi, Stack, DEFAULT_TIMEOUT};
use serde_json::{json, Value};

/// What Lambda sets in an execution environment (provided.al2023, on-demand) beyond what
/// the harness (and `cargo lambda watch`) sets.
const LAMBDA_ENVIRONMENT: &[(&str, &str)] = &[
    ("LAMBDA_TASK_ROOT", "/var/task"),
    ("LAMBDA_RUNTIME_DIR", "/var/runtime"),
    ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand"),
    ("_HANDLER", "bootstrap"),
    ("TZ", ":UTC"),
    ("LANG", "en_US.UTF-8"),
];

fn post(message: &str) -> Value {
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

async fn answer(stack: &Stack, event: Value) -> anyhow::Result<(Value, Value)> {
    let (header, _, _) = trace_header(true);
    let response = stack.runtime.invoke(event, Some(&header)).await?.json();
    let body = serde_json::from_str(response["body"].as_str().unwrap_or_default())?;
    Ok((response, body))
}

#[tokio::test]
async fn a_local_run_acts_as_the_local_user() -> anyhow::Result<()> {
    let watch = RuntimeApi::builder().like_cargo_lambda_watch().start().await;
    let stack = Stack::start_with_runtime(
        watch,
        "create-activity",
        Behaviour::Healthy,
        &[("CRUDDUR_LOCAL_USER", "@worf")],
    )
    .await?;
    let (response, activity) = answer(&stack, post("Written locally")).await?;
    assert_eq!(response["statusCode"], 200, "{response}");
    assert_eq!(activity["handle"], "worf", "{activity}");

    // Claims, when an event has them, still win.
    let mut event = post("Written by Garek");
    event["requestContext"]["authorizer"] = json!({"claims": {"sub": "s", "cognito:username": "garek"}});
    let (_, activity) = answer(&stack, event).await?;
    assert_eq!(activity["handle"], "garek", "{activity}");
    Ok(())
}

#[tokio::test]
async fn in_lambda_the_local_user_is_refused() -> anyhow::Result<()> {
    let full: Vec<(&str, &str)> = LAMBDA_ENVIRONMENT.to_vec();
    // Any one of the reserved markers is enough.
    let initialization_only = vec![("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")];
    for lambda in [full, initialization_only] {
        let mut env = lambda.clone();
        env.push(("CRUDDUR_LOCAL_USER", "worf"));
        let stack = Stack::start("create-activity", Behaviour::Healthy, &env).await?;
        let (response, body) = answer(&stack, post("Nobody may write this")).await?;
        assert_eq!(response["statusCode"], 401, "{lambda:?}: {response}");
        assert_eq!(body["error"], "unauthorized", "{body}");
        let warning = stack
            .function
            .wait_for_json_log(
                |l| {
                    l["level"] == "WARN"
                        && l["message"]
                            .as_str()
                            .is_some_and(|m| m.contains("CRUDDUR_LOCAL_USER is ignored"))
                },
                DEFAULT_TIMEOUT,
            )
            .await?;
        assert!(
            warning["message"]
                .as_str()
                .unwrap_or_default()
                .contains(lambda[0].0),
            "{warning}"
        );
        // Once per process, not per request.
        let (response, _) = answer(&stack, post("Nor this")).await?;
        assert_eq!(response["statusCode"], 401);
        let warnings = stack
            .function
            .json_logs()
            .into_iter()
            .filter(|l| {
                l["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("CRUDDUR_LOCAL_USER"))
            })
            .count();
        assert_eq!(warnings, 1);
    }
    Ok(())
}
