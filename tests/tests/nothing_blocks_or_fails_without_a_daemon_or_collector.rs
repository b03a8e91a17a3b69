//! No collector, no daemon, an unresolvable daemon host, no trace header at all:
//! every request is still answered, logged, and the process shuts down cleanly.

use std::net::UdpSocket;

use cruddur_tests::{
    events::home_activities_event, trace_header, FunctionProcess, RuntimeApi, DEFAULT_TIMEOUT,
};

/// A local port with nothing listening (bound, then released).
fn closed_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn nothing_blocks_or_fails_without_a_daemon_or_collector() -> anyhow::Result<()> {
    let port = closed_port();
    let collector = format!("http://127.0.0.1:{port}");
    let daemon = format!("127.0.0.1:{port}");
    for daemon in [daemon.as_str(), "no-such-host.invalid:2000"] {
        let runtime = RuntimeApi::start().await;
        let env = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.as_str()),
            ("AWS_XRAY_DAEMON_ADDRESS", daemon),
        ];
        let function = FunctionProcess::spawn("home-activities", &runtime, &env)?;
        for n in 0..5 {
            let (header, root, _) = trace_header(true);
            let header = (n != 4).then_some(header.as_str());
            let event = home_activities_event();
            let invocation = runtime.invoke(event, header).await?;
            assert_eq!(invocation.json()["statusCode"], 200);
            let line = function
                .wait_for_json_log(
                    |l| l["message"] == "HomeActivities" && l["requestId"] == invocation.request_id.as_str(),
                    DEFAULT_TIMEOUT,
                )
                .await?;
            match header {
                Some(_) => assert_eq!(line["xray_trace_id"], root.as_str()),
                // Without a header, a new X-Ray-compatible id: 1-<epoch secs>-<24 hex>.
                None => assert!(line["xray_trace_id"].as_str().unwrap().len() == 35),
            }
        }
        // The loss is reported, not silent: in a WARN line and in the TelemetryDroppedSpans
        // metric. The exports' retries (about 1.5 s of backoff) run only while the process
        // is thawed: Lambda freezes it between invocations, as the emulator does. So the
        // drop may be counted by a later invocation or at the shutdown, not at a set time.
        tokio::time::sleep(std::time::Duration::from_millis(2_000)).await;
        for _ in 0..5 {
            let invocation = runtime.invoke(home_activities_event(), None).await?;
            assert_eq!(invocation.json()["statusCode"], 200);
        }
        runtime.shutdown();
        let status = function.wait_exit(DEFAULT_TIMEOUT).await?;
        assert!(status.success(), "exit: {status:?}\n{}", function.output_tail(30));
        let logs = function.json_logs();
        assert!(
            logs.iter().any(|l| l["level"] == "WARN"
                && l["target"] == "telemetry::delivery"
                && l["dropped_spans"].as_u64() > Some(0)),
            "a dropped-spans warning: {}",
            function.output_tail(40)
        );
        assert!(
            logs.iter()
                .any(|l| l["TelemetryDroppedSpans"].as_f64() > Some(0.0)),
            "the drop in the TelemetryDroppedSpans metric of an EMF line: {}",
            function.output_tail(40)
        );
    }
    Ok(())
}
