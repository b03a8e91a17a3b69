//! X-Ray's OTLP endpoint (`https://xray.<region>.amazonaws.com/v1/traces`) on 127.0.0.1.
//!
//! It takes OTLP/HTTP protobuf (gzip or not) only when the request is SigV4-signed for
//! service `xray` in its region with the credentials it was given, and checks that the
//! way AWS does: the signature is computed again, with AWS's own signer (`aws-sigv4`),
//! from what arrived (the method, the path, the headers the request says it signed, the
//! body's bytes as sent, its date) and compared with the one sent. So a body signed
//! before it was gzipped, a header changed after signing, a wrong secret key or a
//! missing session token all fail here as they would at AWS.
//!
//! A refused request is answered as AWS's JSON services answer one: 403, the error's
//! name in `x-amzn-ErrorType`, `{"message": ...}` (no signature: `MissingAuthenticationTokenException`;
//! an unknown key id or session token: `UnrecognizedClientException`; a signature that
//! does not match, another service or region, a stale date: `InvalidSignatureException`),
//! and its spans are not kept.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::anyhow;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use hyper::body::Incoming;
use hyper::{HeaderMap, Request};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message as _;
use tokio::task::JoinHandle;

use crate::http_util::{self, ConnControl, Resp};
use crate::otlp_collector::{
    self, flatten_all, trace_spans, Behaviour, ReceivedExport, ReceivedSpan, TRACES_PATH,
};
use crate::sync::Shared;

/// The key id the function is given (AWS's documentation example).
pub const ACCESS_KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
/// Its secret.
pub const SECRET_ACCESS_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
/// Its session token (Lambda's credentials are temporary, so they come with one).
pub const SESSION_TOKEN: &str = "IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKEN";
/// The region the endpoint is in (the function's `AWS_REGION` in the harness).
pub const REGION: &str = "us-east-1";
/// How far a request's date may be from the endpoint's clock (AWS: 15 minutes).
const MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);

/// The credentials the endpoint accepts.
#[derive(Debug, Clone)]
pub struct TestCredentials {
    /// Key id.
    pub access_key_id: String,
    /// Secret key.
    pub secret_access_key: String,
    /// Session token, required when set.
    pub session_token: Option<String>,
}

impl Default for TestCredentials {
    fn default() -> Self {
        Self {
            access_key_id: ACCESS_KEY_ID.into(),
            secret_access_key: SECRET_ACCESS_KEY.into(),
            session_token: Some(SESSION_TOKEN.into()),
        }
    }
}

/// A refused request: what X-Ray would have answered, and what came.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// The error's name (`x-amzn-ErrorType`), e.g. `InvalidSignatureException`.
    pub error_type: String,
    /// Its message.
    pub message: String,
    /// Request headers, lowercase names.
    pub headers: BTreeMap<String, String>,
    /// Body size on the wire.
    pub wire_len: usize,
}

struct State {
    credentials: TestCredentials,
    accepted: Vec<ReceivedExport>,
    refused: Vec<Refusal>,
    unexpected: Vec<String>,
}

/// The stand-in for X-Ray's OTLP endpoint. Stops serving when dropped.
pub struct XrayOtlpEndpoint {
    shared: Arc<Shared<State>>,
    port: u16,
    server: JoinHandle<()>,
}

impl Drop for XrayOtlpEndpoint {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl XrayOtlpEndpoint {
    /// Starts it on 127.0.0.1 and a free port, accepting [`TestCredentials::default`].
    ///
    /// Panics if no loopback port can be bound (a broken test machine).
    pub async fn start() -> XrayOtlpEndpoint {
        let listener = http_util::bind_loopback()
            .await
            .expect("bind 127.0.0.1:0 for the X-Ray OTLP endpoint");
        let port = listener
            .local_addr()
            .expect("local address of the X-Ray OTLP listener")
            .port();
        let shared = Arc::new(Shared::new(State {
            credentials: TestCredentials::default(),
            accepted: Vec::new(),
            refused: Vec::new(),
            unexpected: Vec::new(),
        }));
        let handler_state = shared.clone();
        let server = http_util::serve(listener, move |req, control| {
            let shared = handler_state.clone();
            async move { handle(shared, req, control).await }
        });
        XrayOtlpEndpoint { shared, port, server }
    }

    /// "http://127.0.0.1:PORT/v1/traces", the `CRUDDUR_XRAY_OTLP_ENDPOINT` value.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}{TRACES_PATH}", self.port)
    }

