//! Delivery order, as Lambda would see it: the response reaches the Runtime API
//! first; the invocation's spans go out after it, and are on their way before the
//! runtime asks for the next event, so they arrive even though the process is
//! frozen (SIGSTOP) from that moment on: the emulator freezes it as Lambda does.

use cruddur_tests::{events::home_activities_event, Behaviour, Stack, DEFAULT_TIMEOUT};

#[tokio::test]
async fn spans_leave_after_the_response_and_arrive_while_the_process_is_frozen() -> anyhow::Result<()> {
    // A generous flush budget: this test checks the order, not the speed (see the benchmark).
    let env = [("CRUDDUR_TELEMETRY_FLUSH_BUDGET_MS", "5000")];
    let stack = Stack::start("home-activities", Behaviour::Healthy, &env).await?;
    for n in 1..=5 {
        let freezes = stack.runtime.freezes();
        let traced = stack.invoke(home_activities_event()).await?;
        let (invocation, root) = (&traced.invocation, &traced.root);
        stack
            .runtime
            .wait_for_freeze(freezes + 1, DEFAULT_TIMEOUT)
            .await?;
        assert!(stack.runtime.is_frozen(), "frozen until the next event");

        let exports = stack.otlp.wait_for_requests(n, DEFAULT_TIMEOUT).await?;
        let export = exports.last().unwrap();
        assert_eq!(export.span_count(), 2, "the whole invocation in one export");
        assert!(
            export.received_at > invocation.answered_at,
            "exported before the response"
        );
        let docs = stack.xray.wait_for_documents(n, DEFAULT_TIMEOUT).await?;
        assert_eq!(docs.last().unwrap()["trace_id"], root.as_str());
        assert!(stack.xray.datagrams().last().unwrap().received_at > invocation.answered_at);
        assert!(
            stack.runtime.is_frozen(),
            "all of it arrived while the process was frozen"
        );
    }
    stack.check_traces()?;
    Ok(())
}
