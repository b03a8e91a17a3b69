//! Encoding spans as X-Ray segment documents (pure functions, no I/O).

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use crate::model::{
    display, is_annotation_value, FieldValue, SpanRecord, MAX_ANNOTATIONS, MAX_ANNOTATION_VALUE_CHARS,
    XRAY_OWN_FIELD_PREFIXES,
};

/// The daemon's header line, before every document.
pub const HEADER: &str = "{\"format\": \"json\", \"version\": 1}\n";
/// Largest datagram the daemon takes (64 KiB, with room to spare).
pub const MAX_DATAGRAM_BYTES: usize = 64_000;
/// X-Ray's limits on names and annotation keys (values: `model`).
const MAX_NAME_CHARS: usize = 200;
const MAX_ANNOTATION_KEY_CHARS: usize = 500;
/// Frames kept of a panic's backtrace.
const MAX_STACK_FRAMES: usize = 20;

/// Encodes sampled spans as daemon datagrams (header line included).
///
/// Spans whose parent is among `spans` are nested under it; the others become
/// documents of their own. A document over [`MAX_DATAGRAM_BYTES`] is split: its
/// children go out as separate subsegment documents. `function_name` names the
/// invocation span; `in_lambda` chooses subsegments under Lambda's facade over
/// full segments. Returns the datagrams and the number of spans that could not fit.
pub fn encode(spans: &[SpanRecord], function_name: &str, in_lambda: bool) -> (Vec<Vec<u8>>, usize) {
    // Inside Lambda a trace without Lambda's facade segment to hang under (no trace
    // header: tracing is off) has no place in X-Ray: a segment of our own would be a
    // phantom node on the service map.
    let spans: Vec<&SpanRecord> = spans
        .iter()
        .filter(|s| s.trace.sampled && (!in_lambda || s.trace.lambda_parent.is_some()))
        .collect();
    let index: HashMap<u64, usize> = spans.iter().enumerate().map(|(i, s)| (s.span_id.0, i)).collect();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); spans.len()];
    let mut roots = Vec::new();
    for (i, span) in spans.iter().enumerate() {
        match span.parent_id.and_then(|p| index.get(&p.0)) {
            Some(&parent) if parent != i => children[parent].push(i),
            _ => roots.push(i),
        }
    }
    let tree = Tree {
        spans: &spans,
        children: &children,
        function_name,
    };
    let (mut datagrams, mut dropped) = (Vec::new(), 0);
    for root in roots {
        tree.emit(root, in_lambda, &mut datagrams, &mut dropped);
    }
    (datagrams, dropped)
}

struct Tree<'a> {
    spans: &'a [&'a SpanRecord],
    children: &'a [Vec<usize>],
    function_name: &'a str,
}

impl Tree<'_> {
    /// Emits the subtree at `i` as one document, or split when too large.
    fn emit(&self, i: usize, in_lambda: bool, out: &mut Vec<Vec<u8>>, dropped: &mut usize) {
        let mut doc = self.document(i, in_lambda);
        doc["subsegments"] = Value::Array(self.children[i].iter().map(|&c| self.nested(c)).collect());
        if self.children[i].is_empty() {
            doc.as_object_mut().expect("object").remove("subsegments");
        }
        if let Some(datagram) = datagram(&doc) {
            out.push(datagram);
            return;
        }
        // Too large: the node alone, then each child as its own document.
        doc.as_object_mut().expect("object").remove("subsegments");
        match datagram(&doc).or_else(|| {
            doc.as_object_mut().expect("object").remove("metadata");
            datagram(&doc)
        }) {
            Some(datagram) => out.push(datagram),
            None => *dropped += 1,
        }
        for &child in &self.children[i] {
            self.emit(child, true, out, dropped);
        }
    }

    fn nested(&self, i: usize) -> Value {
        let mut doc = body(self.spans[i], self.function_name);
        if !self.children[i].is_empty() {
            doc["subsegments"] = Value::Array(self.children[i].iter().map(|&c| self.nested(c)).collect());
        }
        doc
    }

    /// A top-level document: a subsegment with `trace_id`/`parent_id`, or a segment.
    fn document(&self, i: usize, in_lambda: bool) -> Value {
        let span = self.spans[i];
        let mut doc = body(span, self.function_name);
        doc["trace_id"] = json!(span.trace.xray_trace_id);
        match span.parent_id {
            Some(parent) if in_lambda || !span.is_invocation => {
                doc["type"] = json!("subsegment");
                doc["parent_id"] = json!(parent.to_string());
            }
            parent => {
                // Outside Lambda there is no facade segment: the invocation is the segment.
                doc["origin"] = json!("AWS::Lambda::Function");
                if let Some(parent) = parent {
                    doc["parent_id"] = json!(parent.to_string());
                }
            }
        }
        doc
    }
}

