//! An OTLP/HTTP (protobuf) trace receiver on 127.0.0.1, standing in for Honeycomb or an
//! OpenTelemetry collector. Its behaviour can be switched to slow, failing or rude to test
//! how the exporter copes.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use hyper::body::Incoming;
use hyper::Request;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use prost::Message as _;
use tokio::task::JoinHandle;

use crate::http_util::{self, ConnControl, Resp};
use crate::sync::Shared;

/// The path OTLP/HTTP exporters post traces to.
pub const TRACES_PATH: &str = "/v1/traces";

/// How the collector answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Behaviour {
    /// 200 with an empty `ExportTraceServiceResponse` at once.
    Healthy,
    /// Sleeps this long, then answers like [`Behaviour::Healthy`].
    Slow(Duration),
    /// Answers this HTTP status (e.g. 503, 429) with an empty body.
    Failing(u16),
    /// Reads the request, then closes the socket without answering.
    DropConnection,
}

/// One request to `/v1/traces`, recorded whatever the behaviour was.
#[derive(Debug, Clone)]
pub struct ReceivedExport {
    /// When its body had been read.
    pub received_at: Instant,
    /// Request headers, lowercase names (repeated ones joined with ", ").
    pub headers: BTreeMap<String, String>,
    /// True when `Content-Encoding: gzip`.
    pub gzip: bool,
    /// Body size on the wire.
    pub wire_len: usize,
    /// Body size after gunzip (equal to `wire_len` when not compressed).
    pub body_len: usize,
    /// The decoded request, when it decoded.
    pub request: Option<ExportTraceServiceRequest>,
    /// Why it did not decode (bad gzip, bad protobuf, unreadable body).
    pub decode_error: Option<String>,
    /// The behaviour in force when it arrived.
    pub behaviour: Behaviour,
}

impl ReceivedExport {
    /// Number of spans in this request.
    pub fn span_count(&self) -> usize {
        self.request.as_ref().map_or(0, |r| {
            r.resource_spans
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .map(|ss| ss.spans.len())
                .sum()
        })
    }

    /// One request header (name in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }
}

/// An attribute value.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    /// A string.
    String(String),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Double(f64),
    /// A boolean.
    Bool(bool),
    /// An array.
    Array(Vec<AttrValue>),
    /// Anything else (key-value lists, bytes, empty values), debug-printed.
    Other(String),
}

impl AttrValue {
    /// The string, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            AttrValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if it is one.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            AttrValue::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The number, if it is a double or an integer.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            AttrValue::Double(d) => Some(*d),
            AttrValue::Int(i) => Some(*i as f64),
            _ => None,
        }
    }

    /// The boolean, if it is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            AttrValue::Bool(b) => Some(*b),
            _ => None,
        }
    }
}

impl From<&str> for AttrValue {
    fn from(value: &str) -> Self {
        AttrValue::String(value.to_owned())
    }
}

impl From<String> for AttrValue {
    fn from(value: String) -> Self {
        AttrValue::String(value)
    }
}

impl From<i64> for AttrValue {
    fn from(value: i64) -> Self {
        AttrValue::Int(value)
    }
}

impl From<f64> for AttrValue {
    fn from(value: f64) -> Self {
        AttrValue::Double(value)
    }
}

impl From<bool> for AttrValue {
    fn from(value: bool) -> Self {
        AttrValue::Bool(value)
    }
}

/// A span event.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedEvent {
    /// Event name (e.g. "exception").
    pub name: String,
    /// Event time, unix nanoseconds.
    pub time_unix_nano: u64,
    /// Event attributes.
    pub attributes: BTreeMap<String, AttrValue>,
}

