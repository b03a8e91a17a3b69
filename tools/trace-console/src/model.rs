//! A trace as the console sees it: spans from X-Ray segment documents and OTLP
//! exports, joined by trace id (X-Ray `1-XXXXXXXX-YYYY…` = OTLP's 32 hex digits)
//! and by span id (our functions use the same 16 hex digits in both).
//!
//! Each [`Span`] keeps one [`SpanView`] per source that reported it, so a span
//! seen twice can be compared ([`Trace::agreement`]) as well as drawn.

use std::collections::BTreeMap;
use std::fmt;

use opentelemetry_proto::tonic::{
    collector::trace::v1::ExportTraceServiceRequest,
    common::v1::{any_value::Value as Any, AnyValue, KeyValue},
    trace::v1::{status::StatusCode, Span as OtlpSpan},
};
use serde_json::Value;
use telemetry::ids::{SpanId, TraceId};

/// How far apart (in nanoseconds) the two sources' start or end of one span may be
/// and still agree: X-Ray writes microseconds as float seconds, OTLP nanoseconds.
const TIMING_TOLERANCE_NS: u64 = 1_000_000;

/// Where a span was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// An X-Ray segment or subsegment document.
    Xray,
    /// An OTLP span.
    Otlp,
}

/// What one source says about a span.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanView {
    /// The span's name in this source.
    pub name: String,
    /// The parent span (16 hex digits), if any; it may be outside the trace as seen
    /// (inside Lambda: the facade segment Lambda writes itself).
    pub parent_id: Option<String>,
    /// Start, in nanoseconds since the Unix epoch.
    pub start_ns: u64,
    /// End, in nanoseconds since the Unix epoch; `None` while in progress.
    pub end_ns: Option<u64>,
    /// Searchable values: X-Ray `annotations`, OTLP attributes under `app.`, as
    /// (key, value) in the source's own spelling.
    pub annotations: Vec<(String, String)>,
    /// What went wrong, if anything (X-Ray `fault`/`error`/`throttle` with the first
    /// exception; OTLP status ERROR with its message).
    pub error: Option<String>,
    /// X-Ray `origin` (e.g. `AWS::Lambda::Function`) when this view is a segment.
    pub origin: Option<String>,
}

impl SpanView {
    /// Duration in nanoseconds, when the span has ended.
    pub fn duration_ns(&self) -> Option<u64> {
        self.end_ns.map(|end| end.saturating_sub(self.start_ns))
    }
}

/// One span of a trace, as seen by X-Ray, OTLP or both.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    /// The span id: 16 lowercase hex digits.
    pub id: String,
    /// The X-Ray view, if an X-Ray document carried this span.
    pub xray: Option<SpanView>,
    /// The OTLP view, if an OTLP export carried this span.
    pub otlp: Option<SpanView>,
}

impl Span {
    /// The view used for drawing: OTLP's (nanosecond timestamps) when there is one.
    pub fn view(&self) -> &SpanView {
        self.otlp
            .as_ref()
            .or(self.xray.as_ref())
            .expect("a span has at least one view")
    }

    /// The name to show: both names, `xray / otlp`, when the sources differ.
    pub fn display_name(&self) -> String {
        match (&self.xray, &self.otlp) {
            (Some(x), Some(o)) if x.name != o.name => format!("{} / {}", x.name, o.name),
            _ => self.view().name.clone(),
        }
    }

    /// The parent span id (X-Ray's when both sources have one).
    pub fn parent_id(&self) -> Option<&str> {
        self.xray
            .as_ref()
            .and_then(|v| v.parent_id.as_deref())
            .or_else(|| self.otlp.as_ref().and_then(|v| v.parent_id.as_deref()))
    }

    /// True when either source saw this span fail.
    pub fn is_error(&self) -> bool {
        self.errors().next().is_some()
    }

    /// Every error description, X-Ray's first (duplicates removed).
    pub fn errors(&self) -> impl Iterator<Item = &str> {
        let xray = self.xray.as_ref().and_then(|v| v.error.as_deref());
        let otlp = self
            .otlp
            .as_ref()
            .and_then(|v| v.error.as_deref())
            .filter(|o| Some(*o) != xray);
        xray.into_iter().chain(otlp)
    }