fn datagram(doc: &Value) -> Option<Vec<u8>> {
    let mut bytes = HEADER.as_bytes().to_vec();
    serde_json::to_writer(&mut bytes, doc).ok()?;
    (bytes.len() <= MAX_DATAGRAM_BYTES).then_some(bytes)
}

/// The fields every (sub)segment has, without trace/parent ids or children.
fn body(span: &SpanRecord, function_name: &str) -> Value {
    let is_aws_call = span.str_field("rpc.system") == Some("aws-api");
    let is_client = span.str_field("otel.kind") == Some("client");
    let name = if span.is_invocation {
        function_name
    } else if let Some(database) = span
        .str_field("db.namespace")
        .filter(|_| span.field("db.system").is_some())
    {
        database
    } else if is_aws_call {
        span.str_field("rpc.service").unwrap_or(span.name)
    } else if is_client {
        span.str_field("server.address").unwrap_or(span.name)
    } else {
        span.name
    };
    let mut doc = json!({
        "name": sanitize_name(name),
        "id": span.span_id.to_string(),
        "start_time": epoch_secs(span.start),
        "end_time": epoch_secs(span.end),
    });
    let mut annotations = Map::new();
    let mut metadata = Map::new();
    if span.is_invocation {
        annotations.insert("ColdStart".into(), json!(span.trace.cold_start));
    }
    for (key, value) in &span.fields {
        if let Some(key) = key.strip_prefix("xray.metadata.") {
            metadata.insert(key.to_owned(), json!(display(value)));
            continue;
        }
        // These become X-Ray's own `http`/`aws` blocks, not annotations.
        if XRAY_OWN_FIELD_PREFIXES
            .iter()
            .any(|prefix| key.starts_with(prefix))
            || (is_aws_call && *key == "cloud.region")
            // Already the `ColdStart` annotation.
            || *key == "faas.coldstart"
        {
            continue;
        }
        match value {
            FieldValue::Debug(text) | FieldValue::Str(text) if !is_annotation_value(value) => {
                metadata.insert((*key).to_owned(), json!(text));
            }
            _ if annotations.len() >= MAX_ANNOTATIONS => {
                metadata.insert((*key).to_owned(), annotation_value(value));
            }
            _ => {
                annotations.insert(annotation_key(key), annotation_value(value));
            }
        }
    }
    if !annotations.is_empty() {
        doc["annotations"] = Value::Object(annotations);
    }
    if !metadata.is_empty() {
        doc["metadata"] = json!({ "default": metadata });
    }
    let status = span.int_field("http.response.status_code");
    if let Some(method) = span.str_field("http.request.method") {
        let mut request = json!({ "method": method });
        if let Some(url) = span.str_field("url.full").or_else(|| span.str_field("url.path")) {
            request["url"] = json!(url);
        }
        doc["http"] = json!({ "request": request });
        if let Some(status) = status {
            doc["http"]["response"] = json!({ "status": status });
        }
    }
    if is_aws_call {
        doc["namespace"] = json!("aws");
        let mut aws = json!({ "operation": span.str_field("rpc.method").unwrap_or_default() });
        if let Some(region) = span.str_field("cloud.region") {
            aws["region"] = json!(region);
        }
        if let Some(request_id) = span.str_field("aws.request_id") {
            aws["request_id"] = json!(request_id);
        }
        doc["aws"] = aws;
    } else if let Some(database_type) = span.str_field("db.system") {
        // A database query: X-Ray's `sql` block (no parameter values ever reach it).
        doc["namespace"] = json!("remote");
        let mut sql = json!({ "database_type": database_type });
        if let Some(url) = span
            .str_field("db.connection_string")
            .or_else(|| span.str_field("server.address"))
        {
            sql["url"] = json!(url);
        }
        if let Some(query) = span.str_field("db.query.text") {
            sql["sanitized_query"] = json!(query);
        }
        if let Some(user) = span.str_field("db.user") {
            sql["user"] = json!(user);
        }
        doc["sql"] = sql;
    } else if is_client {
        doc["namespace"] = json!("remote");
    }
    let throttled = matches!(span.field("aws.throttled"), Some(FieldValue::Bool(true)));
    match status {
        Some(429) => {
            doc["error"] = json!(true);
            doc["throttle"] = json!(true);
        }
        Some(400..=499) if throttled => {
            doc["error"] = json!(true);
            doc["throttle"] = json!(true);
        }
        Some(400..=499) => doc["error"] = json!(true),
        Some(500..) => doc["fault"] = json!(true),
        _ => {}
    }
    if let Some(message) = &span.error {
        doc["fault"] = json!(true);
        let exceptions: Vec<Value> = span
            .events
            .iter()
            .filter(|e| e.name == "exception")
            .map(|e| {
                let field = |k: &str| e.fields.iter().find(|(key, _)| *key == k).map(|(_, v)| display(v));
                let mut exception = json!({
                    "id": crate::model::ids::SpanId::generate().to_string(),
                    "message": field("exception.message").or_else(|| field("message")).unwrap_or_else(|| message.clone()),
                    "type": field("exception.type").unwrap_or_else(|| "Error".into()),
                });
                if let Some(stack) = field("exception.stacktrace").filter(|s| !s.is_empty()) {
                    exception["stack"] = json!(crate::panics::frames(&stack, MAX_STACK_FRAMES));
                }
                exception
            })
            .collect();
        doc["cause"] = json!({ "exceptions": exceptions });
    }
    doc
}

