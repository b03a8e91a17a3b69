//! Lambda freezes the process between invocations and ends it with SIGTERM (SIGKILL
//! 500 ms later): with a healthy collector and with a slow one, every span arrives,
//! counted exactly. The Runtime API emulator freezes and shuts down as Lambda does.

use std::{collections::BTreeSet, time::Duration};

use cruddur_tests::{events::home_activities_event, Behaviour, Stack, DEFAULT_TIMEOUT};

const INVOCATIONS: usize = 20;
/// The home route makes two spans: the invocation and `mock-data`.
const SPANS_PER_INVOCATION: usize = 2;

async fn freeze_between_invocations_then_terminate(collector: Behaviour) -> anyhow::Result<()> {
    let stack = Stack::start("home-activities", collector, &[]).await?;
    let mut traces = BTreeSet::new();
    for _ in 0..INVOCATIONS {
        let freezes = stack.runtime.freezes();
        let traced = stack.invoke(home_activities_event()).await?;
        traces.insert(traced.trace_hex.clone());
        assert_eq!(traced.json()["statusCode"], 200);
        // The emulator freezes the process once the runtime has asked for the next event;
        // it stays frozen a while, and is thawed by the next event.
        stack
            .runtime
            .wait_for_freeze(freezes + 1, DEFAULT_TIMEOUT)
            .await?;
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    stack.runtime.shutdown();
    let status = stack.function.wait_exit(DEFAULT_TIMEOUT).await?;
    assert!(status.success(), "{status:?}\n{}", stack.function.output_tail(20));

    let spans = stack.otlp.spans();
    let unique: BTreeSet<_> = spans.iter().map(|s| s.span_id_hex.clone()).collect();
    assert_eq!(
        spans.len(),
        INVOCATIONS * SPANS_PER_INVOCATION,
        "every span exactly once"
    );
    assert_eq!(unique.len(), spans.len(), "no span twice");
    let exported: BTreeSet<_> = spans.iter().map(|s| s.trace_id_hex.clone()).collect();
    assert_eq!(exported, traces, "every trace, and only those");
    stack.check_traces()?;
    assert!(
        stack
            .function
            .json_logs()
            .iter()
            .all(|l| l["dropped_spans"].is_null()),
        "nothing reported dropped"
    );
    Ok(())
}

#[tokio::test]
async fn no_span_is_lost_with_a_healthy_collector() -> anyhow::Result<()> {
    freeze_between_invocations_then_terminate(Behaviour::Healthy).await
}

#[tokio::test]
async fn no_span_is_lost_with_a_slow_collector() -> anyhow::Result<()> {
    freeze_between_invocations_then_terminate(Behaviour::Slow(Duration::from_millis(200))).await
}