/// One span, flattened out of its request, resource and scope.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedSpan {
    /// Span name.
    pub name: String,
    /// Trace id, 32 lowercase hex digits.
    pub trace_id_hex: String,
    /// Span id, 16 lowercase hex digits.
    pub span_id_hex: String,
    /// Parent span id in hex, empty when the span is a root.
    pub parent_span_id_hex: String,
    /// `SpanKind` as its protobuf number (1 internal, 2 server, 3 client, 4 producer, 5 consumer).
    pub kind: i32,
    /// Start, unix nanoseconds.
    pub start_time_unix_nano: u64,
    /// End, unix nanoseconds.
    pub end_time_unix_nano: u64,
    /// Span attributes.
    pub attributes: BTreeMap<String, AttrValue>,
    /// `Status.code` (0 unset, 1 ok, 2 error).
    pub status_code: i32,
    /// `Status.message`.
    pub status_message: String,
    /// Span events.
    pub events: Vec<ReceivedEvent>,
    /// Span links, as (trace id, span id) in hex.
    pub links: Vec<(String, String)>,
    /// Resource attributes (service.name, cloud.*, faas.*...).
    pub resource: BTreeMap<String, AttrValue>,
    /// Instrumentation scope name.
    pub scope_name: String,
}

impl ReceivedSpan {
    /// One attribute.
    pub fn attr(&self, key: &str) -> Option<&AttrValue> {
        self.attributes.get(key)
    }

    /// One string attribute.
    pub fn str_attr(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).and_then(AttrValue::as_str)
    }

    /// One integer attribute.
    pub fn int_attr(&self, key: &str) -> Option<i64> {
        self.attributes.get(key).and_then(AttrValue::as_i64)
    }

    /// One string resource attribute.
    pub fn resource_str(&self, key: &str) -> Option<&str> {
        self.resource.get(key).and_then(AttrValue::as_str)
    }

    /// True when it has no parent.
    pub fn is_root(&self) -> bool {
        self.parent_span_id_hex.is_empty()
    }

    /// End minus start.
    pub fn duration(&self) -> Duration {
        Duration::from_nanos(self.end_time_unix_nano.saturating_sub(self.start_time_unix_nano))
    }
}

struct State {
    behaviour: Behaviour,
    requests: Vec<ReceivedExport>,
    unexpected: Vec<String>,
}

/// The fake OTLP/HTTP receiver. Stops serving when dropped.
pub struct OtlpCollector {
    shared: Arc<Shared<State>>,
    port: u16,
    server: JoinHandle<()>,
}

impl Drop for OtlpCollector {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl OtlpCollector {
    /// Starts the receiver on 127.0.0.1 and a free port.
    ///
    /// Panics if no loopback port can be bound (a broken test machine).
    pub async fn start(behaviour: Behaviour) -> OtlpCollector {
        let listener = http_util::bind_loopback()
            .await
            .expect("bind 127.0.0.1:0 for the OTLP collector");
        let port = listener
            .local_addr()
            .expect("local address of the OTLP listener")
            .port();
        let shared = Arc::new(Shared::new(State {
            behaviour,
            requests: Vec::new(),
            unexpected: Vec::new(),
        }));
        let handler_state = shared.clone();
        let server = http_util::serve(listener, move |req, control| {
            let shared = handler_state.clone();
            async move { handle(shared, req, control).await }
        });
        OtlpCollector { shared, port, server }
    }

    /// "http://127.0.0.1:PORT", the `OTEL_EXPORTER_OTLP_ENDPOINT` value.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// "http://127.0.0.1:PORT/v1/traces", the `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` value.
    pub fn traces_endpoint(&self) -> String {
        format!("{}{TRACES_PATH}", self.endpoint())
    }

    /// Changes how later requests are answered.
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        self.shared.update(|s| s.behaviour = behaviour);
    }

    /// Every request to `/v1/traces` so far.
    pub fn requests(&self) -> Vec<ReceivedExport> {
        self.shared.read(|s| s.requests.clone())
    }

    /// How many requests reached `/v1/traces`.
    pub fn request_count(&self) -> usize {
        self.shared.read(|s| s.requests.len())
    }

