//! Exercises the fakes against each other, and the Runtime API emulator's Lambda rules
//! (freeze, deadline, 6 MB, shutdown, Managed Instances) against real processes.

use std::io::Write as _;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use cruddur_tests::events::{home_activities_event, http_api_event, rest_api_event, set_header};
use cruddur_tests::runtime_api::{MAX_RESPONSE_BYTES, SHUTDOWN_LIMIT_INTERNAL};
use cruddur_tests::xray_daemon::{parse_datagram, Mode, MAX_DATAGRAM};
use cruddur_tests::{
    all_subsegments, check_trace_roots, otel_trace_id_from_root, trace_header, AttrValue, Behaviour,
    FunctionProcess, OtlpCollector, Outcome, ReceivedSpan, RuntimeApi, Stack, XrayDaemon,
};
use http_body_util::{BodyExt, Full};
use hyper::header::HeaderMap;
use hyper::{Method, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span, Status};
use prost::Message as _;
use serde_json::{json, Value};

type HttpClient = Client<HttpConnector, Full<Bytes>>;

fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

async fn send(
    client: &HttpClient,
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> anyhow::Result<Answer> {
    let mut request = hyper::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = client.request(request.body(Full::new(body.into()))?).await?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await?.to_bytes();
    Ok(Answer {
        status,
        headers,
        body,
    })
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

fn epoch_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

/// A hand-made Lambda runtime: echoes each event back, or posts an error when the event
/// has `"fail": true`.
fn fake_runtime(base: String) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let client = client();
        loop {
            let next = send(
                &client,
                Method::GET,
                &format!("{base}/2018-06-01/runtime/invocation/next"),
                &[],
                "",
            )
            .await
            .expect("next");
            assert_eq!(next.status, StatusCode::OK);
            let id = header(&next.headers, "lambda-runtime-aws-request-id").to_owned();
            let event: Value = serde_json::from_slice(&next.body).expect("event JSON");
            let reply = json!({
                "echo": event,
                "deadline": header(&next.headers, "lambda-runtime-deadline-ms"),
                "arn": header(&next.headers, "lambda-runtime-invoked-function-arn"),
                "trace": header(&next.headers, "lambda-runtime-trace-id"),
            });
            let (kind, extra): (&str, &[(&str, &str)]) = if event["fail"] == json!(true) {
                (
                    "error",
                    &[("Lambda-Runtime-Function-Error-Type", "Handler.Failed")],
                )
            } else {
                ("response", &[])
            };
            let url = format!("{base}/2018-06-01/runtime/invocation/{id}/{kind}");
            let posted = send(&client, Method::POST, &url, extra, reply.to_string())
                .await
                .expect("post");
            assert_eq!(posted.status, StatusCode::ACCEPTED);
        }
    })
}

#[tokio::test]
async fn runtime_api_round_trip() {
    let api = RuntimeApi::start().await;
    api.set_function_name("home-activities");
    assert!(api.addr().ip().is_loopback());
    let base = format!("http://{}", api.addr());
    let runtime = fake_runtime(base.clone());
    api.wait_for_next_poll(1, Duration::from_secs(2)).await.unwrap();

    let (trace, _, _) = trace_header(true);
    let before = epoch_ms();
    let invocation = api.invoke(json!({"hello": "world"}), Some(&trace)).await.unwrap();
    assert_eq!(invocation.status, Outcome::Response);
    let body = invocation.json();
    assert_eq!(body["echo"], json!({"hello": "world"}));
    assert_eq!(body["trace"], json!(trace));
    assert_eq!(
        body["arn"],
        json!("arn:aws:lambda:us-east-1:123456789012:function:home-activities")
    );
    // The deadline is the function timeout ahead: 10 s, like template.yaml's `Timeout: 10`.
    let deadline: u64 = body["deadline"].as_str().unwrap().parse().unwrap();
    assert!(
        deadline >= before + 10_000 && deadline <= epoch_ms() + 10_000,
        "deadline {deadline}"
    );
    assert!(invocation.answered_at >= invocation.delivered_at);
    assert_eq!(invocation.error_type, None);

    let next = api.next_after(&invocation.request_id).await.unwrap();
    assert!(next >= invocation.answered_at);

    // No trace header: none is sent. Errors are recorded with their type.
    let failed = api.invoke(json!({"fail": true}), None).await.unwrap();
    assert_eq!(failed.status, Outcome::Error);
    assert!(failed.is_error());
    assert_eq!(failed.error_type.as_deref(), Some("Handler.Failed"));
    assert_eq!(failed.json()["trace"], json!(""));
    api.next_after(&failed.request_id).await.unwrap();
    assert!(api.next_polls() >= 3);

    // Answers for unknown or already answered invocations are refused.
    let client = client();
    let url = format!("{base}/2018-06-01/runtime/invocation/nope/response");
    assert_eq!(
        send(&client, Method::POST, &url, &[], "{}").await.unwrap().status,
        StatusCode::BAD_REQUEST
    );
    let url = format!(
        "{base}/2018-06-01/runtime/invocation/{}/response",
        failed.request_id
    );
    assert_eq!(
        send(&client, Method::POST, &url, &[], "{}").await.unwrap().status,
        StatusCode::BAD_REQUEST
    );

    // Init errors are recorded.
    let url = format!("{base}/2018-06-01/runtime/init/error");
    let answer = send(
        &client,
        Method::POST,
        &url,
        &[("Lambda-Runtime-Function-Error-Type", "Runtime.InitError")],
        r#"{"errorMessage":"boom"}"#,
    )
    .await
    .unwrap();
    assert_eq!(answer.status, StatusCode::ACCEPTED);
    let init_errors = api.init_errors();
    assert_eq!(init_errors.len(), 1);
    assert_eq!(init_errors[0].error_type.as_deref(), Some("Runtime.InitError"));
    assert_eq!(init_errors[0].text(), r#"{"errorMessage":"boom"}"#);
    runtime.abort();
}

#[tokio::test]
async fn invoke_without_runtime_times_out_clearly() {
    let api = RuntimeApi::start().await;
    let error = api
        .invoke_with_timeout(json!({}), None, Duration::from_millis(100))
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("no runtime took the event"), "{error}");
    assert!(api.next_after("unknown").await.is_err());
}

