//! Powertools' switches, on real output: `POWERTOOLS_TRACE_DISABLED` (no spans anywhere,
//! log lines keep their ids), `POWERTOOLS_METRICS_DISABLED` (no EMF lines),
//! `POWERTOOLS_TRACER_CAPTURE_RESPONSE` (the response body in X-Ray metadata, only when
//! asked), `POWERTOOLS_TRACER_CAPTURE_ERROR=false` (faults marked, their messages kept out
//! of traces) and `POWERTOOLS_DEV` (log lines pretty-printed for a terminal).

use std::time::Duration;

use cruddur_tests::{all_subsegments, events::rest_api_event, Behaviour, Stack, Traced, DEFAULT_TIMEOUT};

async fn get(stack: &Stack, path: &str) -> anyhow::Result<Traced> {
    let traced = stack
        .invoke(rest_api_event("GET", path, path, None, None, None))
        .await?;
    stack.settled(traced.request_id()).await?;
    Ok(traced)
}

#[tokio::test]
async fn tracing_disabled_sends_no_span_and_logs_keep_their_ids() -> anyhow::Result<()> {
    let env = [("POWERTOOLS_TRACE_DISABLED", "true")];
    let stack = Stack::start_example("powertools-parity", Behaviour::Healthy, &env).await?;
    let traced = get(&stack, "/ok").await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(stack.xray.datagrams().is_empty());
    assert_eq!(stack.otlp.request_count(), 0);
    let lines = stack.lines_of(traced.request_id());
    assert!(!lines.is_empty() && lines.iter().all(|l| l["xray_trace_id"] == traced.root.as_str()));
    Ok(())
}

#[tokio::test]
async fn metrics_disabled_writes_no_emf_line() -> anyhow::Result<()> {
    let env = [
        ("POWERTOOLS_METRICS_DISABLED", "true"),
        ("POWERTOOLS_LOGGER_LOG_EVENT", "true"),
    ];
    let stack = Stack::start_example("powertools-parity", Behaviour::Healthy, &env).await?;
    let traced = stack
        .invoke(rest_api_event("GET", "/metrics", "/metrics", None, None, None))
        .await?;
    stack.runtime.next_after(traced.request_id()).await?;
    stack
        .function
        .wait_output_quiet(Duration::from_millis(200), DEFAULT_TIMEOUT)
        .await;
    let lines = stack.lines_of(traced.request_id());
    assert!(!lines.is_empty(), "the event line");
    assert!(lines.iter().all(|l| l.get("_aws").is_none()), "{lines:#?}");
    assert!(
        lines.iter().all(|l| l["message"] != "metric not recorded"),
        "disabled is silent"
    );
    Ok(())
}

#[tokio::test]
async fn the_response_goes_to_xray_metadata_only_when_asked() -> anyhow::Result<()> {
    for (capture, expected) in [(None, None), (Some("true"), Some("ok"))] {
        let env: Vec<(&str, &str)> = capture
            .map(|c| ("POWERTOOLS_TRACER_CAPTURE_RESPONSE", c))
            .into_iter()
            .collect();
        let stack = Stack::start_example("powertools-parity", Behaviour::Healthy, &env).await?;
        let traced = get(&stack, "/ok").await?;
        let doc = stack.xray_trace(&traced.root).await?;
        assert_eq!(
            doc[0]["metadata"]["default"]["response"].as_str(),
            expected,
            "{doc:#?}"
        );
        let spans = stack
            .otlp
            .wait_for_trace(&traced.trace_hex, 2, DEFAULT_TIMEOUT)
            .await?;
        assert!(
            spans
                .iter()
                .all(|s| s.attributes.keys().all(|k| !k.starts_with("xray."))),
            "X-Ray metadata only: {spans:#?}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn without_error_capture_faults_are_marked_but_their_messages_stay_out_of_traces() -> anyhow::Result<()>
{
    let env = [("POWERTOOLS_TRACER_CAPTURE_ERROR", "false")];
    let stack = Stack::start_example("powertools-parity", Behaviour::Healthy, &env).await?;
    let traced = get(&stack, "/fail").await?;
    assert_eq!(traced.json()["statusCode"], 500);
    let docs = stack.xray_trace(&traced.root).await?;
    let invocation = all_subsegments(&docs[0])
        .into_iter()
        .find(|s| s.get("cause").is_some())
        .expect("a fault");
    assert_eq!(invocation["fault"], true);
    assert_eq!(invocation["cause"]["exceptions"][0]["type"], "HandlerError");
    let spans = stack
        .otlp
        .wait_for_trace(&traced.trace_hex, 1, DEFAULT_TIMEOUT)
        .await?;
    assert!(spans.iter().any(|s| s.status_code == 2), "the span is failed");
    let traces = format!("{docs:?}{spans:?}");
    assert!(!traces.contains("hunter2"), "an error's message reached a trace");
    Ok(())
}

#[tokio::test]
async fn dev_mode_pretty_prints_log_lines() -> anyhow::Result<()> {
    let env = [("POWERTOOLS_DEV", "true")];
    let stack = Stack::start_example("powertools-parity", Behaviour::Healthy, &env).await?;
    stack
        .invoke(rest_api_event("GET", "/reject", "/reject", None, None, None))
        .await?;
    stack
        .function
        .wait_for_stdout(|l| l == r#"  "level": "WARN","#, DEFAULT_TIMEOUT)
        .await?;
    Ok(())
}