    /// The function's environment for this endpoint: `CRUDDUR_XRAY_OTLP_ENDPOINT` and the
    /// credentials Lambda would set (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_SESSION_TOKEN`).
    pub fn function_env(&self) -> Vec<(String, String)> {
        let credentials = self.shared.read(|s| s.credentials.clone());
        let mut env = vec![
            ("CRUDDUR_XRAY_OTLP_ENDPOINT".to_owned(), self.endpoint()),
            ("AWS_ACCESS_KEY_ID".to_owned(), credentials.access_key_id),
            ("AWS_SECRET_ACCESS_KEY".to_owned(), credentials.secret_access_key),
        ];
        if let Some(token) = credentials.session_token {
            env.push(("AWS_SESSION_TOKEN".to_owned(), token));
        }
        env
    }

    /// Requests it accepted (signed right), in arrival order.
    pub fn accepted(&self) -> Vec<ReceivedExport> {
        self.shared.read(|s| s.accepted.clone())
    }

    /// Requests it refused, in arrival order.
    pub fn refused(&self) -> Vec<Refusal> {
        self.shared.read(|s| s.refused.clone())
    }

    /// Requests to any other method or path, as "METHOD /path" (answered 404).
    pub fn unexpected_requests(&self) -> Vec<String> {
        self.shared.read(|s| s.unexpected.clone())
    }

    /// Every span it accepted, in arrival order.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.shared.read(|s| flatten_all(&s.accepted))
    }

    /// Waits until at least `n` accepted spans of trace `trace_hex` arrived; returns them.
    pub async fn wait_for_trace(
        &self,
        trace_hex: &str,
        n: usize,
        timeout: Duration,
    ) -> anyhow::Result<Vec<ReceivedSpan>> {
        let found = self
            .shared
            .wait_for(Some(timeout), |s| trace_spans(&s.accepted, trace_hex, n))
            .await;
        found.ok_or_else(|| {
            anyhow!(
                "expected at least {n} spans of trace {trace_hex} at X-Ray's OTLP endpoint within \
                 {timeout:?}; it accepted {} requests and refused {:?}",
                self.accepted().len(),
                self.refused()
                    .iter()
                    .map(|r| r.error_type.as_str())
                    .collect::<Vec<_>>()
            )
        })
    }

    /// Waits until at least `n` requests were refused; returns every refusal.
    pub async fn wait_for_refusals(&self, n: usize, timeout: Duration) -> anyhow::Result<Vec<Refusal>> {
        let found = self
            .shared
            .wait_for(Some(timeout), |s| {
                (s.refused.len() >= n).then(|| s.refused.clone())
            })
            .await;
        found.ok_or_else(|| {
            anyhow!(
                "expected at least {n} refused requests within {timeout:?}, but {} were refused",
                self.refused().len()
            )
        })
    }
}

async fn handle(shared: Arc<Shared<State>>, req: Request<Incoming>, _control: ConnControl) -> Resp {
    if req.method() != hyper::Method::POST || req.uri().path() != TRACES_PATH {
        let line = format!("{} {}", req.method(), req.uri());
        shared.update(|s| s.unexpected.push(line));
        return http_util::respond(404, &[], "not found");
    }
    let method = req.method().as_str().to_owned();
    let path = req
        .uri()
        .path_and_query()
        .map_or(TRACES_PATH.to_owned(), |p| p.to_string());
    let header_map = req.headers().clone();
    let headers = http_util::header_map(&header_map);
    let body = http_util::read_body(req.into_body()).await;
    if let Some(error) = body.error {
        return http_util::respond(400, &[], format!("reading the body failed: {error}"));
    }
    let credentials = shared.read(|s| s.credentials.clone());
    if let Err((error_type, message)) = verify_signature(
        &method,
        &path,
        &header_map,
        &body.bytes,
        &credentials,
        REGION,
        SystemTime::now(),
    ) {
        shared.update(|s| {
            s.refused.push(Refusal {
                error_type: error_type.to_owned(),
                message: message.clone(),
                headers: headers.clone(),
                wire_len: body.bytes.len(),
            })
        });
        return http_util::respond_json(
            403,
            &[
                ("x-amzn-errortype", format!("{error_type}:")),
                ("x-amzn-requestid", uuid::Uuid::new_v4().to_string()),
            ],
            &serde_json::json!({ "message": message }),
        );
    }
    let gzip = headers
        .get("content-encoding")
        .is_some_and(|v| v.split(',').any(|e| e.trim().eq_ignore_ascii_case("gzip")));
    let (request, decode_error, body_len) = otlp_collector::decode(&body.bytes, gzip);
    let bad_request = decode_error.is_some();
    shared.update(|s| {
        s.accepted.push(ReceivedExport {
            received_at: Instant::now(),
            headers,
            gzip,
            wire_len: body.bytes.len(),
            body_len,
            request,
            decode_error,
            behaviour: Behaviour::Healthy,
        })
    });
    if bad_request {
        return http_util::respond(400, &[], "malformed OTLP body");
    }
    http_util::respond(
        200,
        &[("content-type", "application/x-protobuf".to_owned())],
        ExportTraceServiceResponse::default().encode_to_vec(),
    )
}

