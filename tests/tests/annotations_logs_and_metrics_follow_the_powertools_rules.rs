//! Powertools' Tracer, Logger and Metrics features, on real output: annotations
//! under X-Ray's key rules, cold start everywhere, the function's identity on every
//! line, log levels, debug sampling, event logging with redaction, correlation in
//! spawned tasks, and EMF lines within the spec's limits.

use cruddur_tests::{
    all_subsegments,
    events::{rest_api_event, set_header, signed_in, ID_TOKEN},
    Behaviour, Stack, Traced, DEFAULT_TIMEOUT,
};
use serde_json::Value;

/// `GET <path>` to the powertools-parity example, under a fresh sampled trace.
async fn get(stack: &Stack, path: &str) -> anyhow::Result<Traced> {
    stack
        .invoke(rest_api_event("GET", path, path, None, None, None))
        .await
}

#[tokio::test]
async fn annotations_follow_xray_rules_and_cold_start_is_everywhere() -> anyhow::Result<()> {
    let stack = Stack::start_example("powertools-parity", Behaviour::Healthy, &[]).await?;
    for n in 0..2 {
        let invocation = get(&stack, "/ok").await?;
        stack.settled(invocation.request_id()).await?;
        let docs = stack.xray.wait_for_documents(n + 1, DEFAULT_TIMEOUT).await?;
        let doc = docs.last().unwrap();
        assert_eq!(doc["annotations"]["ColdStart"], n == 0);
        let work = all_subsegments(doc)
            .into_iter()
            .find(|s| s["name"] == "annotated-work")
            .expect("subsegment");
        let annotations = work["annotations"].as_object().unwrap();
        assert_eq!(annotations["app_user_handle"], "andrewbrown");
        assert_eq!(annotations["app_result_length"], 3);
        assert_eq!(annotations["app_cache_hit"], true);
        assert_eq!(annotations["app_ratio"], 0.5);
        assert_eq!(annotations["weird_key_with_spaces_"], "kept, renamed");
        assert!(annotations
            .keys()
            .all(|k| k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')));
        let metadata = &work["metadata"]["default"];
        assert_eq!(
            metadata["app.long_text"].as_str().map(str::len),
            Some(2_000),
            "long values go to metadata"
        );
        assert_eq!(
            metadata["app.details"], "[1, 2, 3]",
            "debug values go to metadata"
        );

        let spans = stack.otlp.wait_for_spans(2 * (n + 1), DEFAULT_TIMEOUT).await?;
        stack.otlp.ensure_traces_complete(&[])?;
        let root = spans.iter().rev().find(|s| s.kind == 2).unwrap();
        assert_eq!(
            root.attr("faas.coldstart").and_then(|v| v.as_bool()),
            Some(n == 0)
        );
        assert_eq!(
            root.str_attr("cloud.resource_id"),
            Some(stack.runtime.function_arn().as_str())
        );

        for line in stack.lines_of(invocation.request_id()) {
            if line.get("_aws").is_some() {
                assert_eq!(
                    line.get("ColdStart").is_some(),
                    n == 0,
                    "cold start metric only once: {line}"
                );
                continue;
            }
            assert_eq!(line["cold_start"], n == 0);
            assert_eq!(line["function_name"], "powertools-parity");
            assert_eq!(line["function_version"], "$LATEST");
            assert_eq!(line["function_memory_size"], 128);
            assert_eq!(line["function_arn"], stack.runtime.function_arn().as_str());
        }
    }
    Ok(())
}

#[tokio::test]
async fn metrics_stay_within_emf_limits_and_keep_their_own_dimensions() -> anyhow::Result<()> {
    let env = [("POWERTOOLS_METRICS_DEFAULT_DIMENSIONS", "environment=test")];
    let stack = Stack::start_example("powertools-parity", Behaviour::Healthy, &env).await?;
    let invocation = get(&stack, "/metrics").await?;
    // Every EMF line is out once the runtime asks for the next event (from then on Lambda
    // may freeze the process, as the emulator does).
    stack.settled(invocation.request_id()).await?;
    let emf = stack.function.emf_lines_of(invocation.request_id());
    let directive = |line: &Value| line["_aws"]["CloudWatchMetrics"][0].clone();
    let names = |line: &Value| -> Vec<String> {
        directive(line)["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap().to_owned())
            .collect()
    };
    // The built-ins, the 151 route metrics in two documents, the single metric.
    assert_eq!(emf.len(), 4, "{emf:#?}");
    for line in &emf {
        assert_eq!(directive(line)["Namespace"], "Cruddur");
        assert_eq!(line["order_id"], "o-123", "metadata on every document");
        assert_eq!(
            line["service"], "powertools-parity",
            "the reserved key kept its value"
        );
        for name in names(line) {
            assert!(line[&name].is_number(), "value of {name} beside its definition");
        }
    }

    // The built-in metrics keep the dashboard's dimensions, whatever the route adds.
    let builtin = &emf[0];
    assert_eq!(
        directive(builtin)["Dimensions"],
        serde_json::json!([["service", "route"]])
    );
    let mut builtin_names = names(builtin);
    builtin_names.sort();
    assert_eq!(builtin_names, ["ClientErrors", "Errors", "Latency", "Requests"]);
    assert_eq!(builtin["route"], "/metrics");
    assert!(builtin.get("tenant").is_none() && builtin.get("environment").is_none());
    assert_eq!(
        builtin["_aws"]["CloudWatchMetrics"][1]["Dimensions"],
        serde_json::json!([["service", "function_name"]]),
        "ColdStart by function"
    );

    // The route's own metrics: its own dimensions, at most 100 a document.
    let mut own = Vec::new();
    for line in &emf[1..3] {
        assert_eq!(
            directive(line)["Dimensions"][0],
            serde_json::json!(["service", "environment", "tenant"])
        );
        assert!(line.get("route").is_none(), "{line}");
        let metrics = directive(line)["Metrics"].as_array().unwrap().clone();
        assert!(metrics.len() <= 100);
        for metric in &metrics {
            if metric["Name"] == "QueueDepth" {
                assert_eq!(metric["StorageResolution"], 1);
            }
        }
        own.extend(names(line));
    }
    own.sort();
    own.dedup();
    assert_eq!(own.len(), 151);
    assert!(!own.contains(&"service".to_owned()));
    assert_eq!(
        emf[1]["Metric149"].as_f64().or(emf[2]["Metric149"].as_f64()),
        Some(149.0)
    );

    // The single metric: its own document, by its own dimensions.
    let single = &emf[3];
    assert_eq!(names(single), ["PaymentTaken"]);
    assert_eq!(
        directive(single)["Dimensions"],
        serde_json::json!([["service", "provider"]])
    );
    assert_eq!(single["provider"], "stripe");

    // The reserved name was refused, and said so.
    let refused = stack
        .lines_of(invocation.request_id())
        .into_iter()
        .find(|l| l["message"] == "metric not recorded")
        .expect("a WARN line for the reserved metric name");
    assert_eq!(refused["level"], "WARN");
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("\"service\" is reserved"),
        "{refused}"
    );
    Ok(())
}

#[tokio::test]
async fn spawned_tasks_log_with_the_request_id() -> anyhow::Result<()> {
    let stack = Stack::start_example("powertools-parity", Behaviour::Healthy, &[]).await?;
    let invocation = get(&stack, "/spawn").await?;
    let id = invocation.request_id();
    let line = stack
        .function
        .wait_for_json_log(|l| l["message"] == "from a spawned task", DEFAULT_TIMEOUT)
        .await?;
    assert_eq!(line["requestId"], id);
    assert!(line["xray_trace_id"]
        .as_str()
        .is_some_and(|t| t.starts_with("1-")));
    Ok(())
}

#[tokio::test]
async fn log_level_comes_from_lambda_and_rust_log_overrides_it() -> anyhow::Result<()> {
    let warn_only = Stack::start_example(
        "powertools-parity",
        Behaviour::Healthy,
        &[("AWS_LAMBDA_LOG_LEVEL", "WARN")],
    )
    .await?;
    let invocation = get(&warn_only, "/reject").await?;
    warn_only.settled(invocation.request_id()).await?;
    let levels: Vec<Value> = warn_only
        .lines_of(invocation.request_id())
        .iter()
        .filter_map(|l| l.get("level").cloned())
        .collect();
    assert_eq!(levels, ["WARN"], "only the WARN line at level WARN");

    let env = [("AWS_LAMBDA_LOG_LEVEL", "WARN"), ("RUST_LOG", "debug")];
    let debug = Stack::start_example("powertools-parity", Behaviour::Healthy, &env).await?;
    let invocation = get(&debug, "/debug").await?;
    let id = invocation.request_id();
    debug
        .function
        .wait_for_json_log(|l| l["level"] == "DEBUG" && l["requestId"] == id, DEFAULT_TIMEOUT)
        .await?;
    Ok(())
}

#[tokio::test]
async fn debug_lines_are_sampled_per_invocation() -> anyhow::Result<()> {
    for (rate, expect_debug) in [("1.0", true), ("0", false)] {
        let env = [
            ("AWS_LAMBDA_LOG_LEVEL", "INFO"),
            ("POWERTOOLS_LOGGER_SAMPLE_RATE", rate),
        ];
        let stack = Stack::start_example("powertools-parity", Behaviour::Healthy, &env).await?;
        let invocation = get(&stack, "/debug").await?;
        stack.settled(invocation.request_id()).await?;
        let lines = stack.lines_of(invocation.request_id());
        let debug = lines.iter().find(|l| l["level"] == "DEBUG");
        assert_eq!(debug.is_some(), expect_debug, "rate {rate}: {lines:#?}");
        if let Some(line) = debug {
            assert_eq!(line["sampling_rate"], 1.0);
            assert_eq!(line["detail"], "verbose");
        }
    }
    Ok(())
}

#[tokio::test]
async fn logged_events_never_show_secrets() -> anyhow::Result<()> {
    let env = [
        ("POWERTOOLS_LOGGER_LOG_EVENT", "true"),
        ("CRUDDUR_LOG_REDACT_HEADERS", "X-Session-Token"),
    ];
    let stack = Stack::start_example("powertools-parity", Behaviour::Healthy, &env).await?;
    let body = r#"{"message":"hi","password":"s3cret-password","profile":{"token":"s3cret-token"}}"#;
    let query = serde_json::json!({"code": "s3cret-query"});
    let event = rest_api_event("POST", "/ok", "/ok", None, Some(query), Some(body));
    let mut event = signed_in(event, "caller-sub", "andrewbrown");
    for (name, value) in [
        ("Authorization", "Bearer s3cret-bearer"),
        ("Cookie", "session=s3cret-cookie"),
        ("X-Api-Key", "s3cret-api-key"),
        ("X-Session-Token", "s3cret-session"),
        ("Accept", "application/json"),
    ] {
        set_header(&mut event, name, value);
    }
    event["requestContext"]["identity"]["accessKey"] = "AKIAs3cretaccesskey".into();
    event["requestContext"]["identity"]["cognitoIdentityId"] = "s3cret-identity".into();
    let invocation = stack.runtime.invoke(event, None).await?;
    stack.settled(&invocation.request_id).await?;
    let logged = stack
        .lines_of(&invocation.request_id)
        .into_iter()
        .find(|l| l["message"] == "Lambda invocation event")
        .expect("event line");
    let event: Value = serde_json::from_str(logged["event"].as_str().unwrap())?;
    assert_eq!(event["headers"]["Authorization"], "***");
    assert_eq!(event["headers"]["X-Session-Token"], "***");
    assert_eq!(event["headers"]["Accept"], "application/json");
    assert_eq!(event["queryStringParameters"]["code"], "***");
    assert_eq!(event["requestContext"]["identity"], "***");
    // Of the claims, the caller's id alone (no email, no username).
    assert_eq!(
        event["requestContext"]["authorizer"],
        serde_json::json!({"claims": {"sub": "caller-sub"}})
    );
    let logged_body: Value = serde_json::from_str(event["body"].as_str().unwrap())?;
    assert_eq!(
        logged_body,
        serde_json::json!({"message": "hi", "password": "***", "profile": {"token": "***"}})
    );
    let everything = [stack.function.stdout_lines(), stack.function.stderr_lines()]
        .concat()
        .join("\n");
    for secret in ["s3cret", "andrewbrown@example.com", ID_TOKEN] {
        assert!(!everything.contains(secret), "{secret} reached the logs");
    }
    Ok(())
}
