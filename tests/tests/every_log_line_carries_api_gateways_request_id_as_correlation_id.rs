//! Powertools' correlation id for API Gateway: every log line of a request carries
//! `correlation_id` = the API Gateway request id (`requestContext.requestId`, REST and
//! HTTP API), which the stage's access log has too; the invocation span carries it.

use cruddur_tests::{
    events::{http_api_event, rest_api_event},
    Behaviour, Stack, DEFAULT_TIMEOUT,
};

#[tokio::test]
async fn every_log_line_carries_api_gateways_request_id_as_correlation_id() -> anyhow::Result<()> {
    let env = [("POWERTOOLS_LOGGER_LOG_EVENT", "true")];
    let stack = Stack::start("home-activities", Behaviour::Healthy, &env).await?;
    for event in [
        rest_api_event(
            "GET",
            "/api/activities/home",
            "/api/activities/home",
            None,
            None,
            None,
        ),
        http_api_event(
            "GET",
            "/api/activities/home",
            "GET /api/activities/home",
            None,
            None,
            None,
        ),
    ] {
        let api_request_id = event["requestContext"]["requestId"].as_str().unwrap().to_owned();
        let traced = stack.invoke(event).await?;
        assert_eq!(traced.json()["statusCode"], 200);
        stack.settled(traced.request_id()).await?;
        let lines: Vec<_> = stack
            .lines_of(traced.request_id())
            .into_iter()
            .filter(|l| l.get("_aws").is_none())
            .collect();
        assert!(lines.len() >= 2, "the event line and the service's: {lines:#?}");
        for line in &lines {
            assert_eq!(line["correlation_id"], api_request_id.as_str(), "{line}");
        }
        let spans = stack
            .otlp
            .wait_for_trace(&traced.trace_hex, 2, DEFAULT_TIMEOUT)
            .await?;
        let root = spans.iter().find(|s| s.is_root()).expect("the invocation span");
        assert_eq!(root.str_attr("correlation_id"), Some(api_request_id.as_str()));
    }
    stack.check_traces()?;
    Ok(())
}
