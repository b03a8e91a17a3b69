//! The foundation's contract, on what really arrives: one request, one trace id,
//! in X-Ray documents, OTLP spans, JSON log lines and an EMF line.

use std::collections::BTreeSet;

use cruddur_tests::{
    all_subsegments,
    events::{home_activities_event, http_api_event},
    Behaviour, Stack, DEFAULT_TIMEOUT,
};
use serde_json::Value;

#[tokio::test]
async fn home_activities_tells_one_story_in_every_pillar() -> anyhow::Result<()> {
    let stack = Stack::start("home-activities", Behaviour::Healthy, &[]).await?;
    let events = [
        home_activities_event(),
        http_api_event(
            "GET",
            "/api/activities/home",
            "GET /api/activities/home",
            None,
            None,
            None,
        ),
        home_activities_event(),
    ];
    for (n, event) in events.into_iter().enumerate() {
        let traced = stack.invoke(event).await?;
        let (invocation, root, parent, trace_hex) = (
            &traced.invocation,
            &traced.root,
            &traced.parent,
            &traced.trace_hex,
        );

        // The response: the seed's three activities.
        let response = invocation.json();
        assert_eq!(response["statusCode"], 200, "{response}");
        let body: Value = serde_json::from_str(response["body"].as_str().unwrap())?;
        let messages: Vec<&str> = body
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["message"].as_str().unwrap())
            .collect();
        assert_eq!(
            messages,
            [
                "Cloud is fun!",
                "I am out of prune juice",
                "My dear doctor, I am just simple tailor"
            ]
        );

        // OTLP: the invocation span continues Lambda's trace under its facade segment.
        let spans: Vec<_> = stack
            .otlp
            .wait_for_spans(2 * (n + 1), DEFAULT_TIMEOUT)
            .await?
            .into_iter()
            .filter(|s| &s.trace_id_hex == trace_hex)
            .collect();
        assert_eq!(spans.len(), 2, "spans of this trace: {spans:#?}");
        // One root, no parent that never arrives: Lambda's facade segment (the trace
        // header's Parent) never reaches Honeycomb.
        stack.otlp.ensure_traces_complete(&[])?;
        let root_span = spans
            .iter()
            .find(|s| s.name == "home-activities")
            .expect("invocation span");
        let mock = spans
            .iter()
            .find(|s| s.name == "home-activities-mock-data")
            .expect("mock-data span");
        // Honeycomb never sees Lambda's facade segment: the root has no parent, and names
        // Lambda's Parent in an attribute.
        assert!(root_span.is_root(), "{root_span:#?}");
        assert_eq!(
            root_span.str_attr("aws.lambda.parent_segment_id"),
            Some(parent.as_str())
        );
        assert_eq!(root_span.kind, 2, "SERVER");
        assert_eq!(
            root_span.str_attr("faas.invocation_id"),
            Some(invocation.request_id.as_str())
        );
        assert_eq!(
            root_span.attr("faas.coldstart").and_then(|v| v.as_bool()),
            Some(n == 0)
        );
        assert_eq!(root_span.str_attr("http.request.method"), Some("GET"));
        assert_eq!(root_span.str_attr("http.route"), Some("/api/activities/home"));
        assert!(root_span
            .str_attr("url.path")
            .unwrap()
            .ends_with("/api/activities/home"));
        assert_eq!(root_span.int_attr("http.response.status_code"), Some(200));
        assert_eq!(mock.parent_span_id_hex, root_span.span_id_hex);
        assert_eq!(mock.int_attr("app.result_length"), Some(3));
        assert!(mock.str_attr("app.now").is_some_and(|now| now.starts_with("20")));
        for (key, value) in [
            ("service.name", "home-activities"),
            ("cloud.provider", "aws"),
            ("cloud.platform", "aws_lambda"),
            ("cloud.region", "us-east-1"),
            ("faas.name", "home-activities"),
            ("faas.version", "$LATEST"),
        ] {
            assert_eq!(root_span.resource_str(key), Some(value), "resource {key}");
        }
        assert_eq!(
            root_span.resource.get("faas.max_memory").and_then(|v| v.as_i64()),
            Some(128 * 1024 * 1024)
        );

        // X-Ray: one subsegment document under the facade, the same ids as OTLP.
        let docs: Vec<Value> = stack
            .xray
            .wait_for_documents(n + 1, DEFAULT_TIMEOUT)
            .await?
            .into_iter()
            .filter(|d| d["trace_id"] == root.as_str())
            .collect();
        assert_eq!(docs.len(), 1, "{docs:#?}");
        let doc = &docs[0];
        assert_eq!(doc["type"], "subsegment");
        assert_eq!(&doc["parent_id"], parent.as_str());
        assert_eq!(doc["name"], "home-activities");
        assert_eq!(doc["id"], root_span.span_id_hex.as_str());
        assert_eq!(doc["annotations"]["ColdStart"], n == 0);
        assert_eq!(doc["http"]["request"]["method"], "GET");
        assert_eq!(doc["http"]["response"]["status"], 200);
        let all = all_subsegments(doc);
        let sub = all
            .iter()
            .find(|s| s["name"] == "mock-data")
            .expect("mock-data subsegment");
        assert_eq!(sub["id"], mock.span_id_hex.as_str());
        assert_eq!(sub["annotations"]["app_result_length"], 3);
        assert!(doc["end_time"].as_f64() >= sub["end_time"].as_f64());

        // Logs: the HomeActivities line carries every id.
        let line = stack
            .function
            .wait_for_json_log(
                |l| l["message"] == "HomeActivities" && l["requestId"] == invocation.request_id.as_str(),
                DEFAULT_TIMEOUT,
            )
            .await?;
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["result_length"], 3);
        assert_eq!(line["xray_trace_id"], root.as_str());
        assert_eq!(line["trace_id"], trace_hex.as_str());
        assert_eq!(line["span_id"], mock.span_id_hex.as_str());
        assert_eq!(line["service"], "home-activities");
        assert_eq!(line["cold_start"], n == 0);
        assert!(line["timestamp"].as_str().unwrap().ends_with('Z'));

        // Metrics: one EMF line for the invocation.
        stack.settled(&invocation.request_id).await?;
        let emf = stack.function.emf_lines_of(&invocation.request_id);
        assert_eq!(emf.len(), 1, "{emf:#?}");
        let directive = &emf[0]["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Cruddur");
        assert_eq!(
            directive["Dimensions"][0],
            serde_json::json!(["service", "route"])
        );
        assert_eq!(emf[0]["route"], "/api/activities/home");
        assert_eq!(emf[0]["Requests"], 1.0);
        assert!(emf[0]["Latency"].as_f64().unwrap() > 0.0);
        assert_eq!(emf[0]["xray_trace_id"], root.as_str());
    }

    // Every X-Ray document valid, every trace whole; every span id is unique.
    stack.check_traces()?;
    let ids: BTreeSet<_> = stack.otlp.spans().into_iter().map(|s| s.span_id_hex).collect();
    assert_eq!(ids.len(), stack.otlp.spans().len());
    Ok(())
}