#[tokio::test]
async fn extensions_get_invoke_and_shutdown_events() {
    let api = RuntimeApi::start().await;
    let base = format!("http://{}", api.addr());
    let client = client();

    let registered = send(
        &client,
        Method::POST,
        &format!("{base}/2020-01-01/extension/register"),
        &[
            ("Lambda-Extension-Name", "telemetry-flusher"),
            ("Lambda-Extension-Accept-Feature", "accountId"),
        ],
        r#"{"events":["INVOKE","SHUTDOWN"]}"#,
    )
    .await
    .unwrap();
    assert_eq!(registered.status, StatusCode::OK);
    let id = header(&registered.headers, "lambda-extension-identifier").to_owned();
    assert_eq!(id.len(), 36);
    let info: Value = serde_json::from_slice(&registered.body).unwrap();
    assert_eq!(info["functionVersion"], json!("$LATEST"));
    assert_eq!(info["handler"], json!("bootstrap"));
    assert_eq!(info["accountId"], json!("123456789012"));

    let extensions = api.registered_extensions();
    assert_eq!(extensions.len(), 1);
    assert_eq!(extensions[0].name, "telemetry-flusher");
    assert_eq!(
        extensions[0].events,
        vec!["INVOKE".to_owned(), "SHUTDOWN".to_owned()]
    );

    // The extension loop: reports every event it gets.
    let (events_tx, mut events_rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
    let extension = extension_loop(base.clone(), id, events_tx);

    // A second extension subscribes to INVOKE only: it must never get SHUTDOWN.
    let invoke_only = register_extension(&base, "invoke-only", r#"{"events":["INVOKE"]}"#).await;
    let (invoke_only_tx, mut invoke_only_rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
    let invoke_only_loop = extension_loop(base.clone(), invoke_only, invoke_only_tx);

    let runtime = fake_runtime(base.clone());
    let (trace, _, _) = trace_header(false);
    let invocation = api.invoke(json!({"n": 1}), Some(&trace)).await.unwrap();
    let invoke = tokio::time::timeout(Duration::from_secs(2), events_rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(invoke["eventType"], json!("INVOKE"));
    assert_eq!(invoke["requestId"], json!(invocation.request_id));
    assert_eq!(invoke["tracing"]["type"], json!("X-Amzn-Trace-Id"));
    assert_eq!(invoke["tracing"]["value"], json!(trace));
    assert!(invoke["deadlineMs"].as_u64().unwrap() > epoch_ms());
    assert!(invoke["invokedFunctionArn"]
        .as_str()
        .unwrap()
        .starts_with("arn:aws:lambda:us-east-1:"));
    let done = api
        .extension_next_after("telemetry-flusher", &invocation.request_id)
        .await
        .unwrap();
    assert!(done >= invocation.delivered_at);
    let completed = api.completed_at(&invocation.request_id).await.unwrap();
    assert!(completed >= done && completed >= api.next_after(&invocation.request_id).await.unwrap());

    // An unknown identifier is refused.
    let refused = send(
        &client,
        Method::GET,
        &format!("{base}/2020-01-01/extension/event/next"),
        &[("Lambda-Extension-Identifier", "bogus")],
        "",
    )
    .await
    .unwrap();
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    let invoked = tokio::time::timeout(Duration::from_secs(2), invoke_only_rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(invoked["eventType"], json!("INVOKE"));

    api.shutdown();
    let shutdown = tokio::time::timeout(Duration::from_secs(2), events_rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(shutdown["eventType"], json!("SHUTDOWN"));
    assert_eq!(shutdown["shutdownReason"], json!("spindown"));
    // An extension subscribed to SHUTDOWN is external: the limit is 2 s.
    let deadline = shutdown["deadlineMs"].as_u64().unwrap();
    assert!(
        deadline > epoch_ms() + 1_500 && deadline <= epoch_ms() + 2_000,
        "{deadline}"
    );
    extension.await.unwrap();
    // SHUTDOWN only to the extensions that subscribed to it.
    let nothing = tokio::time::timeout(Duration::from_millis(300), invoke_only_rx.recv()).await;
    assert!(nothing.is_err(), "an INVOKE-only extension got {nothing:?}");
    invoke_only_loop.abort();
    assert!(api.registered_extensions()[0].next_calls.len() >= 2);

    // SHUTDOWN is delivered once; a later `next` waits until the process is gone.
    let id = api.registered_extensions()[0].identifier.clone();
    let url = format!("{base}/2020-01-01/extension/event/next");
    let headers = [("Lambda-Extension-Identifier", id.as_str())];
    let again = send(&client, Method::GET, &url, &headers, "");
    assert!(tokio::time::timeout(Duration::from_millis(50), again)
        .await
        .is_err());
    runtime.abort();
}

/// Registers an extension by hand; returns its identifier.
async fn register_extension(base: &str, name: &str, body: &str) -> String {
    let registered = send(
        &client(),
        Method::POST,
        &format!("{base}/2020-01-01/extension/register"),
        &[("Lambda-Extension-Name", name)],
        body.to_owned(),
    )
    .await
    .unwrap();
    assert_eq!(registered.status, StatusCode::OK);
    header(&registered.headers, "lambda-extension-identifier").to_owned()
}

/// An extension's `next` loop that reports every event it gets, until SHUTDOWN.
fn extension_loop(
    base: String,
    id: String,
    events: tokio::sync::mpsc::UnboundedSender<Value>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let client = self::client();
        let next_url = format!("{base}/2020-01-01/extension/event/next");
        loop {
            let answer = send(
                &client,
                Method::GET,
                &next_url,
                &[("Lambda-Extension-Identifier", &id)],
                "",
            )
            .await
            .unwrap();
            let event: Value = serde_json::from_slice(&answer.body).unwrap();
            let shutdown = event["eventType"] == json!("SHUTDOWN");
            events.send(event).unwrap();
            if shutdown {
                break;
            }
        }
    })
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn sample_export(trace_id: &[u8]) -> ExportTraceServiceRequest {
    let root = Span {
        trace_id: trace_id.to_vec(),
        span_id: vec![1, 2, 3, 4, 5, 6, 7, 8],
        name: "GET /api/activities/home".to_owned(),
        kind: 2,
        start_time_unix_nano: 1_000,
        end_time_unix_nano: 5_000,
        attributes: vec![
            kv(
                "http.route",
                any_value::Value::StringValue("/api/activities/home".to_owned()),
            ),
            kv("http.response.status_code", any_value::Value::IntValue(200)),
            kv("faas.coldstart", any_value::Value::BoolValue(true)),
            kv("ratio", any_value::Value::DoubleValue(0.5)),
        ],
        status: Some(Status {
            code: 1,
            message: String::new(),
        }),
        ..Default::default()
    };
    let child = Span {
        trace_id: trace_id.to_vec(),
        span_id: vec![9, 9, 9, 9, 9, 9, 9, 9],
        parent_span_id: root.span_id.clone(),
        name: "home_activities.run".to_owned(),
        kind: 1,
        start_time_unix_nano: 2_000,
        end_time_unix_nano: 3_000,
        events: vec![span::Event {
            name: "exception".to_owned(),
            time_unix_nano: 2_500,
            attributes: vec![kv(
                "exception.message",
                any_value::Value::StringValue("boom".to_owned()),
            )],
            ..Default::default()
        }],
        status: Some(Status {
            code: 2,
            message: "boom".to_owned(),
        }),
        ..Default::default()
    };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv(
                    "service.name",
                    any_value::Value::StringValue("home-activities".to_owned()),
                )],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "cruddur".to_owned(),
                    ..Default::default()
                }),
                spans: vec![root, child],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

#[tokio::test]
async fn otlp_collector_decodes_gzipped_protobuf() {
    let collector = OtlpCollector::start(Behaviour::Healthy).await;
    assert!(collector.endpoint().starts_with("http://127.0.0.1:"));
    let url = format!("{}/v1/traces", collector.endpoint());
    let client = client();

    let (_, root, _) = trace_header(true);
    let trace_hex = otel_trace_id_from_root(&root);
    let trace_id: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&trace_hex[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let plain = sample_export(&trace_id).encode_to_vec();
    let compressed = gzip(&plain);
    let answer = send(
        &client,
        Method::POST,
        &url,
        &[
            ("Content-Type", "application/x-protobuf"),
            ("Content-Encoding", "gzip"),
            ("X-Honeycomb-Team", "test-key"),
        ],
        compressed.clone(),
    )
    .await
    .unwrap();
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(header(&answer.headers, "content-type"), "application/x-protobuf");
    ExportTraceServiceResponse::decode(answer.body).unwrap();

    let spans = collector.wait_for_spans(2, Duration::from_secs(1)).await.unwrap();
    assert_eq!(spans.len(), 2);
    let root_span = &spans[0];
    assert_eq!(root_span.name, "GET /api/activities/home");
    assert_eq!(root_span.trace_id_hex, trace_hex);
    assert_eq!(root_span.span_id_hex, "0102030405060708");
    assert!(root_span.is_root());
    assert_eq!(root_span.kind, 2);
    assert_eq!(root_span.str_attr("http.route"), Some("/api/activities/home"));
    assert_eq!(root_span.int_attr("http.response.status_code"), Some(200));
    assert_eq!(root_span.attr("faas.coldstart"), Some(&AttrValue::Bool(true)));
    assert_eq!(root_span.attr("ratio"), Some(&AttrValue::Double(0.5)));
    assert_eq!(root_span.resource_str("service.name"), Some("home-activities"));
    assert_eq!(root_span.scope_name, "cruddur");
    assert_eq!(root_span.duration(), Duration::from_nanos(4_000));
    let child = &spans[1];
    assert_eq!(child.parent_span_id_hex, root_span.span_id_hex);
    assert_eq!(child.status_code, 2);
    assert_eq!(child.status_message, "boom");
    assert_eq!(child.events[0].name, "exception");
    assert_eq!(
        child.events[0].attributes["exception.message"],
        AttrValue::from("boom")
    );

    let requests = collector.requests();
    assert_eq!(requests.len(), 1);
    assert!(requests[0].gzip);
    assert_eq!(requests[0].wire_len, compressed.len());
    assert_eq!(requests[0].body_len, plain.len());
    assert_eq!(requests[0].header("x-honeycomb-team"), Some("test-key"));
    assert_eq!(requests[0].span_count(), 2);

    // Garbage is recorded and answered 400; the collector keeps serving.
    let bad = send(
        &client,
        Method::POST,
        &url,
        &[("Content-Encoding", "gzip")],
        "not gzip",
    )
    .await
    .unwrap();
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let bad = send(&client, Method::POST, &url, &[], vec![0xff, 0xff, 0xff])
        .await
        .unwrap();
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(collector.request_count(), 3);
    assert!(collector.requests()[1]
        .decode_error
        .as_deref()
        .unwrap()
        .contains("gunzip"));
    assert!(collector.requests()[2]
        .decode_error
        .as_deref()
        .unwrap()
        .contains("protobuf"));

    // Other paths are 404 and listed apart.
    let other = send(
        &client,
        Method::POST,
        &format!("{}/v1/logs", collector.endpoint()),
        &[],
        "",
    )
    .await
    .unwrap();
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    assert_eq!(collector.unexpected_requests(), vec!["POST /v1/logs".to_owned()]);

    let error = collector
        .wait_for_spans(5, Duration::from_millis(50))
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("but 2 arrived"), "{error}");
}

#[tokio::test]
async fn otlp_collector_misbehaves_on_demand() {
    let collector = OtlpCollector::start(Behaviour::Failing(503)).await;
    let url = collector.traces_endpoint();
    let body = sample_export(&[7; 16]).encode_to_vec();

    let failed = send(&client(), Method::POST, &url, &[], body.clone())
        .await
        .unwrap();
    assert_eq!(failed.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        collector.spans().len(),
        2,
        "what arrived is recorded even when failing"
    );

    collector.set_behaviour(Behaviour::Slow(Duration::from_millis(200)));
    let started = Instant::now();
    let slow = send(&client(), Method::POST, &url, &[], body.clone())
        .await
        .unwrap();
    assert_eq!(slow.status, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(200));

    collector.set_behaviour(Behaviour::DropConnection);
    let dropped = send(&client(), Method::POST, &url, &[], body.clone()).await;
    assert!(
        dropped.is_err(),
        "the connection should be closed without an answer"
    );
    assert_eq!(collector.request_count(), 3);
    assert_eq!(collector.requests()[2].behaviour, Behaviour::DropConnection);

    collector.set_behaviour(Behaviour::Healthy);
    let healthy = send(&client(), Method::POST, &url, &[], body).await.unwrap();
    assert_eq!(healthy.status, StatusCode::OK);
    assert_eq!(
        collector
            .wait_for_requests(4, Duration::from_secs(1))
            .await
            .unwrap()
            .len(),
        4
    );
}

const HEADER: &str = "{\"format\": \"json\", \"version\": 1}\n";
const TRACE: &str = "1-581cf771-a006649127e371903a2de979";

/// A valid subsegment as a function inside Lambda sends it, with `changes` applied on top
/// (a `null` removes the field).
fn subsegment(changes: Value) -> Value {
    let mut document = json!({
        "name": "home-activities",
        "id": "70de5b6f19ff9a0a",
        "type": "subsegment",
        "trace_id": TRACE,
        "parent_id": "53995c3f42cd8ad8",
        "start_time": 1.478293361271e9,
        "end_time": 1.478293361449e9,
        "annotations": {"ColdStart": true, "app_result_length": 3, "route": "/home"},
        "metadata": {"default": {"app.details": [1, 2, 3]}},
        "subsegments": [
            {"name": "SSM", "id": "0f910026178b71eb", "namespace": "aws",
             "start_time": 1.478293361272e9, "end_time": 1.478293361300e9,
             "aws": {"operation": "GetParameter"}},
            {"name": "mock-data", "id": "0e58d2918e9038e8",
             "start_time": 1.478293361301e9, "in_progress": true}
        ]
    });
    for (key, value) in changes.as_object().unwrap() {
        if value.is_null() {
            document.as_object_mut().unwrap().remove(key);
        } else {
            document[key] = value.clone();
        }
    }
    document
}

async fn send_document(daemon: &XrayDaemon, document: &Value) {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let datagram = format!("{HEADER}{document}");
    socket
        .send_to(datagram.as_bytes(), daemon.address())
        .await
        .unwrap();
}

async fn wait_for_datagrams(daemon: &XrayDaemon, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while daemon.datagrams().len() < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(daemon.datagrams().len(), n);
}

#[tokio::test]
async fn xray_daemon_parses_datagrams() {
    // Outside Lambda a whole segment, with its subsegments nested, is valid.
    let daemon = XrayDaemon::start_outside_lambda().await;
    assert!(daemon.address().starts_with("127.0.0.1:"));
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let segment = json!({
        "name": "home-activities",
        "id": "70de5b6f19ff9a0a",
        "trace_id": TRACE,
        "start_time": 1.478293361271e9,
        "end_time": 1.478293361449e9,
        "subsegments": [
            {"name": "handler", "id": "0000000000000001", "start_time": 1.4e9, "end_time": 1.4e9,
             "subsegments": [{"name": "db", "id": "0000000000000002", "start_time": 1.4e9, "end_time": 1.4e9}]},
            {"name": "emf", "id": "0000000000000003", "start_time": 1.4e9, "end_time": 1.4e9}
        ]
    });
    let good = format!("{HEADER}{segment}");
    socket.send_to(good.as_bytes(), daemon.address()).await.unwrap();
    let documents = daemon
        .wait_for_documents(1, Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(documents, vec![segment.clone()]);
    let error = daemon
        .wait_for_documents(2, Duration::from_millis(20))
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("but 1 arrived"), "{error}");

    socket
        .send_to(b"{\"format\": \"xml\", \"version\": 1}\n{}", daemon.address())
        .await
        .unwrap();
    socket
        .send_to(b"{\"name\": \"no header\"}", daemon.address())
        .await
        .unwrap();
    wait_for_datagrams(&daemon, 3).await;
    let datagrams = daemon.datagrams();
    assert!(datagrams[0].is_valid() && datagrams[0].error.is_none());
    assert_eq!(datagrams[0].raw_len, good.len());
    assert!(!datagrams[1].header_ok);
    assert!(datagrams[1].error.as_deref().unwrap().contains("header"));
    assert!(!datagrams[2].header_ok);
    assert!(datagrams[2].error.as_deref().unwrap().contains("newline"));
    assert_eq!(daemon.invalid().len(), 2);

    // Once an invalid datagram arrived, every way of reading documents fails loudly.
    let error = daemon.ensure_valid().unwrap_err().to_string();
    assert!(
        error.contains("2 X-Ray datagram(s)") && error.contains("newline"),
        "{error}"
    );
    let error = daemon
        .wait_for_documents(1, Duration::from_secs(1))
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("header is not"), "{error}");
    let error = daemon
        .wait_for_trace(TRACE, Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("newline"), "{error}");
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| daemon.documents()));
    assert!(
        panicked.is_err(),
        "documents() must not hand out documents beside invalid ones"
    );

    let names: Vec<String> = all_subsegments(&segment)
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["home-activities", "handler", "db", "emf"]);
}