    /// The annotations of both sources, with a value both report shown once (in
    /// OTLP's spelling, `app.result_length` rather than X-Ray's `app_result_length`).
    pub fn annotations(&self) -> Vec<(String, String)> {
        let otlp: Vec<(String, String)> = self.otlp.iter().flat_map(|v| v.annotations.clone()).collect();
        let mut all: Vec<(String, String)> = self
            .xray
            .iter()
            .flat_map(|v| v.annotations.clone())
            .filter(|(key, value)| !otlp.iter().any(|(k, v)| v == value && annotation_key(k) == *key))
            .collect();
        all.extend(otlp);
        all
    }

    /// Which sources saw this span.
    pub fn sources(&self) -> (bool, bool) {
        (self.xray.is_some(), self.otlp.is_some())
    }
}

/// X-Ray's spelling of an annotation key: letters, digits and `_`.
fn annotation_key(key: &str) -> String {
    key.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Whether X-Ray and OTLP tell the same story about a trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Agreement {
    /// Both saw the same spans, with the same parents, compatible names and timings.
    Agree(usize),
    /// Both saw the trace but differ; each entry says how.
    Disagree(Vec<String>),
    /// Only X-Ray documents arrived (this many spans).
    OnlyXray(usize),
    /// Only OTLP spans arrived (this many spans).
    OnlyOtlp(usize),
}

impl fmt::Display for Agreement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Agreement::Agree(n) => write!(f, "X-Ray and OTLP agree: {n} span{}", plural(*n)),
            Agreement::Disagree(how) => write!(f, "X-Ray and OTLP disagree: {}", how.join("; ")),
            Agreement::OnlyXray(n) => {
                write!(f, "only X-Ray saw this trace ({n} span{}, no OTLP)", plural(*n))
            }
            Agreement::OnlyOtlp(n) => {
                write!(f, "only OTLP saw this trace ({n} span{}, no X-Ray)", plural(*n))
            }
        }
    }
}

/// `"s"` unless `n` is 1.
pub(crate) fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Why an X-Ray document or an OTLP span was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpanError {
    /// The document is not a JSON object.
    #[error("document is not a JSON object")]
    NotAnObject,
    /// A required field is missing or of the wrong type.
    #[error("{what}: missing or invalid `{field}`")]
    Field {
        /// Which (sub)segment, e.g. `document` or `subsegment 0123456789abcdef`.
        what: String,
        /// The field.
        field: &'static str,
    },
    /// Subsegments nested deeper than X-Ray allows.
    #[error("subsegments nested too deep")]
    TooDeep,
}

/// Deepest nesting of subsegments accepted (X-Ray's own documents stay far below).
const MAX_DEPTH: usize = 64;

/// A trace: every span seen for one trace id, by span id.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// The trace id.
    pub id: TraceId,
    /// The spans by id.
    pub spans: BTreeMap<String, Span>,
}

impl Trace {
    /// An empty trace.
    pub fn new(id: TraceId) -> Self {
        Self {
            id,
            spans: BTreeMap::new(),
        }
    }

    /// Adds one span view from `source` (a later view of the same span and source
    /// replaces the earlier one, e.g. an in-progress segment completed).
    pub fn add(&mut self, source: Source, id: String, view: SpanView) {
        let span = self.spans.entry(id.clone()).or_insert_with(|| Span {
            id,
            xray: None,
            otlp: None,
        });
        match source {
            Source::Xray => span.xray = Some(view),
            Source::Otlp => span.otlp = Some(view),
        }
    }

    /// The earliest start, in nanoseconds since the epoch.
    pub fn start_ns(&self) -> u64 {
        self.spans.values().map(|s| s.view().start_ns).min().unwrap_or(0)
    }

