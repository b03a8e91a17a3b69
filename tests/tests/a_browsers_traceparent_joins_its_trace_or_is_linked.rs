//! A traced browser sends W3C `traceparent` with its request. When it is on the trace
//! Lambda continues (the browser also sent `X-Amzn-Trace-Id`, so API Gateway kept its
//! Root), the browser's span is the root span's parent in OTLP, and Honeycomb draws
//! one trace from the click to the query. A `traceparent` of another trace never
//! changes the trace id: it becomes a span link. X-Ray keeps Lambda's facade as parent.

use cruddur_tests::{
    events::{home_activities_event, set_header},
    otel_trace_id_from_root, trace_header, Behaviour, ReceivedSpan, Stack, DEFAULT_TIMEOUT,
};

/// Invokes home-activities with `traceparent`; returns the invocation span as the
/// OTLP collector got it, and Lambda's Parent.
async fn invoke_with(
    stack: &Stack,
    header: &str,
    root: &str,
    traceparent: &str,
) -> anyhow::Result<ReceivedSpan> {
    let mut event = home_activities_event();
    set_header(&mut event, "traceparent", traceparent);
    let invocation = stack.runtime.invoke(event, Some(header)).await?;
    assert_eq!(invocation.json()["statusCode"], 200);
    let trace_hex = otel_trace_id_from_root(root);
    let id = invocation.request_id.clone();
    let spans = stack.otlp.wait_for_spans(2, DEFAULT_TIMEOUT).await?;
    let root_span = spans
        .iter()
        .find(|s| s.str_attr("faas.invocation_id") == Some(id.as_str()))
        .cloned()
        .expect("the invocation span");
    assert_eq!(
        root_span.trace_id_hex, trace_hex,
        "the trace id is always Lambda's Root"
    );
    // X-Ray: still under Lambda's facade segment, on Lambda's trace.
    let docs = stack.xray.wait_for_documents(1, DEFAULT_TIMEOUT).await?;
    assert!(docs.iter().all(|d| d["trace_id"] == root), "{docs:#?}");
    Ok(root_span)
}

#[tokio::test]
async fn a_traceparent_on_the_same_trace_is_the_root_spans_parent() -> anyhow::Result<()> {
    let stack = Stack::start("home-activities", Behaviour::Healthy, &[]).await?;
    let (header, root, parent) = trace_header(true);
    let browser_span = "b7ad6b7169203331";
    let traceparent = format!("00-{}-{browser_span}-01", otel_trace_id_from_root(&root));
    let root_span = invoke_with(&stack, &header, &root, &traceparent).await?;
    assert_eq!(root_span.parent_span_id_hex, browser_span, "{root_span:#?}");
    assert!(root_span.links.is_empty());
    assert_eq!(
        root_span.str_attr("aws.lambda.parent_segment_id"),
        Some(parent.as_str())
    );
    let docs = stack.xray.documents();
    assert_eq!(docs[0]["parent_id"], parent.as_str());
    // The browser's span arrives at Honeycomb from the browser: the one root is its.
    stack.xray.ensure_valid()?;
    stack.otlp.ensure_traces_complete(&[browser_span])?;
    Ok(())
}

#[tokio::test]
async fn a_traceparent_of_another_trace_is_a_link_not_a_new_trace() -> anyhow::Result<()> {
    let stack = Stack::start("home-activities", Behaviour::Healthy, &[]).await?;
    let (header, root, _) = trace_header(true);
    let (other_trace, other_span) = ("0af7651916cd43dd8448eb211c80319c", "00f067aa0ba902b7");
    let traceparent = format!("00-{other_trace}-{other_span}-01");
    let root_span = invoke_with(&stack, &header, &root, &traceparent).await?;
    assert!(root_span.is_root(), "{root_span:#?}");
    assert_eq!(root_span.links, [(other_trace.to_owned(), other_span.to_owned())]);
    assert!(stack.otlp.spans().iter().all(|s| s.trace_id_hex != other_trace));
    stack.check_traces()?;
    Ok(())
}

#[tokio::test]
async fn a_malformed_traceparent_changes_nothing() -> anyhow::Result<()> {
    let stack = Stack::start("home-activities", Behaviour::Healthy, &[]).await?;
    let (header, root, _) = trace_header(true);
    let root_span = invoke_with(&stack, &header, &root, "00-not-a-trace-01").await?;
    assert!(
        root_span.is_root() && root_span.links.is_empty(),
        "{root_span:#?}"
    );
    stack.check_traces()?;
    Ok(())
}