fn annotation_value(value: &FieldValue) -> Value {
    match value {
        FieldValue::Str(s) | FieldValue::Debug(s) => {
            json!(s.chars().take(MAX_ANNOTATION_VALUE_CHARS).collect::<String>())
        }
        FieldValue::I64(v) => json!(v),
        FieldValue::U64(v) => json!(v),
        FieldValue::F64(v) if v.is_finite() => json!(v),
        FieldValue::F64(v) => json!(v.to_string()),
        FieldValue::Bool(v) => json!(v),
    }
}

/// X-Ray annotation keys: letters, digits and `_` only (others become `_`), at most 500.
fn annotation_key(key: &str) -> String {
    key.chars()
        .take(MAX_ANNOTATION_KEY_CHARS)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// X-Ray names: letters, digits, white space and `_ . : / % & # = + \ - @`; at most 200.
fn sanitize_name(name: &str) -> String {
    let clean: String = name
        .chars()
        .filter(|c| c.is_alphanumeric() || c.is_whitespace() || "_.:/%&#=+\\-@".contains(*c))
        .take(MAX_NAME_CHARS)
        .collect();
    if clean.is_empty() {
        "unnamed".into()
    } else {
        clean
    }
}

fn epoch_secs(time: std::time::SystemTime) -> f64 {
    time.duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        ids::{SpanId, TraceId},
        TraceContext,
    };
    use std::{sync::Arc, time::SystemTime};

    const FACADE: u64 = 0xfacade;

    fn span(
        trace: &Arc<TraceContext>,
        id: u64,
        parent: Option<u64>,
        fields: Vec<(&'static str, FieldValue)>,
    ) -> SpanRecord {
        SpanRecord {
            name: "work",
            trace: trace.clone(),
            span_id: SpanId(id),
            parent_id: parent.map(SpanId),
            is_invocation: parent == Some(FACADE),
            start: SystemTime::now(),
            end: SystemTime::now(),
            fields,
            events: vec![],
            error: None,
            remote_parent: None,
            links: Vec::new(),
        }
    }

    fn parse(datagram: &[u8]) -> Value {
        let text = std::str::from_utf8(datagram).unwrap();
        let (header, doc) = text.split_once('\n').unwrap();
        assert_eq!(format!("{header}\n"), HEADER);
        serde_json::from_str(doc).unwrap()
    }

    #[test]
    fn children_nest_under_the_invocation_subsegment() {
        let trace = Arc::new(TraceContext::new(TraceId::generate(), true, Some(SpanId(FACADE))));
        let spans = [
            span(
                &trace,
                2,
                Some(1),
                vec![("app.result_length", FieldValue::U64(3))],
            ),
            span(
                &trace,
                1,
                Some(FACADE),
                vec![("http.request.method", FieldValue::Str("GET".into()))],
            ),
        ];
        let (datagrams, dropped) = encode(&spans, "home-activities", true);
        assert_eq!((datagrams.len(), dropped), (1, 0));
        let doc = parse(&datagrams[0]);
        assert_eq!(doc["type"], "subsegment");
        assert_eq!(doc["parent_id"], "0000000000facade");
        assert_eq!(doc["name"], "home-activities");
        assert_eq!(doc["trace_id"], trace.xray_trace_id);
        assert_eq!(doc["subsegments"][0]["annotations"]["app_result_length"], 3);
        assert_eq!(doc["http"]["request"]["method"], "GET");
    }

    #[test]
    fn oversized_trees_are_split_into_documents() {
        let trace = Arc::new(TraceContext::new(TraceId::generate(), true, Some(SpanId(FACADE))));
        let big = FieldValue::Debug("x".repeat(20_000));
        let mut spans = vec![span(&trace, 1, Some(FACADE), vec![])];
        spans.extend((2..8).map(|id| span(&trace, id, Some(1), vec![("blob", big.clone())])));
        let (datagrams, dropped) = encode(&spans, "f", true);
        assert_eq!((datagrams.len(), dropped), (7, 0));
        assert!(datagrams.iter().all(|d| d.len() <= MAX_DATAGRAM_BYTES));
        let child = parse(&datagrams[1]);
        assert_eq!(
            (child["type"].as_str(), child["parent_id"].as_str()),
            (Some("subsegment"), Some("0000000000000001"))
        );
    }

    #[test]
    fn keys_and_names_follow_xray_rules_and_unsampled_is_skipped() {
        assert_eq!(annotation_key("app.now-ish"), "app_now_ish");
        assert_eq!(sanitize_name("GET /x?y=<z>"), "GET /xy=z");
        let trace = Arc::new(TraceContext::new(TraceId::generate(), false, None));
        assert!(encode(&[span(&trace, 1, None, vec![])], "f", true).0.is_empty());
    }

    #[test]
    fn in_lambda_a_trace_without_the_facade_is_not_sent_but_outside_it_is_a_segment() {
        let trace = Arc::new(TraceContext::new(TraceId::generate(), true, None));
        let invocation = SpanRecord {
            is_invocation: true,
            ..span(&trace, 1, None, vec![])
        };
        assert!(encode(std::slice::from_ref(&invocation), "f", true).0.is_empty());
        let (datagrams, _) = encode(&[invocation], "f", false);
        let doc = parse(&datagrams[0]);
        assert_eq!(doc["origin"], "AWS::Lambda::Function");
        assert!(doc.get("type").is_none());
    }
}