    /// Requests to any other method or path, as "METHOD /path" (answered 404).
    pub fn unexpected_requests(&self) -> Vec<String> {
        self.shared.read(|s| s.unexpected.clone())
    }

    /// Every span of every decoded request, in arrival order.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.shared.read(|s| flatten_all(&s.requests))
    }

    /// Waits until at least `n` spans arrived; returns all of them.
    pub async fn wait_for_spans(&self, n: usize, timeout: Duration) -> anyhow::Result<Vec<ReceivedSpan>> {
        let found = self
            .shared
            .wait_for(Some(timeout), |s| {
                let spans = flatten_all(&s.requests);
                (spans.len() >= n).then_some(spans)
            })
            .await;
        found.ok_or_else(|| {
            let spans = self.spans();
            let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
            anyhow!(
                "expected at least {n} spans at the OTLP collector within {timeout:?}, but {} arrived \
                 in {} requests: {names:?}",
                spans.len(),
                self.request_count()
            )
        })
    }

    /// Waits until at least `n` requests reached `/v1/traces`; returns all of them.
    pub async fn wait_for_requests(
        &self,
        n: usize,
        timeout: Duration,
    ) -> anyhow::Result<Vec<ReceivedExport>> {
        let found = self
            .shared
            .wait_for(Some(timeout), |s| {
                (s.requests.len() >= n).then(|| s.requests.clone())
            })
            .await;
        found.ok_or_else(|| {
            anyhow!(
                "expected at least {n} OTLP export requests within {timeout:?}, but {} arrived",
                self.request_count()
            )
        })
    }
    /// Waits until at least `n` spans of trace `trace_hex` (32 hex digits) arrived; returns them.
    pub async fn wait_for_trace(
        &self,
        trace_hex: &str,
        n: usize,
        timeout: Duration,
    ) -> anyhow::Result<Vec<ReceivedSpan>> {
        let found = self
            .shared
            .wait_for(Some(timeout), |s| trace_spans(&s.requests, trace_hex, n))
            .await;
        found.ok_or_else(|| {
            let names: Vec<String> = self
                .spans()
                .into_iter()
                .filter(|span| span.trace_id_hex == trace_hex)
                .map(|span| span.name)
                .collect();
            anyhow!(
                "expected at least {n} spans of trace {trace_hex} within {timeout:?}, but {} arrived: {names:?}",
                names.len()
            )
        })
    }

    /// The one shared OTLP assertion, over every span received so far: each trace has
    /// exactly one root and no span whose parent never arrived (see [`check_trace_roots`]).
    /// `external_parents` names span ids known to arrive from elsewhere (a traced browser's
    /// span, sent as `traceparent`).
    pub fn ensure_traces_complete(&self, external_parents: &[&str]) -> anyhow::Result<()> {
        check_trace_roots(&self.spans(), external_parents)
    }
}