/// Checks a request's SigV4 signature as AWS does, computing it again with `aws-sigv4`
/// from what arrived. `Err` names the error X-Ray answers and its message.
pub fn verify_signature(
    method: &str,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
    credentials: &TestCredentials,
    region: &str,
    now: SystemTime,
) -> Result<(), (&'static str, String)> {
    const MISSING: &str = "MissingAuthenticationTokenException";
    const UNRECOGNIZED: &str = "UnrecognizedClientException";
    const INVALID: &str = "InvalidSignatureException";
    const INCOMPLETE: &str = "IncompleteSignatureException";
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let Some(authorization) = text("authorization") else {
        return Err((MISSING, "Missing Authentication Token".into()));
    };
    let fields = authorization.strip_prefix("AWS4-HMAC-SHA256 ").ok_or((
        INCOMPLETE,
        format!("Unsupported authorization type: {authorization:.20}"),
    ))?;
    let field = |name: &str| {
        fields
            .split(',')
            .map(str::trim)
            .find_map(|f| f.strip_prefix(name).and_then(|f| f.strip_prefix('=')))
    };
    let (Some(credential), Some(signed_headers), Some(signature)) =
        (field("Credential"), field("SignedHeaders"), field("Signature"))
    else {
        return Err((
            INCOMPLETE,
            "Authorization header requires Credential, SignedHeaders and Signature".into(),
        ));
    };
    let scope: Vec<&str> = credential.split('/').collect();
    let [key_id, day, scope_region, service, "aws4_request"] = scope[..] else {
        return Err((
            INCOMPLETE,
            format!("Credential is not key/date/region/service/aws4_request: {credential}"),
        ));
    };
    if key_id != credentials.access_key_id {
        return Err((
            UNRECOGNIZED,
            "The security token included in the request is invalid.".into(),
        ));
    }
    if service != "xray" {
        return Err((
            INVALID,
            "Credential should be scoped to correct service: 'xray'. ".into(),
        ));
    }
    if scope_region != region {
        return Err((
            INVALID,
            format!("Credential should be scoped to a valid region, not '{scope_region}'. "),
        ));
    }
    let signed: Vec<&str> = signed_headers.split(';').collect();
    for required in ["host", "x-amz-date"] {
        if !signed.contains(&required) {
            return Err((INCOMPLETE, format!("'{required}' must be a signed header")));
        }
    }
    match (&credentials.session_token, text("x-amz-security-token")) {
        (Some(expected), Some(sent)) if sent == expected && signed.contains(&"x-amz-security-token") => {}
        (None, None) => {}
        _ => {
            return Err((
                UNRECOGNIZED,
                "The security token included in the request is invalid.".into(),
            ))
        }
    }
    let date = text("x-amz-date").ok_or((INCOMPLETE, "no x-amz-date".to_owned()))?;
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let signed_at: SystemTime = time::PrimitiveDateTime::parse(date, format)
        .map_err(|_| (INCOMPLETE, format!("x-amz-date is not a date: {date}")))?
        .assume_utc()
        .into();
    if !date.starts_with(day) {
        return Err((
            INVALID,
            "Date in Credential scope does not match x-amz-date".into(),
        ));
    }
    let skew = now.duration_since(signed_at).unwrap_or_else(|e| e.duration());
    if skew > MAX_CLOCK_SKEW {
        return Err((
            INVALID,
            format!("Signature expired: {date} is more than 15 minutes from now"),
        ));
    }
    // What the client signed, as it arrived; the signer adds the date and token itself.
    let mut to_sign = Vec::new();
    for name in &signed {
        if matches!(*name, "x-amz-date" | "x-amz-security-token") {
            continue;
        }
        let value = text(name).ok_or((INVALID, format!("signed header {name} is missing")))?;
        to_sign.push((*name, value));
    }
    let host = text("host").ok_or((INCOMPLETE, "no host header".to_owned()))?;
    let identity: Identity = Credentials::new(
        &credentials.access_key_id,
        &credentials.secret_access_key,
        credentials.session_token.clone(),
        None,
        "xray-otlp-endpoint",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(signed_at)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| (INVALID, e.to_string()))?
        .into();
    let signable = SignableRequest::new(
        method,
        format!("http://{host}{path}"),
        to_sign.into_iter(),
        SignableBody::Bytes(body),
    )
    .map_err(|e| (INVALID, e.to_string()))?;
    let (_, expected) = sign(signable, &params)
        .map_err(|e| (INVALID, e.to_string()))?
        .into_parts();
    if expected != signature {
        return Err((
            INVALID,
            "The request signature we calculated does not match the signature you provided. Check your \
             AWS Secret Access Key and signing method. Consult the service documentation for details."
                .into(),
        ));
    }
    Ok(())
}
