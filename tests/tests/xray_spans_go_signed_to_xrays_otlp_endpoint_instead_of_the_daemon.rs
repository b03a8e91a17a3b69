//! Issue 15: with `CRUDDUR_XRAY_OTLP_ENDPOINT` set, X-Ray's side of each invocation goes as
//! SigV4-signed OTLP (protobuf, gzip) to X-Ray's OTLP endpoint, not as datagrams to the
//! daemon: the same ids (trace id = Lambda's Root, the function's root span a child of
//! Lambda's facade segment, the trace header's Parent), X-Ray's attributes, every request
//! signed with the function's credentials and its session token. The endpoint stand-in
//! computes each signature again with AWS's signer and refuses (403) what does not match;
//! a refused export is counted and reported apart from Honeycomb's, and the function keeps
//! serving. Honeycomb's export is unchanged beside it. Lambda freezes the process between
//! invocations (the emulator does), as it would.

use std::collections::BTreeSet;

/// From this size up, export requests are gzipped (telemetry's `OTLP_GZIP_FROM_BYTES_DEFAULT`).
const GZIP_FROM_BYTES: usize = 8 * 1024;

use cruddur_tests::{
    events::home_activities_event,
    xray_otlp_endpoint::{self, TestCredentials},
    AttrValue, Behaviour, Stack, XrayOtlpEndpoint, DEFAULT_TIMEOUT,
};