/// Honeycomb's "missing root" rule, for every trace among `spans`: exactly one root, and no
/// span whose parent never arrived.
///
/// Honeycomb builds a trace from the spans it receives: the span without a parent is the
/// root; a span whose `parent_span_id` names a span that never arrives hangs under a
/// "(missing)" placeholder, the trace counts as a missing-root trace, and `is_root` queries
/// (and the trace list) skip it (Honeycomb docs, "Troubleshooting traces: missing root
/// span"). A parent in `external_parents` is one that reaches Honeycomb from elsewhere
/// (the browser span named by a `traceparent`): the span under it is then the function's
/// root, and is counted as the trace's one root here.
pub fn check_trace_roots(spans: &[ReceivedSpan], external_parents: &[&str]) -> anyhow::Result<()> {
    let external: BTreeSet<&str> = external_parents.iter().copied().collect();
    let mut traces: BTreeMap<&str, Vec<&ReceivedSpan>> = BTreeMap::new();
    for span in spans {
        traces.entry(&span.trace_id_hex).or_default().push(span);
    }
    let mut problems = Vec::new();
    for (trace, spans) in &traces {
        let ids: BTreeSet<&str> = spans.iter().map(|s| s.span_id_hex.as_str()).collect();
        let mut roots = Vec::new();
        for span in spans {
            let parent = span.parent_span_id_hex.as_str();
            if parent.is_empty() || external.contains(parent) {
                roots.push(span);
            } else if !ids.contains(parent) {
                problems.push(format!(
                    "trace {trace}: span {:?} ({}) has parent {parent}, which never arrived: \
                     Honeycomb shows a missing-root trace",
                    span.name, span.span_id_hex
                ));
            }
        }
        if roots.len() > 1 {
            let names: Vec<String> = roots
                .iter()
                .map(|s| format!("{:?} ({})", s.name, s.span_id_hex))
                .collect();
            problems.push(format!(
                "trace {trace}: {} roots ({}); a trace has exactly one",
                roots.len(),
                names.join(", ")
            ));
        }
        if roots.is_empty()
            && problems
                .iter()
                .all(|p| !p.starts_with(&format!("trace {trace}:")))
        {
            problems.push(format!("trace {trace}: no root span (a cycle of parents?)"));
        }
    }
    if !problems.is_empty() {
        let shown = problems.len().min(10);
        bail!(
            "{} problem(s) with the roots of {} trace(s){}:\n    - {}",
            problems.len(),
            traces.len(),
            if shown < problems.len() {
                " (the first 10)"
            } else {
                ""
            },
            problems[..shown].join("\n    - ")
        );
    }
    Ok(())
}

async fn handle(shared: Arc<Shared<State>>, req: Request<Incoming>, control: ConnControl) -> Resp {
    if req.method() != hyper::Method::POST || req.uri().path() != TRACES_PATH {
        let line = format!("{} {}", req.method(), req.uri());
        shared.update(|s| s.unexpected.push(line));
        return http_util::respond(404, &[], "not found");
    }
    let headers = http_util::header_map(req.headers());
    let gzip = headers
        .get("content-encoding")
        .is_some_and(|v| v.split(',').any(|e| e.trim().eq_ignore_ascii_case("gzip")));
    let body = http_util::read_body(req.into_body()).await;
    let wire_len = body.bytes.len();
    let (request, decode_error, body_len) = match body.error {
        Some(e) => (None, Some(format!("reading the body failed: {e}")), 0),
        None => decode(&body.bytes, gzip),
    };
    let bad_request = decode_error.is_some();
    let behaviour = shared.update(|s| {
        let behaviour = s.behaviour.clone();
        s.requests.push(ReceivedExport {
            received_at: Instant::now(),
            headers,
            gzip,
            wire_len,
            body_len,
            request,
            decode_error,
            behaviour: behaviour.clone(),
        });
        behaviour
    });
    match behaviour {
        Behaviour::DropConnection => {
            control.drop_connection();
            return std::future::pending::<Resp>().await;
        }
        Behaviour::Failing(status) => return http_util::respond(status, &[], ""),
        Behaviour::Slow(delay) => tokio::time::sleep(delay).await,
        Behaviour::Healthy => {}
    }
    if bad_request {
        return http_util::respond(
            400,
            &[("content-type", "text/plain".to_owned())],
            "malformed OTLP body",
        );
    }
    http_util::respond(
        200,
        &[("content-type", "application/x-protobuf".to_owned())],
        ExportTraceServiceResponse::default().encode_to_vec(),
    )
}