#[tokio::test]
async fn xray_daemon_refuses_what_xray_refuses() {
    let daemon = XrayDaemon::start().await;
    let valid = subsegment(json!({}));
    send_document(&daemon, &valid).await;
    assert_eq!(
        daemon
            .wait_for_trace(TRACE, Duration::from_secs(1))
            .await
            .unwrap(),
        vec![valid]
    );

    let long = "x".repeat(1_001);
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"name": "SSM", "id": "70de5b6f19ff9a0b", "trace_id": TRACE, "start_time": 1.4e9,
                   "end_time": 1.4e9, "origin": "AWS::Lambda::Function", "namespace": "aws"}),
            "a full segment sent from inside Lambda",
        ),
        (subsegment(json!({"parent_id": null})), "needs `parent_id`"),
        (subsegment(json!({"trace_id": null})), "needs `trace_id`"),
        (subsegment(json!({"type": "segment"})), "not \"subsegment\""),
        (
            subsegment(json!({"trace_id": "1-abc-def"})),
            "is not 1-<8 hex digits>-<24 hex digits>",
        ),
        (
            subsegment(json!({"id": "12345"})),
            "`id` \"12345\" is not 16 hexadecimal digits",
        ),
        (
            subsegment(json!({"parent_id": "not-hex-at-all!!"})),
            "`parent_id`",
        ),
        (subsegment(json!({"name": null})), "no `name`"),
        (subsegment(json!({"start_time": "now"})), "no `start_time`"),
        (
            subsegment(json!({"end_time": null})),
            "neither `end_time` nor `in_progress: true`",
        ),
        (
            subsegment(json!({"namespace": "local"})),
            "neither \"aws\" nor \"remote\"",
        ),
        (
            subsegment(json!({"annotations": {"app.user": "x"}})),
            "annotation key \"app.user\"",
        ),
        (
            subsegment(json!({"annotations": {"k": {"a": 1}}})),
            "is not a string, number or boolean",
        ),
        (
            subsegment(json!({"annotations": {"k": [1]}})),
            "is not a string, number or boolean",
        ),
        (subsegment(json!({"annotations": {"k": long}})), "(at most 1000)"),
        (
            subsegment(json!({"annotations": {"k".repeat(501): 1}})),
            "keys are 1 to 500",
        ),
        (
            subsegment(json!({"fault": "yes"})),
            "`fault` \"yes\" is not a boolean",
        ),
        (
            subsegment(json!({"cause": {"exceptions": [{"type": "Panic", "message": "boom"}]}})),
            "exception without an `id`",
        ),
        (
            subsegment(
                json!({"subsegments": [{"name": "db", "id": "x", "start_time": 1.4e9, "end_time": 1.4e9}]}),
            ),
            "subsegment \"db\" (x) in subsegment",
        ),
        (
            subsegment(
                json!({"subsegments": [{"name": "db", "id": "0000000000000002", "start_time": 1.4e9}]}),
            ),
            "neither `end_time` nor `in_progress: true`",
        ),
    ];
    for (n, (document, _)) in cases.iter().enumerate() {
        send_document(&daemon, document).await;
        wait_for_datagrams(&daemon, n + 2).await;
    }
    let datagrams = daemon.datagrams();
    for (datagram, (document, reason)) in datagrams[1..].iter().zip(&cases) {
        let error = datagram
            .error
            .as_deref()
            .unwrap_or_else(|| panic!("accepted: {document}"));
        assert!(
            error.contains(reason),
            "{document}\nexpected {reason:?} in: {error}"
        );
    }
    assert_eq!(daemon.invalid().len(), cases.len());
    assert_eq!(daemon.datagrams().iter().filter(|d| d.is_valid()).count(), 1);

    // Outside Lambda, segments are fine, but `namespace` is still a subsegment field and a
    // segment's name keeps to its characters and length.
    let outside =
        |document: Value| cruddur_tests::validate_document(&document, Mode::OutsideLambda).join("; ");
    let segment = json!({"name": "SSM", "id": "70de5b6f19ff9a0b", "trace_id": TRACE,
                         "start_time": 1.4e9, "end_time": 1.4e9});
    assert_eq!(outside(segment.clone()), "");
    let mut namespaced = segment.clone();
    namespaced["namespace"] = json!("aws");
    assert!(outside(namespaced).contains("`namespace` \"aws\" on a segment"));
    let mut shouting = segment.clone();
    shouting["name"] = json!("home activities!");
    assert!(outside(shouting).contains("segment `name` has '!'"));
    let mut long_name = segment;
    long_name["name"] = json!("n".repeat(201));
    assert!(outside(long_name).contains("(at most 200)"));
}

