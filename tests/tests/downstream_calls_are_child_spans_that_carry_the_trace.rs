//! Calls a function makes: an HTTP call and an AWS SDK call (SSM, against moto)
//! are child spans of the invocation (X-Ray `remote` and `aws` subsegments, OTel
//! client spans), and carry the trace onward in `X-Amzn-Trace-Id` and
//! `traceparent`; their URLs reach telemetry without query values. The Honeycomb key
//! is read from SSM while the first invocation runs (not at init), sent as
//! `x-honeycomb-team`, and never logged.

use std::sync::{Arc, Mutex};

use cruddur_tests::{all_subsegments, events::rest_api_event, Behaviour, MotoServer, Stack, DEFAULT_TIMEOUT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const HONEYCOMB_KEY: &str = "hcaik_s3cret_from_ssm";
/// A token in the downstream URL's query, as presigned URLs and some APIs carry them.
const URL_TOKEN: &str = "t0ken_in_the_query";

/// A downstream HTTP service that records the request heads it gets.
async fn downstream() -> anyhow::Result<(String, Arc<Mutex<Vec<String>>>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!(
        "http://{}/profile?token={URL_TOKEN}&X-Amz-Signature=abc123",
        listener.local_addr()?
    );
    let heads = Arc::new(Mutex::new(Vec::new()));
    let seen = heads.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 16 * 1024];
                let mut head = Vec::new();
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buffer[..n]),
                    }
                }
                seen.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&head).to_ascii_lowercase());
                let _ = socket
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .await;
            });
        }
    });
    Ok((url, heads))
}

async fn put_parameters(moto: &MotoServer) -> anyhow::Result<()> {
    for (name, value) in [
        ("/cruddur/honeycomb-api-key", HONEYCOMB_KEY),
        ("/cruddur/example", "example"),
    ] {
        moto.put_secure_string(name, value).await?;
    }
    Ok(())
}