/// Decodes an OTLP/HTTP protobuf body (gunzipped first when `gzip`): the request, why it
/// did not decode, and its size after gunzip.
pub(crate) fn decode(body: &[u8], gzip: bool) -> (Option<ExportTraceServiceRequest>, Option<String>, usize) {
    let plain = if gzip {
        let mut out = Vec::new();
        match flate2::read::GzDecoder::new(body).read_to_end(&mut out) {
            Ok(_) => out,
            Err(e) => return (None, Some(format!("gunzip failed: {e}")), 0),
        }
    } else {
        body.to_vec()
    };
    match ExportTraceServiceRequest::decode(plain.as_slice()) {
        Ok(request) => (Some(request), None, plain.len()),
        Err(e) => (None, Some(format!("protobuf decode failed: {e}")), plain.len()),
    }
}

/// Every span of every decoded request, in arrival order.
pub(crate) fn flatten_all(requests: &[ReceivedExport]) -> Vec<ReceivedSpan> {
    let mut out = Vec::new();
    for request in requests.iter().filter_map(|r| r.request.as_ref()) {
        flatten(request, &mut out);
    }
    out
}

/// The spans of trace `trace_hex` among `requests`, once there are at least `n`.
pub(crate) fn trace_spans(
    requests: &[ReceivedExport],
    trace_hex: &str,
    n: usize,
) -> Option<Vec<ReceivedSpan>> {
    let spans: Vec<ReceivedSpan> = flatten_all(requests)
        .into_iter()
        .filter(|span| span.trace_id_hex == trace_hex)
        .collect();
    (spans.len() >= n).then_some(spans)
}

/// Flattens every span of one export request.
pub fn flatten(request: &ExportTraceServiceRequest, out: &mut Vec<ReceivedSpan>) {
    for resource_spans in &request.resource_spans {
        let resource = resource_spans
            .resource
            .as_ref()
            .map(|r| attributes(&r.attributes))
            .unwrap_or_default();
        for scope_spans in &resource_spans.scope_spans {
            let scope_name = scope_spans
                .scope
                .as_ref()
                .map(|s| s.name.clone())
                .unwrap_or_default();
            for span in &scope_spans.spans {
                let (status_code, status_message) = span
                    .status
                    .as_ref()
                    .map_or((0, String::new()), |s| (s.code, s.message.clone()));
                out.push(ReceivedSpan {
                    name: span.name.clone(),
                    trace_id_hex: hex(&span.trace_id),
                    span_id_hex: hex(&span.span_id),
                    parent_span_id_hex: hex(&span.parent_span_id),
                    kind: span.kind,
                    start_time_unix_nano: span.start_time_unix_nano,
                    end_time_unix_nano: span.end_time_unix_nano,
                    attributes: attributes(&span.attributes),
                    status_code,
                    status_message,
                    events: span
                        .events
                        .iter()
                        .map(|e| ReceivedEvent {
                            name: e.name.clone(),
                            time_unix_nano: e.time_unix_nano,
                            attributes: attributes(&e.attributes),
                        })
                        .collect(),
                    links: span
                        .links
                        .iter()
                        .map(|l| (hex(&l.trace_id), hex(&l.span_id)))
                        .collect(),
                    resource: resource.clone(),
                    scope_name: scope_name.clone(),
                });
            }
        }
    }
}

/// Lowercase hex of some bytes (empty input gives an empty string).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attributes(pairs: &[KeyValue]) -> BTreeMap<String, AttrValue> {
    pairs
        .iter()
        .map(|kv| (kv.key.clone(), attr_value(kv.value.as_ref())))
        .collect()
}

fn attr_value(value: Option<&AnyValue>) -> AttrValue {
    match value.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => AttrValue::String(s.clone()),
        Some(any_value::Value::IntValue(i)) => AttrValue::Int(*i),
        Some(any_value::Value::DoubleValue(d)) => AttrValue::Double(*d),
        Some(any_value::Value::BoolValue(b)) => AttrValue::Bool(*b),
        Some(any_value::Value::ArrayValue(a)) => {
            AttrValue::Array(a.values.iter().map(|v| attr_value(Some(v))).collect())
        }
        Some(other) => AttrValue::Other(format!("{other:?}")),
        None => AttrValue::Other("<empty>".to_owned()),
    }
}
