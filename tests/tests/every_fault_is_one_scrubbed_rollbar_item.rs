//! Rollbar, the seed's error tracker: with a token, every fault (a 5xx answer, a handler
//! error, a panic) is one item through Rollbar's item API, after the response, following
//! Rollbar's item schema (the stand-in refuses anything else), naming the trace and the
//! request ids, and carrying nothing secret: the request's method and route template only,
//! scrubbed messages. A burst of faults is capped; the rest are counted as dropped.

use cruddur_tests::{
    events::{home_activities_event, rest_api_event},
    Behaviour, MotoServer, RollbarApi, Stack, Traced, DEFAULT_TIMEOUT,
};
use serde_json::Value;

const TOKEN: &str = "rollbar_post_server_item_token";

async fn stack_for(binary: &str, rollbar: &RollbarApi, extra: &[(&str, &str)]) -> anyhow::Result<Stack> {
    let endpoint = rollbar.endpoint();
    let mut env = vec![
        ("ROLLBAR_ACCESS_TOKEN", TOKEN),
        ("ROLLBAR_ENDPOINT", endpoint.as_str()),
        ("ROLLBAR_ENVIRONMENT", "test"),
    ];
    env.extend_from_slice(extra);
    if binary.starts_with("powertools") {
        Stack::start_example(binary, Behaviour::Healthy, &env).await
    } else {
        Stack::start(binary, Behaviour::Healthy, &env).await
    }
}

async fn get(stack: &Stack, path: &str) -> anyhow::Result<Traced> {
    stack
        .invoke(rest_api_event("GET", path, path, None, None, None))
        .await
}

/// The item's ids are the invocation's.
fn assert_names(item: &Value, traced: &Traced) {
    let custom = &item["custom"];
    assert_eq!(custom["xray_trace_id"], traced.root.as_str(), "{item:#}");
    assert_eq!(custom["trace_id"], traced.trace_hex.as_str());
    assert_eq!(custom["requestId"], traced.request_id());
    assert!(custom["correlation_id"].as_str().is_some_and(|c| !c.is_empty()));
    assert_eq!(item["environment"], "test");
    assert_eq!(item["code_version"], "$LATEST");
}

#[tokio::test]
async fn a_database_that_is_down_is_one_item_and_a_success_none() -> anyhow::Result<()> {
    let rollbar = RollbarApi::start(TOKEN).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let url = format!("postgresql://cruddur:not-the-password@127.0.0.1:{port}/cruddur?sslmode=disable");
    let stack = stack_for("home-activities", &rollbar, &[("DATABASE_URL", &url)]).await?;
    let traced = stack.invoke(home_activities_event()).await?;
    assert_eq!(traced.json()["statusCode"], 503);
    let items = rollbar.wait_for_items(1, DEFAULT_TIMEOUT).await?;
    assert_eq!(items.len(), 1);
    let item = &items[0];
    assert_names(item, &traced);
    assert_eq!(item["level"], "error");
    assert_eq!(item["body"]["trace"]["exception"]["class"], "DatabaseError");
    assert_eq!(
        item["request"],
        serde_json::json!({"method": "GET", "url": "/api/activities/home"})
    );
    assert!(!item.to_string().contains("not-the-password"), "{item:#}");
    rollbar.ensure_all_accepted()?;
    Ok(())
}

#[tokio::test]
async fn a_panic_is_a_critical_item_with_its_frames_and_a_handler_error_a_scrubbed_one() -> anyhow::Result<()>
{
    let rollbar = RollbarApi::start(TOKEN).await;
    let stack = stack_for("powertools-parity", &rollbar, &[]).await?;
    let ok = get(&stack, "/ok").await?;
    stack.settled(ok.request_id()).await?;
    let panicked = get(&stack, "/panic").await?;
    let failed = get(&stack, "/fail").await?;
    let items = rollbar.wait_for_items(2, DEFAULT_TIMEOUT).await?;
    assert_eq!(items.len(), 2, "one item a fault, none for a success: {items:#?}");

    let panic = items
        .iter()
        .find(|i| i["custom"]["requestId"] == panicked.request_id())
        .expect("the panic's item");
    assert_names(panic, &panicked);
    assert_eq!(panic["level"], "critical");
    let trace = &panic["body"]["trace"];
    assert_eq!(trace["exception"]["class"], "Panic");
    assert!(trace["exception"]["message"]
        .as_str()
        .unwrap()
        .contains("index out of bounds"));
    let frames = trace["frames"].as_array().unwrap();
    // Oldest call first: the panicking handler is near the end.
    assert!(
        frames
            .iter()
            .any(|f| f["method"].as_str().unwrap_or("").contains("powertools_parity")),
        "{frames:#?}"
    );
    assert_eq!(
        panic["request"],
        serde_json::json!({"method": "GET", "url": "/panic"})
    );

    let error = items
        .iter()
        .find(|i| i["custom"]["requestId"] == failed.request_id())
        .expect("the error's item");
    assert_names(error, &failed);
    assert_eq!(error["level"], "error");
    assert_eq!(error["body"]["trace"]["exception"]["class"], "HandlerError");
    assert_eq!(
        error["body"]["trace"]["exception"]["message"],
        "database password is [scrubbed]"
    );
    for item in &items {
        assert!(
            !item.to_string().contains("hunter2"),
            "a secret reached Rollbar: {item:#}"
        );
    }
    rollbar.ensure_all_accepted()?;
    Ok(())
}