    /// The latest end (or start, for spans in progress), in nanoseconds since the epoch.
    pub fn end_ns(&self) -> u64 {
        self.spans
            .values()
            .map(|s| s.view().end_ns.unwrap_or(s.view().start_ns))
            .max()
            .unwrap_or(0)
    }

    /// True when any span failed.
    pub fn has_error(&self) -> bool {
        self.spans.values().any(Span::is_error)
    }

    /// The spans in drawing order with their depth: each root (a span whose parent
    /// is not in the trace), then its children depth first, siblings by start time.
    pub fn tree(&self) -> Vec<(usize, &Span)> {
        let mut children: BTreeMap<&str, Vec<&Span>> = BTreeMap::new();
        let mut roots = Vec::new();
        for span in self.spans.values() {
            match span
                .parent_id()
                .filter(|p| self.spans.contains_key(*p) && *p != span.id)
            {
                Some(parent) => children.entry(parent).or_default().push(span),
                None => roots.push(span),
            }
        }
        let by_start = |a: &&Span, b: &&Span| (a.view().start_ns, &a.id).cmp(&(b.view().start_ns, &b.id));
        roots.sort_by(by_start);
        for list in children.values_mut() {
            list.sort_by(by_start);
        }
        let mut out = Vec::with_capacity(self.spans.len());
        let mut stack: Vec<(usize, &Span)> = roots.into_iter().rev().map(|s| (0, s)).collect();
        while let Some((depth, span)) = stack.pop() {
            // A parent cycle cannot loop: each span is drawn once.
            if out.iter().any(|(_, s): &(usize, &Span)| s.id == span.id) {
                continue;
            }
            out.push((depth, span));
            if let Some(list) = children.get(span.id.as_str()) {
                stack.extend(list.iter().rev().map(|s| (depth + 1, *s)));
            }
        }
        // Spans only reachable through a cycle: draw them as roots.
        for span in self.spans.values() {
            if !out.iter().any(|(_, s)| s.id == span.id) {
                out.push((0, span));
            }
        }
        out
    }

    /// Compares what X-Ray and OTLP said: the same span ids, the same parents,
    /// names where one contains the other (X-Ray says `mock-data` where OTLP says
    /// `home-activities-mock-data`, `SSM` where OTLP says `SSM.GetParameter`), and
    /// start and end within a millisecond.
    pub fn agreement(&self) -> Agreement {
        let xray = self.spans.values().filter(|s| s.xray.is_some()).count();
        let otlp = self.spans.values().filter(|s| s.otlp.is_some()).count();
        if otlp == 0 {
            return Agreement::OnlyXray(xray);
        }
        if xray == 0 {
            return Agreement::OnlyOtlp(otlp);
        }
        let mut how = Vec::new();
        for span in self.spans.values() {
            match (&span.xray, &span.otlp) {
                (Some(x), None) => how.push(format!("{} `{}` only in X-Ray", span.id, x.name)),
                (None, Some(o)) => how.push(format!("{} `{}` only in OTLP", span.id, o.name)),
                (Some(x), Some(o)) => {
                    let (xn, on) = (x.name.to_ascii_lowercase(), o.name.to_ascii_lowercase());
                    if !(xn.contains(&on) || on.contains(&xn)) {
                        how.push(format!(
                            "{} named `{}` in X-Ray but `{}` in OTLP",
                            span.id, x.name, o.name
                        ));
                    }
                    if x.parent_id != o.parent_id {
                        how.push(format!(
                            "{} has parent {} in X-Ray but {} in OTLP",
                            span.id,
                            x.parent_id.as_deref().unwrap_or("none"),
                            o.parent_id.as_deref().unwrap_or("none")
                        ));
                    }
                    let apart = |a: Option<u64>, b: Option<u64>| match (a, b) {
                        (Some(a), Some(b)) => a.abs_diff(b) > TIMING_TOLERANCE_NS,
                        (None, None) => false,
                        _ => true,
                    };
                    if apart(Some(x.start_ns), Some(o.start_ns)) || apart(x.end_ns, o.end_ns) {
                        how.push(format!("{} `{}` has different timings", span.id, o.name));
                    }
                }
                (None, None) => {}
            }
        }
        if how.is_empty() {
            Agreement::Agree(self.spans.len())
        } else {
            Agreement::Disagree(how)
        }
    }