fn strings(value: Option<&AttrValue>) -> Vec<String> {
    match value {
        Some(AttrValue::Array(values)) => values
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

#[tokio::test]
async fn the_xray_side_goes_signed_to_the_otlp_endpoint_under_lambdas_facade_and_no_datagram_is_sent(
) -> anyhow::Result<()> {
    let xray = XrayOtlpEndpoint::start().await;
    let env = xray.function_env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let stack = Stack::start("home-activities", Behaviour::Healthy, &env).await?;

    for n in 0..3 {
        let traced = stack.invoke(home_activities_event()).await?;
        assert_eq!(traced.json()["statusCode"], 200);
        stack.settled(traced.request_id()).await?;

        // X-Ray: the invocation's two spans, on Lambda's trace, under Lambda's facade.
        let spans = xray.wait_for_trace(&traced.trace_hex, 2, DEFAULT_TIMEOUT).await?;
        assert_eq!(spans.len(), 2, "{spans:#?}");
        let root = spans
            .iter()
            .find(|s| s.name == "home-activities")
            .expect("the invocation span");
        let mock = spans
            .iter()
            .find(|s| s.name == "home-activities-mock-data")
            .expect("the mock-data span");
        assert_eq!(root.parent_span_id_hex, traced.parent, "parent = Lambda's Parent");
        assert_eq!(root.kind, 2, "SERVER");
        assert_eq!(mock.parent_span_id_hex, root.span_id_hex);
        assert!(
            root.attr("aws.lambda.parent_segment_id").is_none(),
            "Lambda's Parent is the parent here, not an attribute"
        );
        assert_eq!(root.str_attr("faas.invocation_id"), Some(traced.request_id()));
        assert_eq!(root.attr("ColdStart").and_then(AttrValue::as_bool), Some(n == 0));
        assert_eq!(root.str_attr("cloud.account.id"), Some("123456789012"));
        assert_eq!(
            root.str_attr("aws.lambda.invoked_arn"),
            Some(stack.runtime.function_arn().as_str())
        );
        let annotations = strings(root.attr("aws.xray.annotations"));
        assert!(annotations.contains(&"ColdStart".to_owned()), "{annotations:?}");
        assert!(
            strings(mock.attr("aws.xray.annotations")).contains(&"app.result_length".to_owned()),
            "{mock:#?}"
        );
        for (key, value) in [
            ("service.name", "home-activities"),
            ("cloud.provider", "aws"),
            ("cloud.platform", "aws_lambda"),
            ("cloud.region", "us-east-1"),
            ("faas.name", "home-activities"),
        ] {
            assert_eq!(root.resource_str(key), Some(value), "resource {key}");
        }
        assert_eq!(
            strings(root.resource.get("aws.log.group.names")),
            ["/aws/lambda/home-activities"]
        );
        assert_eq!(
            root.resource_str("faas.instance"),
            Some(cruddur_tests::function::LOG_STREAM_NAME)
        );

        // Honeycomb, unchanged and on its own: the same spans, one root per trace.
        let honeycomb = stack
            .otlp
            .wait_for_trace(&traced.trace_hex, 2, DEFAULT_TIMEOUT)
            .await?;
        let ids = |spans: &[cruddur_tests::ReceivedSpan]| -> BTreeSet<String> {
            spans.iter().map(|s| s.span_id_hex.clone()).collect()
        };
        assert_eq!(ids(&honeycomb), ids(&spans), "one story, the same span ids");
        let honeycomb_root = honeycomb.iter().find(|s| s.name == "home-activities").unwrap();
        assert!(honeycomb_root.is_root());
        assert_eq!(
            honeycomb_root.str_attr("aws.lambda.parent_segment_id"),
            Some(traced.parent.as_str())
        );
        for export in stack.otlp.requests() {
            assert!(
                export.header("authorization").is_none(),
                "Honeycomb's export is not signed"
            );
        }
    }

    // A Sampled=0 invocation sends X-Ray nothing, as with the daemon.
    let unsampled = stack.invoke_sampled(home_activities_event(), false).await?;
    stack.settled(unsampled.request_id()).await?;
    stack.runtime.shutdown();
    let status = stack.function.wait_exit(DEFAULT_TIMEOUT).await?;
    assert!(status.success(), "{}", stack.function.output_tail(30));
    assert!(xray.spans().iter().all(|s| s.trace_id_hex != unsampled.trace_hex));

    // No datagram at all reached the daemon.
    assert!(
        stack.xray.datagrams().is_empty(),
        "the daemon got {} datagrams",
        stack.xray.datagrams().len()
    );
    // Every request was signed right, gzipped when large (one invocation's spans are not
    // worth deflate's state), and carried the session token; none refused.
    assert!(xray.refused().is_empty(), "{:#?}", xray.refused());
    assert!(xray.unexpected_requests().is_empty());
    let accepted = xray.accepted();
    assert!(!accepted.is_empty());
    for export in &accepted {
        assert_eq!(
            export.gzip,
            export.body_len >= GZIP_FROM_BYTES,
            "gzip from {GZIP_FROM_BYTES} bytes: {} bytes",
            export.body_len
        );
        assert_eq!(export.header("content-type"), Some("application/x-protobuf"));
        assert_eq!(
            export.header("x-amz-security-token"),
            Some(xray_otlp_endpoint::SESSION_TOKEN)
        );
        let authorization = export.header("authorization").unwrap_or_default();
        assert!(
            authorization.starts_with(&format!(
                "AWS4-HMAC-SHA256 Credential={}/",
                xray_otlp_endpoint::ACCESS_KEY_ID
            )) && authorization.contains("/us-east-1/xray/aws4_request"),
            "{authorization}"
        );
    }
    // The same story everywhere: every X-Ray span id is unique, every trace whole.
    let spans = xray.spans();
    let ids: BTreeSet<_> = spans.iter().map(|s| s.span_id_hex.clone()).collect();
    assert_eq!(ids.len(), spans.len());
    stack.otlp.ensure_traces_complete(&[])?;
    // No credential in the function's output.
    let output = [stack.function.stdout_lines(), stack.function.stderr_lines()]
        .concat()
        .join("\n");
    assert!(!output.contains(xray_otlp_endpoint::SECRET_ACCESS_KEY));
    assert!(!output.contains(xray_otlp_endpoint::SESSION_TOKEN));
    Ok(())
}

#[tokio::test]
async fn a_wrongly_signed_export_is_refused_counted_and_reported_and_the_function_keeps_serving(
) -> anyhow::Result<()> {
    let xray = XrayOtlpEndpoint::start().await;
    // The function's secret key is not the one the endpoint knows.
    let mut env = xray.function_env();
    for (name, value) in &mut env {
        if name == "AWS_SECRET_ACCESS_KEY" {
            *value = "not-the-secret-key-the-endpoint-knows".into();
        }
    }
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let stack = Stack::start("home-activities", Behaviour::Healthy, &env).await?;
    let invocations = 3;
    let mut traced = Vec::new();
    for _ in 0..invocations {
        let invocation = stack.invoke(home_activities_event()).await?;
        assert_eq!(invocation.json()["statusCode"], 200, "the function keeps serving");
        stack.settled(invocation.request_id()).await?;
        traced.push(invocation);
    }
    xray.wait_for_refusals(1, DEFAULT_TIMEOUT).await?;
    stack.runtime.shutdown();
    let status = stack.function.wait_exit(DEFAULT_TIMEOUT).await?;
    assert!(status.success(), "{}", stack.function.output_tail(30));

    // Refused as X-Ray refuses it, and nothing kept.
    let refused = xray.refused();
    assert!(
        refused
            .iter()
            .all(|r| r.error_type == "InvalidSignatureException"),
        "{refused:#?}"
    );
    assert!(xray.accepted().is_empty());
    assert!(stack.xray.datagrams().is_empty(), "no fallback to the daemon");

    // Reported: on stderr with X-Ray's reason, in a WARN line, and counted in the
    // TelemetryDroppedXraySpans metric (two spans an invocation), apart from Honeycomb's.
    let stderr = stack.function.stderr_lines().join("\n");
    assert!(
        stderr.contains("X-Ray OTLP export dropped") && stderr.contains("InvalidSignatureException"),
        "{stderr}"
    );
    let logs = stack.function.json_logs();
    assert!(
        logs.iter()
            .any(|l| l["level"] == "WARN" && l["dropped_xray_spans"].as_u64() > Some(0)),
        "{}",
        stack.function.output_tail(30)
    );
    let sum = |metric: &str| -> f64 {
        logs.iter()
            .filter(|l| l.get("_aws").is_some())
            .filter_map(|l| l[metric].as_f64())
            .sum()
    };
    assert_eq!(sum("TelemetryDroppedXraySpans"), f64::from(2 * invocations));
    assert_eq!(sum("TelemetryDroppedSpans"), 0.0);
    // Honeycomb got every span regardless.
    for invocation in &traced {
        stack
            .otlp
            .wait_for_trace(&invocation.trace_hex, 2, DEFAULT_TIMEOUT)
            .await?;
    }
    Ok(())
}

/// The stand-in itself, against requests signed here with AWS's signer: it takes what
/// X-Ray takes and refuses what X-Ray refuses.
#[tokio::test]
async fn the_endpoint_stand_in_refuses_what_xray_refuses() -> anyhow::Result<()> {
    use aws_credential_types::Credentials;
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    use aws_sigv4::sign::v4;
    use hyper::HeaderMap;
    use std::time::{Duration, SystemTime};

    let path = "/v1/traces";
    let host = "127.0.0.1:4318";
    let body = b"\x1f\x8b compressed spans".to_vec();
    let signed = |credentials: &TestCredentials, service: &str, region: &str, at: SystemTime| {
        let identity = Credentials::new(
            &credentials.access_key_id,
            &credentials.secret_access_key,
            credentials.session_token.clone(),
            None,
            "test",
        )
        .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name(service)
            .time(at)
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let headers = [
            ("content-type", "application/x-protobuf"),
            ("content-encoding", "gzip"),
        ];
        let signable = SignableRequest::new(
            "POST",
            format!("http://{host}{path}"),
            headers.iter().copied(),
            SignableBody::Bytes(&body),
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        let mut request = hyper::Request::post(format!("http://{host}{path}"))
            .header("host", host)
            .header("content-type", "application/x-protobuf")
            .header("content-encoding", "gzip")
            .body(())
            .unwrap();
        instructions.apply_to_request_http1x(&mut request);
        request.headers().clone()
    };
    let good = TestCredentials::default();
    let now = SystemTime::now();
    let check = |headers: &HeaderMap, body: &[u8]| {
        xray_otlp_endpoint::verify_signature(
            "POST",
            path,
            headers,
            body,
            &good,
            xray_otlp_endpoint::REGION,
            now,
        )
        .map_err(|(error_type, _)| error_type)
    };

    let headers = signed(&good, "xray", "us-east-1", now);
    assert_eq!(check(&headers, &body), Ok(()));
    // Unsigned.
    let mut unsigned = headers.clone();
    unsigned.remove("authorization");
    assert_eq!(
        check(&unsigned, &body),
        Err("MissingAuthenticationTokenException")
    );
    // Signed with a wrong secret key, or an unknown key id.
    let wrong_secret = TestCredentials {
        secret_access_key: "wrong".into(),
        ..good.clone()
    };
    assert_eq!(
        check(&signed(&wrong_secret, "xray", "us-east-1", now), &body),
        Err("InvalidSignatureException")
    );
    let unknown_key = TestCredentials {
        access_key_id: "AKIAUNKNOWNEXAMPLE00".into(),
        ..good.clone()
    };
    assert_eq!(
        check(&signed(&unknown_key, "xray", "us-east-1", now), &body),
        Err("UnrecognizedClientException")
    );
    // Without the session token.
    let no_token = TestCredentials {
        session_token: None,
        ..good.clone()
    };
    assert_eq!(
        check(&signed(&no_token, "xray", "us-east-1", now), &body),
        Err("UnrecognizedClientException")
    );
    // For another service or region, or an hour old.
    assert_eq!(
        check(&signed(&good, "logs", "us-east-1", now), &body),
        Err("InvalidSignatureException")
    );
    assert_eq!(
        check(&signed(&good, "xray", "eu-west-1", now), &body),
        Err("InvalidSignatureException")
    );
    assert_eq!(
        check(
            &signed(&good, "xray", "us-east-1", now - Duration::from_secs(3600)),
            &body
        ),
        Err("InvalidSignatureException")
    );
    // The body, or a signed header, changed after signing (say, signed before gzip).
    assert_eq!(check(&headers, b"other spans"), Err("InvalidSignatureException"));
    let mut changed = headers.clone();
    changed.insert("content-encoding", "identity".parse().unwrap());
    assert_eq!(check(&changed, &body), Err("InvalidSignatureException"));

    // Over the wire: an unsigned export is answered 403, in AWS's error shape.
    let endpoint = XrayOtlpEndpoint::start().await;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let request = hyper::Request::post(endpoint.endpoint())
        .header("content-type", "application/x-protobuf")
        .body(http_body_util::Full::new(bytes::Bytes::from_static(b"")))?;
    let response = client.request(request).await?;
    assert_eq!(response.status(), 403);
    assert_eq!(
        response.headers()["x-amzn-errortype"],
        "MissingAuthenticationTokenException:"
    );
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await?
        .to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&body)?;
    assert_eq!(json["message"], "Missing Authentication Token");
    assert_eq!(endpoint.refused().len(), 1);
    assert!(endpoint.accepted().is_empty());
    Ok(())
}
