//! Log buffering (Powertools' Logger, 2025): with `CRUDDUR_LOG_BUFFER_LEVEL=DEBUG`, DEBUG
//! lines are held per invocation, bounded in bytes. An invocation that fails writes them
//! out, in order, before its error line; one that succeeds drops them. Under the
//! template's logging controls (ApplicationLogLevel DEBUG) Lambda keeps the written ones.

use cruddur_tests::{alc, events::rest_api_event, Behaviour, Stack, Traced};
use serde_json::Value;

/// `GET <path>` to the powertools-parity example.
async fn get(stack: &Stack, path: &str) -> anyhow::Result<Traced> {
    stack
        .invoke(rest_api_event("GET", path, path, None, None, None))
        .await
}

fn messages(lines: &[Value]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l.get("_aws").is_none())
        .map(|l| {
            format!(
                "{} {}",
                l["level"].as_str().unwrap_or("?"),
                l["message"].as_str().unwrap_or("?")
            )
        })
        .collect()
}

#[tokio::test]
async fn a_failing_invocation_writes_its_held_lines_before_its_error_line() -> anyhow::Result<()> {
    let env = [
        ("AWS_LAMBDA_LOG_LEVEL", "DEBUG"),
        ("POWERTOOLS_LOG_LEVEL", "INFO"),
        ("CRUDDUR_LOG_BUFFER_LEVEL", "DEBUG"),
    ];
    let stack = Stack::start_example("powertools-parity", Behaviour::Healthy, &env).await?;

    // A success: its DEBUG line is held, then dropped.
    let ok = get(&stack, "/debug").await?;
    stack.settled(ok.request_id()).await?;
    assert!(messages(&stack.lines_of(ok.request_id()))
        .iter()
        .all(|m| !m.starts_with("DEBUG")));

    // A failure: the held lines come out, in order, just before the error line.
    let failed = get(&stack, "/debug-then-fail").await?;
    assert_eq!(failed.json()["statusCode"], 500);
    stack.settled(failed.request_id()).await?;
    let lines = stack.lines_of(failed.request_id());
    let got = messages(&lines);
    let expected = [
        "INFO an info line before the failure",
        "DEBUG a debug line before the failure",
        "DEBUG a debug line before the failure",
        "DEBUG a debug line before the failure",
        "ERROR handler failed",
    ];
    assert_eq!(&got[..expected.len()], expected, "{got:#?}");
    let steps: Vec<i64> = lines.iter().filter_map(|l| l["step"].as_i64()).collect();
    assert_eq!(steps, [1, 2, 3]);
    // Lambda's log controls (the template's ApplicationLogLevel: DEBUG) keep them.
    let stdout = stack.function.stdout_lines();
    let kept = alc::filter(&stdout, alc::LogLevel::Debug);
    assert_eq!(
        kept.iter()
            .filter(|l| l.contains("a debug line before the failure"))
            .count(),
        3
    );
    Ok(())
}

#[tokio::test]
async fn the_buffer_is_bounded_and_says_what_it_dropped() -> anyhow::Result<()> {
    let env = [
        ("AWS_LAMBDA_LOG_LEVEL", "DEBUG"),
        ("POWERTOOLS_LOG_LEVEL", "INFO"),
        ("CRUDDUR_LOG_BUFFER_LEVEL", "DEBUG"),
        // Room for about one line.
        ("CRUDDUR_LOG_BUFFER_MAX_BYTES", "700"),
    ];
    let stack = Stack::start_example("powertools-parity", Behaviour::Healthy, &env).await?;
    let failed = get(&stack, "/debug-then-fail").await?;
    stack.settled(failed.request_id()).await?;
    let lines = stack.lines_of(failed.request_id());
    let steps: Vec<i64> = lines.iter().filter_map(|l| l["step"].as_i64()).collect();
    assert_eq!(steps, [3], "the newest held line is kept: {lines:#?}");
    let warning = lines
        .iter()
        .find(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.contains("buffered log lines were dropped"))
        })
        .expect("a warning about the dropped lines");
    assert_eq!(warning["level"], "WARN");
    assert_eq!(warning["evicted_lines"], 2);
    Ok(())
}