    /// Adds every span of one X-Ray segment document (nested subsegments included).
    /// The document must belong to this trace; see [`xray_document`] to find its trace.
    pub fn add_xray_spans(&mut self, spans: Vec<(String, SpanView)>) {
        for (id, view) in spans {
            self.add(Source::Xray, id, view);
        }
    }
}

/// Reads one X-Ray segment (or subsegment) document: its trace id and every span
/// in it, nested subsegments included (their parent is the enclosing (sub)segment).
pub fn xray_document(doc: &Value) -> Result<(TraceId, Vec<(String, SpanView)>), SpanError> {
    if !doc.is_object() {
        return Err(SpanError::NotAnObject);
    }
    let trace_id = doc
        .get("trace_id")
        .and_then(Value::as_str)
        .and_then(TraceId::from_xray)
        .ok_or_else(|| SpanError::Field {
            what: "document".into(),
            field: "trace_id",
        })?;
    let parent = match doc.get("parent_id") {
        None | Some(Value::Null) => None,
        Some(value) => Some(span_id(value).ok_or_else(|| SpanError::Field {
            what: "document".into(),
            field: "parent_id",
        })?),
    };
    let mut spans = Vec::new();
    xray_walk(doc, parent, 0, &mut spans)?;
    Ok((trace_id, spans))
}

fn xray_walk(
    node: &Value,
    parent: Option<String>,
    depth: usize,
    out: &mut Vec<(String, SpanView)>,
) -> Result<(), SpanError> {
    if depth > MAX_DEPTH {
        return Err(SpanError::TooDeep);
    }
    let what = || match node.get("id").and_then(Value::as_str) {
        Some(id) if depth > 0 => format!("subsegment {id}"),
        Some(id) => format!("segment {id}"),
        None if depth > 0 => "subsegment".to_owned(),
        None => "document".to_owned(),
    };
    let field = |field: &'static str| SpanError::Field { what: what(), field };
    if !node.is_object() {
        return Err(field("subsegments"));
    }
    let id = node.get("id").and_then(span_id).ok_or_else(|| field("id"))?;
    let name = node
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| field("name"))?
        .to_owned();
    let start_ns = node
        .get("start_time")
        .and_then(Value::as_f64)
        .and_then(seconds_to_ns)
        .ok_or_else(|| field("start_time"))?;
    let end_ns = match node.get("end_time") {
        Some(end) => Some(
            end.as_f64()
                .and_then(seconds_to_ns)
                .ok_or_else(|| field("end_time"))?,
        ),
        None if node.get("in_progress").and_then(Value::as_bool) == Some(true) => None,
        None => return Err(field("end_time")),
    };
    let annotations = node
        .get("annotations")
        .and_then(Value::as_object)
        .map(|map| map.iter().map(|(k, v)| (k.clone(), scalar(v))).collect())
        .unwrap_or_default();
    out.push((
        id.clone(),
        SpanView {
            name,
            parent_id: parent,
            start_ns,
            end_ns,
            annotations,
            error: xray_error(node),
            origin: node.get("origin").and_then(Value::as_str).map(str::to_owned),
        },
    ));
    if let Some(children) = node.get("subsegments") {
        let children = children.as_array().ok_or_else(|| field("subsegments"))?;
        for child in children {
            xray_walk(child, Some(id.clone()), depth + 1, out)?;
        }
    }
    Ok(())
}

