//! Cold start without network (DESIGN.md, "Cold start"): with the Honeycomb key kept in
//! SSM, init makes no network call, and the first request is answered before the key's
//! read completes (here, SSM is 1.5 s away behind a latency proxy in front of moto). Its
//! spans wait for the key and reach the collector with it; none leaves without it. A key
//! that cannot be read is reported once, on stderr and as a metric, and the spans held
//! for it are counted as dropped, while the function keeps serving.

use std::time::Duration;

use cruddur_tests::{
    events::home_activities_event, Behaviour, LatencyProxy, MotoServer, RuntimeApi, Stack, DEFAULT_TIMEOUT,
};

const PARAMETER: &str = "/cruddur/honeycomb-api-key";
const KEY: &str = "hcaik_cold_start_key";

/// The function's environment: moto's, reached through `endpoint`, and the key's parameter.
fn env(moto: &MotoServer, endpoint: &str) -> Vec<(String, String)> {
    let mut env = moto.env();
    for (name, value) in &mut env {
        if name == "AWS_ENDPOINT_URL" {
            *value = endpoint.to_owned();
        }
    }
    env.push(("HONEYCOMB_API_KEY_PARAMETER".into(), PARAMETER.into()));
    env
}

#[tokio::test]
async fn the_first_request_is_served_before_a_slow_key_read_and_its_spans_follow_with_the_key(
) -> anyhow::Result<()> {
    let moto = MotoServer::start().await?;
    moto.put_secure_string(PARAMETER, KEY).await?;
    let read_delay = Duration::from_millis(1_500);
    let ssm = LatencyProxy::start(moto.port(), read_delay).await?;
    let env = env(&moto, &ssm.endpoint());
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let stack = Stack::start("home-activities", Behaviour::Healthy, &env).await?;

    // Init: done (the runtime asks for the first event) without touching SSM.
    stack.runtime.wait_for_next_poll(1, DEFAULT_TIMEOUT).await?;
    let init = stack.runtime.next_poll_times()[0].duration_since(stack.function.spawned_at());
    assert_eq!(ssm.connections(), 0, "network I/O before the first event");
    assert!(init < read_delay, "init took {init:?}");

    // The first request is answered without waiting for the key (its read starts with it).
    let first = stack.invoke(home_activities_event()).await?;
    assert_eq!(first.json()["statusCode"], 200);
    assert!(first.invocation.handler_duration() < read_delay);

    // Lambda freezes the process; the next requests thaw it, the read goes on, SSM
    // answers, and the spans held for the key go out with it. Until then none leaves.
    let mut later = Vec::new();
    while stack.otlp.request_count() == 0 && later.len() < 20 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        later.push(stack.invoke(home_activities_event()).await?);
    }
    let read_done = ssm.first_answer_at().expect("SSM answered");
    assert!(
        read_done > first.invocation.answered_at,
        "the first answer waited for the key"
    );
    let spans = stack
        .otlp
        .wait_for_trace(&first.trace_hex, 2, DEFAULT_TIMEOUT)
        .await?;
    assert_eq!(spans.len(), 2, "{spans:#?}");
    for export in stack.otlp.requests() {
        assert_eq!(
            export.header("x-honeycomb-team"),
            Some(KEY),
            "a span left without the key"
        );
        assert!(export.received_at > read_done);
    }
    for traced in &later {
        assert_eq!(traced.json()["statusCode"], 200);
    }
    let output = [stack.function.stdout_lines(), stack.function.stderr_lines()]
        .concat()
        .join("\n");
    assert!(!output.contains(KEY), "the key reached the logs");
    Ok(())
}

#[tokio::test]
async fn in_a_process_never_frozen_the_first_requests_spans_follow_the_key_without_another_request(
) -> anyhow::Result<()> {
    // As under `cargo lambda watch`: no freeze, one request, then nothing. The key's answer
    // comes while no response is being posted; it must not wait for one (the exports'
    // answers do), or the spans would sit until a next request that may never come.
    let moto = MotoServer::start().await?;
    moto.put_secure_string(PARAMETER, KEY).await?;
    let ssm = LatencyProxy::start(moto.port(), Duration::from_millis(300)).await?;
    let env = env(&moto, &ssm.endpoint());
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let runtime = RuntimeApi::start_without_freeze().await;
    let stack = Stack::start_with_runtime(runtime, "home-activities", Behaviour::Healthy, &env).await?;
    let first = stack.invoke(home_activities_event()).await?;
    assert_eq!(first.json()["statusCode"], 200);
    let spans = stack
        .otlp
        .wait_for_trace(&first.trace_hex, 2, DEFAULT_TIMEOUT)
        .await
        .map_err(|e| anyhow::anyhow!("{e}\n{}", stack.function.output_tail(20)))?;
    assert_eq!(spans.len(), 2, "{spans:#?}");
    for export in stack.otlp.requests() {
        assert_eq!(export.header("x-honeycomb-team"), Some(KEY));
    }
    Ok(())
}

#[tokio::test]
async fn a_key_that_cannot_be_read_is_reported_once_and_its_spans_are_counted_as_dropped(
) -> anyhow::Result<()> {
    let moto = MotoServer::start().await?;
    // No such parameter. (One read first: moto loads its SSM backend on first use, slowly.)
    let missing = aws_sdk_ssm::Client::new(&moto.sdk_config())
        .get_parameter()
        .name(PARAMETER)
        .send()
        .await;
    assert!(missing.is_err());
    let env = env(&moto, &moto.endpoint());
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let stack = Stack::start("home-activities", Behaviour::Healthy, &env).await?;
    let invocations = 4;
    for _ in 0..invocations {
        let traced = stack.invoke(home_activities_event()).await?;
        assert_eq!(traced.json()["statusCode"], 200, "the function keeps serving");
    }
    stack.runtime.shutdown();
    let status = stack.function.wait_exit(DEFAULT_TIMEOUT).await?;
    assert!(status.success(), "{}", stack.function.output_tail(30));

    assert_eq!(stack.otlp.request_count(), 0, "a span left without its key");
    let reported: Vec<String> = stack
        .function
        .stderr_lines()
        .into_iter()
        .filter(|l| l.contains("cannot read the Honeycomb key"))
        .collect();
    assert_eq!(reported.len(), 1, "{}", stack.function.output_tail(30));
    // The reason is SSM's own error code, as its answer gave it.
    assert!(reported[0].contains("ParameterNotFound"), "{reported:?}");
    let emf: Vec<_> = stack
        .function
        .json_logs()
        .into_iter()
        .filter(|l| l.get("_aws").is_some())
        .collect();
    let unavailable = emf
        .iter()
        .filter(|l| l.get("TelemetrySecretUnavailable").is_some())
        .count();
    assert_eq!(unavailable, 1, "reported once as a metric");
    // Every span (two an invocation) is counted as dropped, in the metrics.
    let dropped: f64 = emf
        .iter()
        .filter_map(|l| l["TelemetryDroppedSpans"].as_f64())
        .sum();
    assert_eq!(dropped, f64::from(2 * invocations), "{emf:#?}");
    Ok(())
}