#[test]
fn an_oversized_datagram_is_reported_not_cut() {
    // IPv4 UDP cannot carry more than 65,507 bytes, so this is checked on the parser: the
    // daemon's socket reads up to four times the real daemon's 64 KiB buffer.
    let mut document = subsegment(json!({}));
    document["metadata"] = json!({"default": {"blob": "x".repeat(MAX_DATAGRAM)}});
    let datagram = format!("{HEADER}{document}");
    let parsed = parse_datagram(datagram.as_bytes(), Mode::Lambda);
    assert!(parsed.document.is_some(), "read whole, not truncated");
    let error = parsed.error.unwrap();
    assert!(error.contains("over the daemon's 65536-byte buffer"), "{error}");
    let small = format!("{HEADER}{}", subsegment(json!({})));
    assert!(parse_datagram(small.as_bytes(), Mode::Lambda).is_valid());
}

#[test]
fn trace_headers_are_valid() {
    let (header, root, parent) = trace_header(true);
    assert_eq!(header, format!("Root={root};Parent={parent};Sampled=1"));
    let parts: Vec<&str> = root.split('-').collect();
    assert_eq!(parts.len(), 3);
    assert_eq!(parts[0], "1");
    assert_eq!(parts[1].len(), 8);
    assert_eq!(parts[2].len(), 24);
    let seconds = u64::from_str_radix(parts[1], 16).unwrap();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    assert!(seconds <= now && now - seconds < 5);
    assert_eq!(parent.len(), 16);
    assert!(trace_header(false).0.ends_with(";Sampled=0"));
    assert_ne!(trace_header(true).1, root);

    let id = otel_trace_id_from_root(&root);
    assert_eq!(id.len(), 32);
    assert!(id
        .chars()
        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    assert_eq!(
        otel_trace_id_from_root("1-5759e988-bd862e3fe1be46a994272793"),
        "5759e988bd862e3fe1be46a994272793"
    );
}

#[test]
fn events_are_accepted_by_lambda_http() {
    use lambda_http::request::LambdaRequest;
    use lambda_http::RequestExt as _;

    let mut rest = rest_api_event(
        "post",
        "/api/activities/0f9d1c6e/reply",
        "/api/activities/{activity_uuid}/reply",
        Some(json!({"activity_uuid": "0f9d1c6e"})),
        Some(json!({"user": "andrewbrown", "tag": ["a", "b"]})),
        Some(r#"{"message":"hi"}"#),
    );
    set_header(
        &mut rest,
        "X-Amzn-Trace-Id",
        "Root=1-00000000-000000000000000000000000",
    );
    assert_eq!(rest["requestContext"]["stage"], json!("prod"));
    assert_eq!(
        rest["requestContext"]["resourcePath"],
        json!("/api/activities/{activity_uuid}/reply")
    );
    let parsed: LambdaRequest = serde_json::from_value(rest).unwrap();
    assert!(matches!(parsed, LambdaRequest::ApiGatewayV1(_)), "{parsed:?}");
    let request: lambda_http::Request = parsed.into();
    assert_eq!(request.method(), "POST");
    assert_eq!(request.raw_http_path(), "/api/activities/0f9d1c6e/reply");
    assert_eq!(request.path_parameters().first("activity_uuid"), Some("0f9d1c6e"));
    assert_eq!(
        request.query_string_parameters().first("user"),
        Some("andrewbrown")
    );
    assert_eq!(request.query_string_parameters().all("tag"), Some(vec!["a", "b"]));
    assert!(request.headers().contains_key("x-amzn-trace-id"));
    assert_eq!(request.body().as_ref(), br#"{"message":"hi"}"#);

    let get = home_activities_event();
    let parsed: LambdaRequest = serde_json::from_value(get).unwrap();
    assert!(matches!(parsed, LambdaRequest::ApiGatewayV1(_)));

    let http = http_api_event(
        "GET",
        "/api/activities/home",
        "GET /api/activities/home",
        None,
        Some(json!({"q": "a b&c", "n": 3})),
        None,
    );
    assert_eq!(http["rawQueryString"], json!("n=3&q=a%20b%26c"));
    let parsed: LambdaRequest = serde_json::from_value(http).unwrap();
    assert!(matches!(parsed, LambdaRequest::ApiGatewayV2(_)), "{parsed:?}");
    let request: lambda_http::Request = parsed.into();
    assert_eq!(request.method(), "GET");
    assert_eq!(request.uri().path(), "/api/activities/home");
    assert_eq!(request.query_string_parameters().first("q"), Some("a b&c"));

    let post = http_api_event(
        "POST",
        "/api/messages/7",
        "POST /api/messages/{id}",
        Some(json!({"id": "7"})),
        None,
        Some("{}"),
    );
    let parsed: LambdaRequest = serde_json::from_value(post).unwrap();
    let request: lambda_http::Request = parsed.into();
    assert_eq!(request.method(), "POST");
    assert_eq!(request.path_parameters().first("id"), Some("7"));
}

#[tokio::test]
async fn function_process_runs_a_child_with_a_clean_environment() {
    let missing = FunctionProcess::spawn("no-such-function", &RuntimeApi::start().await, &[]);
    let error = missing.err().unwrap().to_string();
    assert!(error.contains("cargo build --bins"), "{error}");

    // A stand-in "binary": a shell script that reports its environment, then sleeps.
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("harness-self-test");
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join(format!("fake-function-{}", std::process::id()));
    std::fs::write(
        &script,
        "#!/bin/sh\n\
         echo \"{\\\"api\\\":\\\"$AWS_LAMBDA_RUNTIME_API\\\",\\\"name\\\":\\\"$AWS_LAMBDA_FUNCTION_NAME\\\",\
         \\\"group\\\":\\\"$AWS_LAMBDA_LOG_GROUP_NAME\\\",\\\"memory\\\":\\\"$AWS_LAMBDA_FUNCTION_MEMORY_SIZE\\\",\
         \\\"region\\\":\\\"$AWS_REGION\\\",\\\"init\\\":\\\"$AWS_LAMBDA_INITIALIZATION_TYPE\\\",\\\"extra\\\":\\\"$EXTRA\\\",\\\"version\\\":\\\"${AWS_LAMBDA_FUNCTION_VERSION-unset}\\\"}\"\n\
         echo 'not json'\n\
         echo 'to stderr' >&2\n\
         exec sleep 30\n",
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    let api = RuntimeApi::start().await;
    let process = FunctionProcess::spawn_path(
        &script,
        "fake-function",
        &api,
        &[("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"), ("EXTRA", "yes")],
        &["AWS_LAMBDA_FUNCTION_VERSION"],
    )
    .unwrap();
    let line = process
        .wait_for_stdout(|l| l.starts_with('{'), Duration::from_secs(2))
        .await
        .unwrap();
    let env: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(env["api"], json!(api.addr().to_string()));
    assert_eq!(env["name"], json!("fake-function"));
    assert_eq!(env["group"], json!("/aws/lambda/fake-function"));
    assert_eq!(env["memory"], json!("256"));
    assert_eq!(env["region"], json!("us-east-1"));
    assert_eq!(env["init"], json!("on-demand"));
    assert_eq!(env["extra"], json!("yes"));
    assert_eq!(env["version"], json!("unset"));
    process
        .wait_for_stdout(|l| l == "not json", Duration::from_secs(2))
        .await
        .unwrap();
    process
        .wait_for_stderr(|l| l == "to stderr", Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(process.json_logs().len(), 1);
    assert_eq!(
        api.function_arn(),
        "arn:aws:lambda:us-east-1:123456789012:function:fake-function"
    );

    assert!(process.is_running());
    assert!(process.peak_rss_kib().unwrap() > 0);
    process.sigstop().unwrap();
    process.sigcont().unwrap();
    assert!(process.wait_exit(Duration::from_millis(20)).await.is_err());
    process.sigterm().unwrap();
    let status = process.wait_exit(Duration::from_secs(2)).await.unwrap();
    use std::os::unix::process::ExitStatusExt as _;
    assert_eq!(status.signal(), Some(libc_sigterm()));
    assert!(!process.is_running());
    assert_eq!(process.peak_rss_kib(), None);
    assert!(process.sigterm().is_err());
    let _ = std::fs::remove_file(&script);
}

fn libc_sigterm() -> i32 {
    15
}

#[tokio::test]
async fn abandoned_next_poll_does_not_swallow_an_event() {
    use tokio::io::AsyncWriteExt as _;
    let api = RuntimeApi::start().await;
    let mut stream = tokio::net::TcpStream::connect(api.addr()).await.unwrap();
    stream
        .write_all(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    api.wait_for_next_poll(1, Duration::from_secs(1)).await.unwrap();
    drop(stream);
    tokio::time::sleep(Duration::from_millis(50)).await;
    // hyper drops the handler of a closed connection: nobody takes this event.
    let error = api
        .invoke_with_timeout(json!({}), None, Duration::from_millis(100))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("no runtime took the event"), "{error}");
    let runtime = fake_runtime(format!("http://{}", api.addr()));
    let invocation = api
        .invoke_with_timeout(json!({"n": 1}), None, Duration::from_secs(2))
        .await;
    runtime.abort();
    invocation.unwrap();
}

fn span(name: &str, trace: &str, id: &str, parent: &str) -> ReceivedSpan {
    ReceivedSpan {
        name: name.to_owned(),
        trace_id_hex: trace.to_owned(),
        span_id_hex: id.to_owned(),
        parent_span_id_hex: parent.to_owned(),
        kind: 1,
        start_time_unix_nano: 1,
        end_time_unix_nano: 2,
        attributes: Default::default(),
        status_code: 0,
        status_message: String::new(),
        events: Vec::new(),
        links: Vec::new(),
        resource: Default::default(),
        scope_name: String::new(),
    }
}

#[test]
fn a_trace_needs_exactly_one_root_and_every_parent() {
    let t = "5759e988bd862e3fe1be46a994272793";
    let root = span("home-activities", t, "00000000000000a1", "");
    let child = span("mock-data", t, "00000000000000a2", "00000000000000a1");
    check_trace_roots(&[root.clone(), child.clone()], &[]).unwrap();

    // Lambda's facade segment never reaches Honeycomb: a root under it is a missing root.
    let under_facade = span("home-activities", t, "00000000000000a1", "53995c3f42cd8ad8");
    let error = check_trace_roots(&[under_facade.clone(), child.clone()], &[])
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("has parent 53995c3f42cd8ad8, which never arrived"),
        "{error}"
    );
    // ... unless that parent is known to arrive from elsewhere (a browser's traceparent).
    check_trace_roots(&[under_facade, child.clone()], &["53995c3f42cd8ad8"]).unwrap();

    let second_root = span("init", t, "00000000000000a3", "");
    let error = check_trace_roots(&[root.clone(), child, second_root], &[])
        .unwrap_err()
        .to_string();
    assert!(error.contains("2 roots"), "{error}");

    // Traces are judged one by one.
    let other = span(
        "other",
        "0000000000000000000000000000000f",
        "00000000000000b1",
        "00000000000000ff",
    );
    let error = check_trace_roots(&[root, other], &[]).unwrap_err().to_string();
    assert!(
        error.contains("trace 0000000000000000000000000000000f") && !error.contains(t),
        "{error}"
    );
}

/// A stand-in "function" for the shutdown rules: a shell script that reports SIGTERM on
/// stdout and exits (or ignores it), and never polls the Runtime API.
fn script(name: &str, body: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("harness-self-test");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}-{}", std::process::id()));
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[tokio::test]
async fn the_process_is_frozen_between_invocations_and_thawed_for_the_next() -> anyhow::Result<()> {
    let stack = Stack::start("home-activities", Behaviour::Healthy, &[]).await?;
    for n in 1..=3 {
        let traced = stack
            .invoke(cruddur_tests::events::home_activities_event())
            .await?;
        assert_eq!(traced.json()["statusCode"], 200);
        stack.runtime.next_after(traced.request_id()).await?;
        stack.runtime.wait_for_freeze(n, Duration::from_secs(2)).await?;
        assert!(stack.runtime.is_frozen());
        // SIGSTOP after `next` with nothing queued (the kernel stops it a moment later).
        cruddur_tests::eventually("a stopped process", || stack.function.is_stopped().then_some(())).await?;
    }
    assert_eq!(stack.runtime.thaws(), 2, "thawed right before each later event");

    // Without freeze, the process keeps running after `next`.
    let runtime = RuntimeApi::start_without_freeze().await;
    let stack = Stack::start_with_runtime(runtime, "home-activities", Behaviour::Healthy, &[]).await?;
    let traced = stack
        .invoke(cruddur_tests::events::home_activities_event())
        .await?;
    stack.runtime.next_after(traced.request_id()).await?;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(stack.runtime.freezes(), 0);
    assert!(!stack.function.is_stopped());
    Ok(())
}

#[tokio::test]
async fn an_invocation_past_its_deadline_times_out_and_the_process_is_killed() -> anyhow::Result<()> {
    let runtime = RuntimeApi::builder()
        .timeout(Duration::from_secs(1))
        .start()
        .await;
    let stack =
        Stack::start_example_with_runtime(runtime, "overlapping-invocations", Behaviour::Healthy, &[])
            .await?;
    let event = cruddur_tests::events::rest_api_event(
        "GET",
        "/work",
        "/work",
        None,
        Some(json!({"ms": "3000"})),
        None,
    );
    let started = Instant::now();
    let traced = stack.invoke(event).await?;
    let invocation = &traced.invocation;
    assert_eq!(invocation.status, Outcome::TimedOut);
    assert!(invocation.is_error());
    assert_eq!(invocation.error_type.as_deref(), Some("Sandbox.Timedout"));
    let body = invocation.json();
    assert_eq!(body["errorType"], "Sandbox.Timedout");
    assert_eq!(
        body["errorMessage"],
        format!(
            "RequestId: {} Error: Task timed out after 1.00 seconds",
            traced.request_id()
        )
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(3),
        "{took:?}"
    );

    // Lambda resets the environment: the process is killed.
    use std::os::unix::process::ExitStatusExt as _;
    let status = stack.function.wait_exit(Duration::from_secs(2)).await?;
    assert_eq!(status.signal(), Some(9), "{status:?}");
    let kills = stack.runtime.kills();
    assert_eq!(kills.len(), 1);
    assert!(kills[0].reason.contains("timed out"), "{kills:?}");
    Ok(())
}

#[tokio::test]
async fn a_response_over_6_mb_is_refused_as_lambda_refuses_it() {
    let api = RuntimeApi::start().await;
    let base = format!("http://{}", api.addr());
    let client = client();
    for (size, accepted) in [(MAX_RESPONSE_BYTES, true), (MAX_RESPONSE_BYTES + 1, false)] {
        let id = api.enqueue(json!({}), None);
        let next = send(
            &client,
            Method::GET,
            &format!("{base}/2018-06-01/runtime/invocation/next"),
            &[],
            "",
        )
        .await
        .unwrap();
        assert_eq!(header(&next.headers, "lambda-runtime-aws-request-id"), id);
        let url = format!("{base}/2018-06-01/runtime/invocation/{id}/response");
        let posted = send(&client, Method::POST, &url, &[], vec![b'x'; size])
            .await
            .unwrap();
        let invocation = api.wait_for_answer(&id, Duration::from_secs(1)).await.unwrap();
        if accepted {
            assert_eq!(posted.status, StatusCode::ACCEPTED);
            assert_eq!(invocation.status, Outcome::Response);
            assert_eq!(invocation.body.len(), size);
            continue;
        }
        assert_eq!(posted.status, StatusCode::PAYLOAD_TOO_LARGE);
        let refusal: Value = serde_json::from_slice(&posted.body).unwrap();
        assert_eq!(
            refusal,
            json!({"errorMessage": "Exceeded maximum allowed payload size (6291556 bytes).",
                   "errorType": "RequestEntityTooLarge"})
        );
        assert_eq!(invocation.status, Outcome::ResponseTooLarge);
        assert_eq!(
            invocation.error_type.as_deref(),
            Some("Function.ResponseSizeTooLarge")
        );
        assert_eq!(
            invocation.json()["errorMessage"],
            "Response payload size (6291557 bytes) exceeded maximum allowed payload size (6291556 bytes)."
        );
        // The invocation has failed: reporting an error for it now is forbidden.
        let url = format!("{base}/2018-06-01/runtime/invocation/{id}/error");
        let late = send(&client, Method::POST, &url, &[], "{}").await.unwrap();
        assert_eq!(late.status, StatusCode::FORBIDDEN);
    }
}

#[tokio::test]
async fn shutdown_is_sigterm_with_extensions_and_sigkill_after_the_limit() -> anyhow::Result<()> {
    use std::os::unix::process::ExitStatusExt as _;
    let graceful = script(
        "graceful",
        "trap 'echo got-SIGTERM; exit 0' TERM\nwhile :; do sleep 0.02; done",
    );
    let stubborn = script(
        "stubborn",
        "trap 'echo got-SIGTERM' TERM\nwhile :; do sleep 0.02; done",
    );

    // With an (internal) extension registered, Lambda SIGTERMs the runtime; one that exits
    // in time exits on its own.
    let api = RuntimeApi::start().await;
    let process = FunctionProcess::spawn_path(&graceful, "graceful", &api, &[], &[])?;
    register_extension(&format!("http://{}", api.addr()), "internal", r#"{"events":[]}"#).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    api.shutdown();
    let status = process.wait_exit(Duration::from_secs(2)).await?;
    assert!(status.success(), "{status:?}\n{}", process.output_tail(5));
    assert_eq!(process.stdout_lines(), ["got-SIGTERM"]);
    assert!(api.kills().is_empty());

    // One that does not exit is killed after the limit (500 ms with internal extensions only).
    let api = RuntimeApi::start().await;
    let process = FunctionProcess::spawn_path(&stubborn, "stubborn", &api, &[], &[])?;
    register_extension(&format!("http://{}", api.addr()), "internal", r#"{"events":[]}"#).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    api.shutdown();
    let status = process.wait_exit(Duration::from_secs(2)).await?;
    let took = api.shutdown_at().unwrap().elapsed();
    assert_eq!(status.signal(), Some(9), "{status:?}");
    assert!(took >= SHUTDOWN_LIMIT_INTERNAL, "killed after {took:?}");
    process
        .wait_for_stdout(|l| l == "got-SIGTERM", Duration::from_secs(1))
        .await?;
    assert!(
        api.kills()[0].reason.contains("shutdown limit"),
        "{:?}",
        api.kills()
    );

    // Without any extension there is no SIGTERM at all: SIGKILL at once.
    let api = RuntimeApi::start().await;
    let process = FunctionProcess::spawn_path(&graceful, "graceful", &api, &[], &[])?;
    tokio::time::sleep(Duration::from_millis(50)).await;
    api.shutdown();
    let status = process.wait_exit(Duration::from_secs(2)).await?;
    assert_eq!(status.signal(), Some(9), "{status:?}");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(process.stdout_lines().is_empty(), "{:?}", process.stdout_lines());
    Ok(())
}

#[tokio::test]
async fn managed_instances_mode_offers_many_events_at_once_and_records_the_overlap() -> anyhow::Result<()> {
    const WORKERS: usize = 8;
    let api = RuntimeApi::builder()
        .concurrency(WORKERS as u32)
        .ack_delay(Duration::from_millis(50))
        .start()
        .await;
    assert_eq!(
        api.lambda_env(),
        [
            (
                "AWS_LAMBDA_INITIALIZATION_TYPE".to_owned(),
                "lambda-managed-instances".to_owned()
            ),
            ("AWS_LAMBDA_MAX_CONCURRENCY".to_owned(), "8".to_owned()),
        ]
    );
    let base = format!("http://{}", api.addr());
    let workers: Vec<_> = (0..WORKERS).map(|_| fake_runtime(base.clone())).collect();
    let ids: Vec<String> = (0..32).map(|n| api.enqueue(json!({"n": n}), None)).collect();
    for (n, id) in ids.iter().enumerate() {
        let invocation = api.wait_for_answer(id, Duration::from_secs(5)).await?;
        assert_eq!(invocation.json()["echo"]["n"], n);
    }
    assert_eq!(
        api.max_in_flight(),
        WORKERS,
        "every worker held an invocation at once"
    );
    for worker in workers {
        worker.abort();
    }

    // The function gets the Managed Instances variables, and is never frozen.
    let runtime = RuntimeApi::builder().concurrency(4).start().await;
    let stack =
        Stack::start_example_with_runtime(runtime, "overlapping-invocations", Behaviour::Healthy, &[])
            .await?;
    let event =
        cruddur_tests::events::rest_api_event("GET", "/work", "/work", None, Some(json!({"ms": "1"})), None);
    let traced = stack.invoke(event).await?;
    assert_eq!(traced.json()["statusCode"], 200);
    stack.runtime.next_after(traced.request_id()).await?;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(stack.runtime.freezes(), 0);
    assert!(!stack.function.is_stopped());

    // One worker, one invocation at a time.
    let api = RuntimeApi::start().await;
    let worker = fake_runtime(format!("http://{}", api.addr()));
    for n in 0..4 {
        api.invoke(json!({"n": n}), None).await?;
    }
    assert_eq!(api.max_in_flight(), 1);
    worker.abort();
    Ok(())
}

#[test]
fn the_rollbar_stand_in_holds_items_to_rollbars_schema() {
    use cruddur_tests::rollbar_api::validate;
    let good = json!({"data": {
        "environment": "production", "level": "error", "timestamp": 1_700_000_000u64, "uuid": "966a2855-7d99-4a86-a18b-1cddffac2244",
        "body": {"trace": {"frames": [{"filename": "src/handler.rs", "lineno": 12, "method": "home"}],
                           "exception": {"class": "Panic", "message": "boom"}}},
        "request": {"method": "GET", "url": "/api/activities/home"}
    }});
    assert_eq!(validate(&good), Ok(()));
    let broken = |pointer: &str, value: Value| {
        let mut item = good.clone();
        *item.pointer_mut(pointer).unwrap() = value;
        validate(&item).unwrap_err()
    };
    assert!(broken("/data/environment", json!("")).contains("environment"));
    assert!(broken("/data/level", json!("fatal")).contains("level"));
    assert!(broken("/data/timestamp", json!("now")).contains("timestamp"));
    assert!(broken("/data/body", json!({})).contains("exactly one"));
    assert!(broken("/data/body/trace/frames/0", json!({"method": "x"})).contains("filename"));
    assert!(broken("/data/body/trace/exception", json!({"message": "x"})).contains("class"));
    assert!(broken("/data/request", json!({"url": "/x?token=1"})).contains("query"));
    assert!(broken("/data/request", json!({"url": "/x", "headers": {}})).contains("headers"));
    assert!(broken("/data/uuid", json!("x".repeat(37))).contains("uuid"));
}

#[tokio::test]
async fn extensions_register_only_before_the_runtimes_first_next() -> anyhow::Result<()> {
    let api = RuntimeApi::start_without_freeze().await;
    let base = format!("http://{}", api.addr());
    register_extension(&base, "early", r#"{"events":[]}"#).await;
    // The runtime's first `next` ends the Init phase (it parks: nothing is queued).
    let next_url = format!("{base}/2018-06-01/runtime/invocation/next");
    let _parked =
        tokio::spawn(async move { send(&client(), Method::GET, &next_url, &[], String::new()).await });
    cruddur_tests::eventually("the runtime's first next", || {
        (api.next_polls() == 1).then_some(())
    })
    .await?;
    let late = send(
        &client(),
        Method::POST,
        &format!("{base}/2020-01-01/extension/register"),
        &[("Lambda-Extension-Name", "late")],
        r#"{"events":[]}"#.to_owned(),
    )
    .await?;
    assert_eq!(late.status, StatusCode::FORBIDDEN);
    let names: Vec<String> = api.registered_extensions().into_iter().map(|e| e.name).collect();
    assert_eq!(names, ["early"]);
    Ok(())
}
