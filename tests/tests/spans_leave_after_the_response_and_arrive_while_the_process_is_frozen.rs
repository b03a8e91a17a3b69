//! Delivery order: the response reaches the Runtime API first; the invocation's
//! spans reach the collector after it, and before the runtime asks for the next event.

use cruddur_tests::{events::rest_api_event, trace_header, Behaviour, Stack, DEFAULT_TIMEOUT};

#[tokio::test]
async fn spans_leave_after_the_response_and_before_the_next_event() -> anyhow::Result<()> {
    // A generous flush budget: this test checks the order, not the speed (see the benchmark).
    let env = [("CRUDDUR_TELEMETRY_FLUSH_BUDGET_MS", "5000")];
    let stack = Stack::start("home-activities", Behaviour::Healthy, &env).await?;
    for n in 1..=5 {
        let (header, _, _) = trace_header(true);
        let event = rest_api_event(
            "GET",
            "/api/activities/home",
            "/api/activities/home",
            None,
            None,
            None,
        );
        let invocation = stack.runtime.invoke(event, Some(&header)).await?;
        let next = stack.runtime.next_after(&invocation.request_id).await?;
        let exports = stack.otlp.wait_for_requests(n, DEFAULT_TIMEOUT).await?;
        let export = exports.last().unwrap();
        assert!(
            export.received_at > invocation.answered_at,
            "export before the response"
        );
        assert!(
            export.received_at < next,
            "the runtime asked for the next event before the export"
        );
        let datagram = stack.xray.datagrams().into_iter().last().unwrap();
        assert!(datagram.received_at > invocation.answered_at && datagram.received_at < next);
    }
    Ok(())
}
