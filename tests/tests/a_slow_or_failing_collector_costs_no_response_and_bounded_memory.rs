//! A collector that is slow, answers 503, or drops the connection: every response
//! is still right; the spans held for it stay within the queue size; every span is
//! either delivered or reported dropped (log line and metric), counted exactly.

use std::time::Duration;

use cruddur_tests::{events::home_activities_event, Behaviour, Stack, DEFAULT_TIMEOUT};

const INVOCATIONS: usize = 300;
const SPANS_PER_INVOCATION: u64 = 2;

async fn many_invocations(collector: Behaviour) -> anyhow::Result<()> {
    // A dead collector gets a small queue (memory is the point); a slow one the
    // default queue, which holds this burst (nothing may be lost to slowness alone).
    let small_queue = [
        ("OTEL_BSP_MAX_QUEUE_SIZE", "64"),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "32"),
    ];
    let env: &[(&str, &str)] = if matches!(collector, Behaviour::Slow(_)) {
        &[]
    } else {
        &small_queue
    };
    let stack = Stack::start("home-activities", collector.clone(), env).await?;
    let mut rss_after_warm_up = 0;
    for n in 0..INVOCATIONS {
        let response = stack.invoke(home_activities_event()).await?.json();
        assert_eq!(response["statusCode"], 200, "{response}");
        assert!(response["body"].as_str().unwrap().contains("Cloud is fun!"));
        if n == 50 {
            rss_after_warm_up = stack.function.rss_kib().unwrap_or(0);
        }
    }
    let rss_at_end = stack.function.rss_kib().unwrap_or(0);
    // Give failed exports time for their retries (about 1.5 s; they run only while the
    // process is thawed, as Lambda freezes it between invocations), then end the process
    // as Lambda does: SIGTERM, SIGKILL 500 ms later.
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    let last = stack.invoke(home_activities_event()).await?;
    assert_eq!(last.json()["statusCode"], 200);
    stack.runtime.shutdown();
    let status = stack.function.wait_exit(DEFAULT_TIMEOUT).await?;
    assert!(
        status.success(),
        "{status:?} (killed at the shutdown limit?)\n{}",
        stack.function.output_tail(20)
    );

    let produced = (INVOCATIONS as u64 + 1) * SPANS_PER_INVOCATION;
    let delivered = stack
        .otlp
        .requests()
        .iter()
        .filter(|r| matches!(r.behaviour, Behaviour::Healthy | Behaviour::Slow(_)))
        .map(|r| r.span_count() as u64)
        .sum::<u64>();
    // Each span is accepted once: an export retried after the collector had accepted it
    // (say, because its timeout ran on while the process was frozen) is a duplicate in
    // Honeycomb. (Requests a failing collector refused are retried by design.)
    let mut received = Vec::new();
    for request in stack.otlp.requests() {
        let Some(decoded) = request.request.as_ref() else {
            continue;
        };
        if matches!(request.behaviour, Behaviour::Healthy | Behaviour::Slow(_)) {
            let mut spans = Vec::new();
            cruddur_tests::otlp_collector::flatten(decoded, &mut spans);
            received.extend(spans.into_iter().map(|s| s.span_id_hex));
        }
    }
    let distinct: std::collections::BTreeSet<&String> = received.iter().collect();
    assert_eq!(
        received.len(),
        distinct.len(),
        "{} spans were accepted more than once ({} accepted, {} distinct)",
        received.len() - distinct.len(),
        received.len(),
        distinct.len()
    );
    let logs = stack.function.json_logs();
    let reported: u64 = logs
        .iter()
        .filter(|l| l["target"] == "telemetry::delivery")
        .filter_map(|l| l["dropped_spans"].as_u64())
        .sum();
    let in_metrics: f64 = logs
        .iter()
        .filter_map(|l| l["TelemetryDroppedSpans"].as_f64())
        .sum();
    assert_eq!(
        delivered + reported,
        produced,
        "every span delivered or reported dropped: none silently"
    );
    match collector {
        Behaviour::Slow(_) => {
            assert_eq!(reported, 0, "a slow collector loses nothing");
            // Nothing lost: every trace whole, one root each.
            stack.check_traces()?;
        }
        _ => assert!(in_metrics > 0.0, "drops are in the EMF metric too"),
    }
    assert!(
        rss_at_end < rss_after_warm_up + 8 * 1024,
        "memory grew from {rss_after_warm_up} KiB to {rss_at_end} KiB with a queue of 64 spans"
    );
    Ok(())
}

#[tokio::test]
async fn a_slow_collector() -> anyhow::Result<()> {
    many_invocations(Behaviour::Slow(Duration::from_millis(200))).await
}

#[tokio::test]
async fn a_failing_collector() -> anyhow::Result<()> {
    many_invocations(Behaviour::Failing(503)).await
}

#[tokio::test]
async fn a_collector_that_drops_connections() -> anyhow::Result<()> {
    many_invocations(Behaviour::DropConnection).await
}