#[tokio::test]
async fn downstream_calls_are_child_spans_that_carry_the_trace() -> anyhow::Result<()> {
    let moto = MotoServer::start().await?;
    put_parameters(&moto).await?;
    let (url, heads) = downstream().await?;
    let mut env: Vec<(String, String)> = moto.env();
    env.push((
        "HONEYCOMB_API_KEY_PARAMETER".into(),
        "/cruddur/honeycomb-api-key".into(),
    ));
    env.push(("PARAMETER_NAME".into(), "/cruddur/example".into()));
    env.push(("DOWNSTREAM_URL".into(), url));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let stack = Stack::start_example("downstream-calls", Behaviour::Healthy, &env).await?;

    let traced = stack
        .invoke(rest_api_event("GET", "/", "/", None, None, None))
        .await?;
    let (root, trace_hex) = (traced.root.clone(), traced.trace_hex.clone());
    let response = traced.json();
    assert_eq!(response["statusCode"], 200, "{response}");
    assert_eq!(
        response["body"],
        r#"{"downstream_status":200,"parameter_found":true}"#
    );

    // The Honeycomb key is read while this first invocation runs; its spans wait for it
    // (none leaves without the key). If the read outlasts the invocation, Lambda freezes
    // the process with them held, and the next invocation's thaw lets them go.
    for _ in 0..5 {
        if stack.otlp.spans().len() >= 3 {
            break;
        }
        stack
            .invoke(rest_api_event("GET", "/", "/", None, None, None))
            .await?;
    }
    // OTLP: the invocation, the HTTP call and the SSM call. The key's read is the
    // telemetry's own plumbing, done off the init path and never traced: no span of
    // another trace, none before the invocation.
    let spans: Vec<_> = stack
        .otlp
        .wait_for_spans(3, DEFAULT_TIMEOUT)
        .await?
        .into_iter()
        .filter(|s| s.trace_id_hex == trace_hex)
        .collect();
    assert_eq!(spans.len(), 3, "{spans:#?}");
    let roots = stack.otlp.spans().iter().filter(|s| s.is_root()).count();
    let invocations = stack.otlp.spans().iter().filter(|s| s.kind == 2).count();
    assert_eq!(
        roots, invocations,
        "work outside the invocations made a trace of its own"
    );
    let root_span = spans.iter().find(|s| s.kind == 2).expect("invocation span");
    let http = spans
        .iter()
        .find(|s| s.str_attr("url.full").is_some())
        .expect("HTTP client span");
    let ssm = spans
        .iter()
        .find(|s| s.str_attr("rpc.system") == Some("aws-api"))
        .expect("SSM client span");
    for call in [http, ssm] {
        assert_eq!(call.kind, 3, "CLIENT: {call:?}");
        assert_eq!(call.parent_span_id_hex, root_span.span_id_hex);
        assert!(call.start_time_unix_nano >= root_span.start_time_unix_nano);
    }
    assert_eq!(http.str_attr("http.request.method"), Some("GET"));
    // OTel's URL guidance: no query values (nor userinfo) in telemetry.
    assert!(
        http.str_attr("url.full")
            .unwrap()
            .ends_with("/profile?token=REDACTED&X-Amz-Signature=REDACTED"),
        "{http:#?}"
    );
    assert_eq!(http.int_attr("http.response.status_code"), Some(200));
    assert_eq!(ssm.name, "SSM.GetParameter");
    assert_eq!(
        (ssm.str_attr("rpc.service"), ssm.str_attr("rpc.method")),
        (Some("SSM"), Some("GetParameter"))
    );
    assert_eq!(ssm.int_attr("http.response.status_code"), Some(200));

    // The downstream service got the trace, with the HTTP span as parent.
    let head = heads
        .lock()
        .unwrap()
        .first()
        .cloned()
        .expect("the downstream call arrived");
    assert!(
        head.contains(&format!("traceparent: 00-{trace_hex}-{}-01", http.span_id_hex)),
        "{head}"
    );
    assert!(
        head.contains(&format!(
            "x-amzn-trace-id: root={};parent={};sampled=1",
            root.to_ascii_lowercase(),
            http.span_id_hex
        )),
        "{head}"
    );

    // X-Ray: `remote` and `aws` subsegments under the invocation's.
    let docs = stack.xray.wait_for_documents(1, DEFAULT_TIMEOUT).await?;
    let doc = docs
        .iter()
        .find(|d| d["trace_id"] == root.as_str())
        .expect("invocation document");
    let subsegments = all_subsegments(doc);
    let remote = subsegments
        .iter()
        .find(|s| s["namespace"] == "remote")
        .expect("remote subsegment");
    assert_eq!(remote["name"], "127.0.0.1");
    assert_eq!(remote["http"]["response"]["status"], 200);
    assert!(
        remote["http"]["request"]["url"]
            .as_str()
            .unwrap()
            .ends_with("/profile?token=REDACTED&X-Amz-Signature=REDACTED"),
        "{remote}"
    );
    let aws = subsegments
        .iter()
        .find(|s| s["namespace"] == "aws")
        .expect("aws subsegment");
    assert_eq!(aws["name"], "SSM");
    assert_eq!(aws["aws"]["operation"], "GetParameter");

    // The key from SSM goes out as Honeycomb's header, and nowhere else.
    let exports = stack.otlp.requests();
    assert!(exports
        .iter()
        .all(|r| r.header("x-honeycomb-team") == Some(HONEYCOMB_KEY)));
    let output = [stack.function.stdout_lines(), stack.function.stderr_lines()]
        .concat()
        .join("\n");
    assert!(!output.contains(HONEYCOMB_KEY), "the key reached the logs");
    // The downstream got its token; no telemetry carries it.
    assert!(heads.lock().unwrap()[0].contains(URL_TOKEN));
    let datagrams: String = stack.xray.datagrams().iter().map(|d| d.raw.clone()).collect();
    let attributes = format!("{:?}", stack.otlp.spans());
    for (pillar, text) in [("logs", &output), ("X-Ray", &datagrams), ("OTLP", &attributes)] {
        assert!(!text.contains(URL_TOKEN), "the URL's token reached {pillar}");
    }
    stack.check_traces()?;
    Ok(())
}