/// `fault`, `error` and `throttle`, with the first exception's type and message.
fn xray_error(node: &Value) -> Option<String> {
    let flag = |key: &str| node.get(key).and_then(Value::as_bool) == Some(true);
    let kinds: Vec<&str> = ["fault", "error", "throttle"]
        .into_iter()
        .filter(|k| flag(k))
        .collect();
    if kinds.is_empty() {
        return None;
    }
    let exception = node
        .pointer("/cause/exceptions/0")
        .map(|e| {
            let message = e.get("message").and_then(Value::as_str).unwrap_or("");
            match e.get("type").and_then(Value::as_str) {
                Some(kind) if !message.is_empty() => format!("{kind}: {message}"),
                Some(kind) => kind.to_owned(),
                None => message.to_owned(),
            }
        })
        .or_else(|| {
            node.pointer("/http/response/status")
                .and_then(Value::as_u64)
                .map(|s| format!("HTTP {s}"))
        });
    Some(match exception.filter(|e| !e.is_empty()) {
        Some(exception) => format!("{} ({exception})", kinds.join("+")),
        None => kinds.join("+"),
    })
}

/// An X-Ray id: 16 hex digits, kept lowercase.
fn span_id(value: &Value) -> Option<String> {
    value.as_str().and_then(SpanId::from_hex).map(|id| id.to_string())
}

/// Float epoch seconds (X-Ray) to integer nanoseconds, rounded to the microsecond
/// (X-Ray's precision; a double holds no more at today's epoch).
fn seconds_to_ns(seconds: f64) -> Option<u64> {
    (seconds.is_finite() && seconds > 0.0 && seconds < 1.0e10).then(|| (seconds * 1e6).round() as u64 * 1_000)
}

/// A JSON scalar as text (strings without quotes).
fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Reads every span of an OTLP export as (trace id, span id, view). Spans with
/// malformed ids are refused one by one (each error says which).
pub fn otlp_spans(request: &ExportTraceServiceRequest) -> (Vec<(TraceId, String, SpanView)>, Vec<SpanError>) {
    let (mut spans, mut errors) = (Vec::new(), Vec::new());
    for span in request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
    {
        match otlp_span(span) {
            Ok(span) => spans.push(span),
            Err(error) => errors.push(error),
        }
    }
    (spans, errors)
}

fn otlp_span(span: &OtlpSpan) -> Result<(TraceId, String, SpanView), SpanError> {
    let what = || format!("OTLP span `{}`", span.name);
    let trace_id = <[u8; 16]>::try_from(span.trace_id.as_slice())
        .ok()
        .map(u128::from_be_bytes)
        .filter(|id| *id != 0)
        .map(TraceId)
        .ok_or_else(|| SpanError::Field {
            what: what(),
            field: "trace_id",
        })?;
    let id = eight_bytes(&span.span_id).ok_or_else(|| SpanError::Field {
        what: what(),
        field: "span_id",
    })?;
    let parent_id = if span.parent_span_id.is_empty() {
        // A root for Honeycomb's sake; Lambda's facade segment (X-Ray's parent) is named
        // in an attribute.
        attribute(&span.attributes, telemetry::otlp::LAMBDA_PARENT_ATTRIBUTE)
    } else {
        Some(eight_bytes(&span.parent_span_id).ok_or_else(|| SpanError::Field {
            what: what(),
            field: "parent_span_id",
        })?)
    };
    let error = span
        .status
        .as_ref()
        .filter(|s| s.code == StatusCode::Error as i32)
        .map(|status| {
            let exception = span
                .events
                .iter()
                .filter(|e| e.name == "exception")
                .find_map(|e| attribute(&e.attributes, "exception.message"));
            match (status.message.as_str(), exception) {
                ("", None) => "ERROR".to_owned(),
                ("", Some(exception)) => format!("ERROR ({exception})"),
                (message, _) => format!("ERROR ({message})"),
            }
        });
    let annotations = span
        .attributes
        .iter()
        .filter(|kv| kv.key.starts_with("app."))
        .map(|kv| (kv.key.clone(), any_text(kv.value.as_ref())))
        .collect();
    Ok((
        trace_id,
        id,
        SpanView {
            name: span.name.clone(),
            parent_id,
            start_ns: span.start_time_unix_nano,
            end_ns: (span.end_time_unix_nano != 0).then_some(span.end_time_unix_nano),
            annotations,
            error,
            origin: None,
        },
    ))
}

