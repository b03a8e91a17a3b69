//! An AWS SDK call answered `ThrottlingException` (HTTP 400, as SSM answers it) is an
//! X-Ray subsegment with `throttle` (and `error`), as the X-Ray SDKs mark it; its region is
//! the client's, from the SDK config, even when the endpoint's host names none.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use cruddur_tests::{all_subsegments, events::rest_api_event, Behaviour, Stack, DEFAULT_TIMEOUT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An endpoint that throttles every request, the way AWS's JSON protocols answer it.
async fn throttling_endpoint() -> anyhow::Result<(String, Arc<AtomicUsize>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = requests.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let counted = counted.clone();
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 64 * 1024];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buffer[..n]),
                    }
                }
                counted.fetch_add(1, Ordering::Relaxed);
                let body = r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#;
                let answer = format!(
                    "HTTP/1.1 400 Bad Request\r\nx-amzn-errortype: ThrottlingException\r\n\
                     x-amzn-requestid: req-throttled\r\ncontent-type: application/x-amz-json-1.1\r\n\
                     content-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            });
        }
    });
    Ok((url, requests))
}

#[tokio::test]
async fn aws_calls_answered_throttling_are_marked_throttle_with_the_clients_region() -> anyhow::Result<()> {
    let (endpoint, requests) = throttling_endpoint().await?;
    let env = [
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_REGION", "eu-west-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        // One attempt: the SDK would retry throttling with backoff.
        ("AWS_MAX_ATTEMPTS", "1"),
        ("DOWNSTREAM_URL", endpoint.as_str()),
    ];
    let stack = Stack::start_example("downstream-calls", Behaviour::Healthy, &env).await?;
    let traced = stack
        .invoke(rest_api_event("GET", "/", "/", None, None, None))
        .await?;
    assert_eq!(traced.json()["statusCode"], 200);
    assert!(
        requests.load(Ordering::Relaxed) >= 2,
        "the HTTP and the SSM call reached the endpoint"
    );

    let docs = stack.xray_trace(&traced.root).await?;
    let aws = docs
        .iter()
        .flat_map(all_subsegments)
        .find(|s| s["namespace"] == "aws")
        .expect("the SSM subsegment");
    assert_eq!(aws["throttle"], true, "{aws:#}");
    assert_eq!(aws["error"], true);
    assert!(aws.get("fault").is_none());
    assert_eq!(
        aws["aws"]["region"], "eu-west-1",
        "the client's region, not the host's"
    );
    assert_eq!(aws["aws"]["request_id"], "req-throttled");

    let spans = stack
        .otlp
        .wait_for_trace(&traced.trace_hex, 3, DEFAULT_TIMEOUT)
        .await?;
    let ssm = spans
        .iter()
        .find(|s| s.str_attr("rpc.system") == Some("aws-api"))
        .expect("the SSM span");
    assert_eq!(ssm.str_attr("cloud.region"), Some("eu-west-1"));
    assert_eq!(ssm.str_attr("aws.error.code"), Some("ThrottlingException"));
    assert_eq!(ssm.attr("aws.throttled").and_then(|v| v.as_bool()), Some(true));
    stack.check_traces()?;
    Ok(())
}
