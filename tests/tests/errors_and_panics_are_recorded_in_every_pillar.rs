//! A handler error or panic: a 500 that names the request id and nothing internal,
//! recorded at once as an X-Ray fault with its exception, an OTLP error status with
//! an `exception` event, an ERROR log line and the error metric; and the process
//! serves the next request. A 4xx is an X-Ray `error`, never logged as a failure.

use cruddur_tests::{all_subsegments, events::rest_api_event, Behaviour, Stack, Traced, DEFAULT_TIMEOUT};
use serde_json::Value;

/// `GET <path>` to the powertools-parity example, under a fresh sampled trace.
async fn get(stack: &Stack, path: &str) -> anyhow::Result<Traced> {
    stack
        .invoke(rest_api_event("GET", path, path, None, None, None))
        .await
}

/// The invocation's own X-Ray document (its subsegment under Lambda's facade).
async fn xray_document(stack: &Stack, traced: &Traced) -> anyhow::Result<Value> {
    let documents = stack.xray_trace(&traced.root).await?;
    documents
        .into_iter()
        .find(|d| d["parent_id"] == traced.parent.as_str())
        .ok_or_else(|| anyhow::anyhow!("no X-Ray document under Lambda's segment {}", traced.parent))
}

#[tokio::test]
async fn errors_and_panics_are_recorded_in_every_pillar() -> anyhow::Result<()> {
    let stack = Stack::start_example("powertools-parity", Behaviour::Healthy, &[]).await?;
    let mut spans_expected = 0;
    for (path, exception_type) in [("/fail", "HandlerError"), ("/panic", "Panic")] {
        let traced = get(&stack, path).await?;
        let (invocation, root, trace_hex) = (&traced.invocation, &traced.root, &traced.trace_hex);
        let response = invocation.json();
        assert_eq!(response["statusCode"], 500, "{response}");
        let body: Value = serde_json::from_str(response["body"].as_str().unwrap())?;
        assert_eq!(body["requestId"], invocation.request_id.as_str());
        assert_eq!(body["error"], "internal_error");
        let text = response["body"].as_str().unwrap();
        assert!(
            !text.contains("hunter2") && !text.contains("index out of bounds"),
            "internals leaked: {text}"
        );

        let doc = xray_document(&stack, &traced).await?;
        assert_eq!(doc["fault"], true, "{doc}");
        let exception = &doc["cause"]["exceptions"][0];
        assert_eq!(exception["type"], exception_type);
        assert!(exception["message"].as_str().is_some_and(|m| !m.is_empty()));
        if exception_type == "Panic" {
            let stack_frames = exception["stack"].as_array().expect("a panic carries its stack");
            assert!(
                stack_frames
                    .iter()
                    .any(|f| f["label"].as_str().unwrap_or("").contains("powertools_parity")),
                "{exception}"
            );
        }

        spans_expected += 1;
        let spans = stack.otlp.wait_for_spans(spans_expected, DEFAULT_TIMEOUT).await?;
        let span = spans
            .iter()
            .find(|s| &s.trace_id_hex == trace_hex)
            .expect("invocation span");
        assert_eq!(span.status_code, 2, "STATUS_CODE_ERROR");
        let event = span
            .events
            .iter()
            .find(|e| e.name == "exception")
            .expect("exception event");
        assert_eq!(
            event.attributes.get("exception.type").and_then(|v| v.as_str()),
            Some(exception_type)
        );
        if exception_type == "Panic" {
            assert!(event
                .attributes
                .get("exception.stacktrace")
                .and_then(|v| v.as_str())
                .is_some_and(|s| !s.is_empty()));
        }

        let line = stack
            .function
            .wait_for_json_log(
                |l| l["level"] == "ERROR" && l["requestId"] == invocation.request_id.as_str(),
                DEFAULT_TIMEOUT,
            )
            .await?;
        assert_eq!(line["xray_trace_id"], root.as_str());
        let emf = stack
            .function
            .wait_for_json_log(
                |l| l.get("_aws").is_some() && l["requestId"] == invocation.request_id.as_str(),
                DEFAULT_TIMEOUT,
            )
            .await?;
        assert_eq!(emf["Errors"], 1.0);
    }

    // The process lives on: the next request is served.
    let ok = get(&stack, "/ok").await?;
    assert_eq!(ok.json()["statusCode"], 200);
    assert!(stack.function.is_running());

    // A 4xx: X-Ray `error`, no fault, no error status, a WARN line and no ERROR line.
    let traced = get(&stack, "/reject").await?;
    let (invocation, trace_hex) = (&traced.invocation, &traced.trace_hex);
    assert_eq!(invocation.json()["statusCode"], 422);
    let doc = xray_document(&stack, &traced).await?;
    assert_eq!(doc["error"], true);
    assert!(doc.get("fault").is_none() && all_subsegments(&doc).iter().all(|s| s.get("fault").is_none()));
    let spans = stack
        .otlp
        .wait_for_spans(spans_expected + 3, DEFAULT_TIMEOUT)
        .await?;
    let span = spans
        .iter()
        .find(|s| &s.trace_id_hex == trace_hex && s.kind == 2)
        .expect("invocation span");
    assert_ne!(span.status_code, 2);
    let id = invocation.request_id.as_str();
    stack
        .function
        .wait_for_json_log(|l| l["level"] == "WARN" && l["requestId"] == id, DEFAULT_TIMEOUT)
        .await?;
    assert!(!stack
        .function
        .json_logs()
        .iter()
        .any(|l| l["level"] == "ERROR" && l["requestId"] == id));
    let emf = stack
        .function
        .wait_for_json_log(
            |l| l.get("_aws").is_some() && l["requestId"] == id,
            DEFAULT_TIMEOUT,
        )
        .await?;
    assert_eq!(
        (emf["Errors"].as_f64(), emf["ClientErrors"].as_f64()),
        (Some(0.0), Some(1.0))
    );
    stack.check_traces()?;
    Ok(())
}
