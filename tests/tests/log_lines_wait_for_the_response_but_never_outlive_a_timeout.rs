//! An invocation's INFO lines are written after its response (a write to the log stream
//! before it costs latency), but none is lost for it: they keep their order ahead of the
//! invocation's EMF document, and an invocation that runs into its deadline (Lambda then
//! ends the process, `Sandbox.Timedout`) still leaves the lines it logged before.
//!
//! The handler (`overlapping-invocations` example) logs "overlapping work started", sleeps
//! `ms`, then logs "overlapping work done".

use std::time::Duration;

use cruddur_tests::{events::rest_api_event, trace_header, Behaviour, Outcome, RuntimeApi, Stack};
use serde_json::{json, Value};

/// The function timeout the emulator gives each event.
const FUNCTION_TIMEOUT: Duration = Duration::from_millis(1_500);
/// How long the test waits for a line to reach the harness.
const PATIENCE: Duration = Duration::from_secs(5);

fn work(ms: u64) -> Value {
    let query = json!({"ms": ms.to_string(), "n": "1"});
    rest_api_event("GET", "/work", "/work", None, Some(query), None)
}

/// The messages of `request_id`'s lines, in the order written ("EMF" for its EMF line).
fn messages(stack: &Stack, request_id: &str) -> Vec<String> {
    stack
        .function
        .lines_of(request_id)
        .iter()
        .map(|line| match line["message"].as_str() {
            Some(message) => message.to_owned(),
            None if line.get("_aws").is_some() => "EMF".to_owned(),
            None => line.to_string(),
        })
        .collect()
}

async fn wait_for(stack: &Stack, request_id: &str, wanted: &str) -> Vec<String> {
    let started = std::time::Instant::now();
    loop {
        let seen = messages(stack, request_id);
        if seen.iter().any(|m| m == wanted) || started.elapsed() > PATIENCE {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn log_lines_wait_for_the_response_but_never_outlive_a_timeout() -> anyhow::Result<()> {
    let runtime = RuntimeApi::builder().timeout(FUNCTION_TIMEOUT).start().await;
    let stack =
        Stack::start_example_with_runtime(runtime, "overlapping-invocations", Behaviour::Healthy, &[])
            .await?;

    // Answered: every line is there, in the order logged, ahead of the EMF document.
    let (header, _, _) = trace_header(true);
    let answered = stack.runtime.invoke(work(10), Some(&header)).await?;
    assert_eq!(answered.status, Outcome::Response, "{}", answered.text());
    let seen = wait_for(&stack, &answered.request_id, "EMF").await;
    let position = |wanted: &str| seen.iter().position(|m| m == wanted);
    let (started, done, emf) = (
        position("overlapping work started"),
        position("overlapping work done"),
        position("EMF"),
    );
    assert!(
        started.is_some() && done.is_some() && emf.is_some() && started < done && done < emf,
        "lines of the answered invocation, in order: {seen:?}"
    );

    // Past its deadline: the line it logged before is in the log all the same.
    let (header, _, _) = trace_header(true);
    let timed_out = stack.runtime.invoke(work(60_000), Some(&header)).await?;
    assert_eq!(timed_out.status, Outcome::TimedOut, "{}", timed_out.text());
    let seen = wait_for(&stack, &timed_out.request_id, "overlapping work started").await;
    assert!(
        seen.iter().any(|m| m == "overlapping work started"),
        "the timed-out invocation's line was lost with the process; its lines: {seen:?}\n{}",
        stack.function.output_tail(20)
    );
    Ok(())
}
