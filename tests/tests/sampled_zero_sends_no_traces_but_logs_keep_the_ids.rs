//! Sampled=0: no X-Ray documents, no OTLP spans, and the logs still carry the ids.

use std::time::Duration;

use cruddur_tests::{
    events::home_activities_event, otel_trace_id_from_root, trace_header, Behaviour, Stack, DEFAULT_TIMEOUT,
};

#[tokio::test]
async fn sampled_zero_sends_no_traces_but_logs_keep_the_ids() -> anyhow::Result<()> {
    let stack = Stack::start("home-activities", Behaviour::Healthy, &[]).await?;
    let event = || home_activities_event();

    let (unsampled, root, _) = trace_header(false);
    for _ in 0..3 {
        let invocation = stack.runtime.invoke(event(), Some(&unsampled)).await?;
        assert_eq!(invocation.json()["statusCode"], 200);
        let line = stack
            .function
            .wait_for_json_log(
                |l| l["message"] == "HomeActivities" && l["requestId"] == invocation.request_id.as_str(),
                DEFAULT_TIMEOUT,
            )
            .await?;
        assert_eq!(line["xray_trace_id"], root.as_str());
        assert_eq!(line["trace_id"], otel_trace_id_from_root(&root).as_str());
        assert_eq!(line["sampled"], false);
        assert_eq!(line["span_id"].as_str().map(str::len), Some(16));
    }

    // A sampled request after them is delivered: so nothing was merely late.
    let (sampled, sampled_root, _) = trace_header(true);
    stack.runtime.invoke(event(), Some(&sampled)).await?;
    stack.otlp.wait_for_spans(2, DEFAULT_TIMEOUT).await?;
    stack.xray.wait_for_documents(1, DEFAULT_TIMEOUT).await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sampled_hex = otel_trace_id_from_root(&sampled_root);
    assert!(
        stack.otlp.spans().iter().all(|s| s.trace_id_hex == sampled_hex),
        "only the sampled trace is exported"
    );
    assert!(stack
        .xray
        .documents()
        .iter()
        .all(|d| d["trace_id"] == sampled_root.as_str()));
    assert_eq!(stack.xray.documents().len(), 1);
    Ok(())
}