#[tokio::test]
async fn a_burst_of_faults_is_capped_and_the_rest_counted() -> anyhow::Result<()> {
    let rollbar = RollbarApi::start(TOKEN).await;
    let stack = stack_for(
        "powertools-parity",
        &rollbar,
        &[("CRUDDUR_ROLLBAR_MAX_ITEMS_PER_MINUTE", "3")],
    )
    .await?;
    let faults = 8;
    for _ in 0..faults {
        assert_eq!(get(&stack, "/fail").await?.json()["statusCode"], 500);
    }
    stack.runtime.shutdown();
    stack.function.wait_exit(DEFAULT_TIMEOUT).await?;
    assert_eq!(rollbar.items().len(), 3);
    let dropped: f64 = stack
        .function
        .json_logs()
        .iter()
        .filter_map(|l| l["TelemetryDroppedRollbarItems"].as_f64())
        .sum();
    assert_eq!(
        dropped,
        f64::from(faults - 3),
        "every item past the cap is counted"
    );
    rollbar.ensure_all_accepted()?;
    Ok(())
}

#[tokio::test]
async fn the_token_is_read_from_ssm_off_the_init_path_and_a_refused_one_is_counted() -> anyhow::Result<()> {
    let moto = MotoServer::start().await?;
    moto.put_secure_string("/cruddur/rollbar-token", TOKEN).await?;
    let rollbar = RollbarApi::start(TOKEN).await;
    let endpoint = rollbar.endpoint();
    let mut env: Vec<(String, String)> = moto.env();
    env.push((
        "ROLLBAR_ACCESS_TOKEN_PARAMETER".into(),
        "/cruddur/rollbar-token".into(),
    ));
    env.push(("ROLLBAR_ENDPOINT".into(), endpoint.clone()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let stack = Stack::start_example("powertools-parity", Behaviour::Healthy, &env).await?;
    stack.runtime.wait_for_next_poll(1, DEFAULT_TIMEOUT).await?;
    let failed = get(&stack, "/fail").await?;
    // Held for the token; the next thaw lets it go once SSM answered.
    for _ in 0..20 {
        if !rollbar.items().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        get(&stack, "/ok").await?;
    }
    let items = rollbar.wait_for_items(1, DEFAULT_TIMEOUT).await?;
    assert_eq!(items[0]["custom"]["requestId"], failed.request_id());
    let output = [stack.function.stdout_lines(), stack.function.stderr_lines()]
        .concat()
        .join("\n");
    assert!(!output.contains(TOKEN), "the token reached the logs");

    // A token Rollbar refuses: the item is dropped and counted, the function serves on.
    let refusing = RollbarApi::start("another-projects-token").await;
    let stack = stack_for("powertools-parity", &refusing, &[]).await?;
    assert_eq!(get(&stack, "/fail").await?.json()["statusCode"], 500);
    assert_eq!(get(&stack, "/ok").await?.json()["statusCode"], 200);
    stack.runtime.shutdown();
    stack.function.wait_exit(DEFAULT_TIMEOUT).await?;
    assert!(refusing.items().is_empty());
    assert!(refusing.received().iter().all(|r| r.refused.is_some()));
    let dropped: f64 = stack
        .function
        .json_logs()
        .iter()
        .filter_map(|l| l["TelemetryDroppedRollbarItems"].as_f64())
        .sum();
    assert_eq!(dropped, 1.0);
    Ok(())
}