/// Eight bytes as 16 lowercase hex digits; none for a wrong length or all zeros.
fn eight_bytes(bytes: &[u8]) -> Option<String> {
    <[u8; 8]>::try_from(bytes)
        .ok()
        .map(u64::from_be_bytes)
        .filter(|id| *id != 0)
        .map(|id| SpanId(id).to_string())
}

fn attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .map(|kv| any_text(kv.value.as_ref()))
}

/// An OTLP attribute value as text.
fn any_text(value: Option<&AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        Some(Any::StringValue(s)) => s.clone(),
        Some(Any::BoolValue(b)) => b.to_string(),
        Some(Any::IntValue(i)) => i.to_string(),
        Some(Any::DoubleValue(d)) => d.to_string(),
        Some(Any::ArrayValue(a)) => {
            let items: Vec<String> = a.values.iter().map(|v| any_text(Some(v))).collect();
            format!("[{}]", items.join(", "))
        }
        Some(Any::BytesValue(b)) => format!("<{} bytes>", b.len()),
        Some(Any::KvlistValue(_)) => "{…}".to_owned(),
        Some(Any::StringValueStrindex(_)) | None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Status};
    use serde_json::json;

    const ROOT: &str = "1-5759e988-bd862e3fe1be46a994272793";

    fn home_document() -> Value {
        json!({
            "trace_id": ROOT, "id": "00000000000000a1", "parent_id": "53995c3f42cd8ad8",
            "type": "subsegment", "name": "home-activities",
            "start_time": 1_700_000_000.0, "end_time": 1_700_000_000.004,
            "annotations": {"ColdStart": true},
            "subsegments": [{
                "id": "00000000000000b2", "name": "mock-data",
                "start_time": 1_700_000_000.001, "end_time": 1_700_000_000.002,
                "annotations": {"app_result_length": 3}
            }]
        })
    }

    fn otlp(name: &str, id: u64, parent: u64, start_ms: u64, end_ms: u64) -> OtlpSpan {
        OtlpSpan {
            trace_id: 0x5759e988bd862e3fe1be46a994272793u128.to_be_bytes().to_vec(),
            span_id: id.to_be_bytes().to_vec(),
            parent_span_id: parent.to_be_bytes().to_vec(),
            name: name.into(),
            start_time_unix_nano: 1_700_000_000_000_000_000 + start_ms * 1_000_000,
            end_time_unix_nano: 1_700_000_000_000_000_000 + end_ms * 1_000_000,
            attributes: vec![KeyValue {
                key: "app.result_length".into(),
                value: Some(AnyValue {
                    value: Some(Any::IntValue(3)),
                }),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn request(spans: Vec<OtlpSpan>) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    fn both() -> Trace {
        let (trace_id, spans) = xray_document(&home_document()).unwrap();
        let mut trace = Trace::new(trace_id);
        trace.add_xray_spans(spans);
        let (spans, errors) = otlp_spans(&request(vec![
            otlp("home-activities", 0xa1, 0x53995c3f42cd8ad8, 0, 4),
            otlp("home-activities-mock-data", 0xb2, 0xa1, 1, 2),
        ]));
        assert!(errors.is_empty());
        for (id, span_id, view) in spans {
            assert_eq!(id, trace_id);
            trace.add(Source::Otlp, span_id, view);
        }
        trace
    }

    #[test]
    fn nested_subsegments_become_children() {
        let (trace_id, spans) = xray_document(&home_document()).unwrap();
        assert_eq!(trace_id.xray(), ROOT);
        assert_eq!(spans.len(), 2);
        assert_eq!(spans[1].1.parent_id.as_deref(), Some("00000000000000a1"));
        assert_eq!(spans[1].1.duration_ns(), Some(1_000_000));
        let mut trace = Trace::new(trace_id);
        trace.add_xray_spans(spans);
        let tree: Vec<(usize, String)> = trace.tree().iter().map(|(d, s)| (*d, s.display_name())).collect();
        assert_eq!(tree, [(0, "home-activities".into()), (1, "mock-data".into())]);
        assert_eq!(trace.agreement(), Agreement::OnlyXray(2));
    }

    #[test]
    fn the_same_spans_from_both_sources_agree() {
        let trace = both();
        assert_eq!(trace.agreement(), Agreement::Agree(2));
        assert_eq!(trace.agreement().to_string(), "X-Ray and OTLP agree: 2 spans");
        let mock = &trace.spans["00000000000000b2"];
        assert_eq!(mock.display_name(), "mock-data / home-activities-mock-data");
        assert_eq!(
            mock.annotations(),
            [("app.result_length".to_owned(), "3".to_owned())]
        );
        assert_eq!(trace.end_ns() - trace.start_ns(), 4_000_000);
    }

    #[test]
    fn missing_spans_other_names_and_parents_disagree() {
        let mut trace = both();
        let mut view = trace.spans["00000000000000b2"].otlp.clone().unwrap();
        view.name = "something-else".into();
        view.parent_id = None;
        trace.add(Source::Otlp, "00000000000000b2".into(), view.clone());
        trace.add(Source::Otlp, "00000000000000c3".into(), view);
        let Agreement::Disagree(how) = trace.agreement() else {
            panic!("should disagree")
        };
        assert_eq!(how.len(), 3, "{how:?}");
        assert!(how[0].contains("named `mock-data` in X-Ray but `something-else` in OTLP"));
        assert!(how[1].contains("parent 00000000000000a1 in X-Ray but none in OTLP"));
        assert!(how[2].contains("only in OTLP"));
    }

    #[test]
    fn errors_from_either_source_are_kept() {
        let mut doc = home_document();
        doc["fault"] = json!(true);
        doc["cause"] = json!({"exceptions": [{"type": "Panic", "message": "boom"}]});
        let (_, spans) = xray_document(&doc).unwrap();
        assert_eq!(spans[0].1.error.as_deref(), Some("fault (Panic: boom)"));
        let mut failed = otlp("x", 1, 0, 0, 1);
        failed.parent_span_id.clear();
        failed.status = Some(Status {
            code: StatusCode::Error as i32,
            message: "bad".into(),
        });
        let (spans, _) = otlp_spans(&request(vec![failed]));
        assert_eq!(spans[0].2.error.as_deref(), Some("ERROR (bad)"));
        assert_eq!(spans[0].2.parent_id, None);
    }

    #[test]
    fn malformed_documents_and_spans_are_refused() {
        for (doc, expected) in [
            (json!([1]), "document is not a JSON object"),
            (
                json!({"id": "00000000000000a1"}),
                "document: missing or invalid `trace_id`",
            ),
            (
                json!({"trace_id": ROOT, "id": "xyz", "name": "a", "start_time": 1.0, "end_time": 2.0}),
                "segment xyz: missing or invalid `id`",
            ),
            (
                json!({"trace_id": ROOT, "id": "00000000000000a1", "name": "a", "start_time": 1.0}),
                "segment 00000000000000a1: missing or invalid `end_time`",
            ),
            (
                json!({"trace_id": ROOT, "id": "00000000000000a1", "name": "a", "start_time": 1.0, "end_time": 2.0,
                       "subsegments": [{"id": "00000000000000b2", "start_time": 1.0, "end_time": 2.0}]}),
                "subsegment 00000000000000b2: missing or invalid `name`",
            ),
        ] {
            assert_eq!(xray_document(&doc).unwrap_err().to_string(), expected);
        }
        let in_progress = json!({"trace_id": ROOT, "id": "00000000000000a1", "name": "a", "start_time": 1.0, "in_progress": true});
        assert_eq!(xray_document(&in_progress).unwrap().1[0].1.end_ns, None);

        let mut short = otlp("x", 1, 2, 0, 1);
        short.span_id = vec![1, 2, 3];
        let (spans, errors) = otlp_spans(&request(vec![short, otlp("y", 3, 4, 0, 1)]));
        assert_eq!(spans.len(), 1);
        assert_eq!(
            errors[0].to_string(),
            "OTLP span `x`: missing or invalid `span_id`"
        );
    }
}
