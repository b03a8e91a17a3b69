//! Sampled=0: no X-Ray documents, no OTLP spans, and the logs still carry the ids.

use cruddur_tests::{events::home_activities_event, trace_header, Behaviour, Stack, DEFAULT_TIMEOUT};

#[tokio::test]
async fn sampled_zero_sends_no_traces_but_logs_keep_the_ids() -> anyhow::Result<()> {
    let stack = Stack::start("home-activities", Behaviour::Healthy, &[]).await?;

    // Three requests of one unsampled trace.
    let (unsampled, root, _) = trace_header(false);
    for _ in 0..3 {
        let invocation = stack
            .runtime
            .invoke(home_activities_event(), Some(&unsampled))
            .await?;
        assert_eq!(invocation.json()["statusCode"], 200);
        stack.settled(&invocation.request_id).await?;
        let line = stack
            .lines_of(&invocation.request_id)
            .into_iter()
            .find(|l| l["message"] == "HomeActivities")
            .ok_or_else(|| anyhow::anyhow!("no HomeActivities line\n{}", stack.function.output_tail(10)))?;
        assert_eq!(line["xray_trace_id"], root.as_str());
        assert_eq!(
            line["trace_id"],
            cruddur_tests::otel_trace_id_from_root(&root).as_str()
        );
        assert_eq!(line["sampled"], false);
        assert_eq!(line["span_id"].as_str().map(str::len), Some(16));
    }

    // A sampled request after them is delivered: so nothing was merely late. Its telemetry
    // is out before the runtime asks for the next event, when Lambda may freeze the process.
    let sampled = stack.invoke(home_activities_event()).await?;
    stack.settled(sampled.request_id()).await?;
    stack.otlp.wait_for_spans(2, DEFAULT_TIMEOUT).await?;
    stack.xray.wait_for_documents(1, DEFAULT_TIMEOUT).await?;
    assert!(
        stack
            .otlp
            .spans()
            .iter()
            .all(|s| s.trace_id_hex == sampled.trace_hex),
        "only the sampled trace is exported"
    );
    assert!(stack
        .xray
        .documents()
        .iter()
        .all(|d| d["trace_id"] == sampled.root.as_str()));
    assert_eq!(stack.xray.documents().len(), 1);
    stack.check_traces()?;
    Ok(())
}
