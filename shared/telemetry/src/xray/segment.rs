//! Encoding spans as X-Ray segment documents (pure functions, no I/O).
//!
//! Documents are written directly (`json`): a `serde_json::Value` tree cost about
//! 65,000 instructions an invocation on the home route, most of what X-Ray added after
//! the response (callgrind).

use std::{borrow::Cow, collections::HashMap};

use crate::{
    json::{push_bool, push_f64, push_int, push_key, push_separator, push_str, push_value, Object},
    model::{
        display, is_annotation_value, FieldValue, SpanRecord, MAX_ANNOTATIONS, MAX_ANNOTATION_VALUE_CHARS,
        XRAY_OWN_FIELD_PREFIXES,
    },
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

/// How much of a node a document carries.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Detail {
    /// The node and its subtree.
    Subtree,
    /// The node alone (its children go as documents of their own).
    Node,
    /// The node alone, without its metadata.
    Bare,
}

impl Tree<'_> {
    /// Emits the subtree at `i` as one document, or split when too large.
    fn emit(&self, i: usize, in_lambda: bool, out: &mut Vec<Vec<u8>>, dropped: &mut usize) {
        let mut datagram = Vec::with_capacity(1024);
        let fits = |datagram: &mut Vec<u8>, detail| {
            datagram.clear();
            datagram.extend_from_slice(HEADER.as_bytes());
            self.push_document(datagram, i, in_lambda, detail);
            datagram.len() <= MAX_DATAGRAM_BYTES
        };
        if fits(&mut datagram, Detail::Subtree) {
            out.push(datagram);
            return;
        }
        // Too large: the node alone, then each child as its own document.
        if fits(&mut datagram, Detail::Node) || fits(&mut datagram, Detail::Bare) {
            out.push(datagram);
        } else {
            *dropped += 1;
        }
        for &child in &self.children[i] {
            self.emit(child, true, out, dropped);
        }
    }

    /// A top-level document: a subsegment with `trace_id`/`parent_id`, or a segment.
    fn push_document(&self, out: &mut Vec<u8>, i: usize, in_lambda: bool, detail: Detail) {
        let span = self.spans[i];
        out.push(b'{');
        push_body(out, span, self.function_name, detail != Detail::Bare);
        push_key(out, "trace_id");
        push_str(out, &span.trace.xray_trace_id);
        match span.parent_id {
            Some(parent) if in_lambda || !span.is_invocation => {
                push_key(out, "type");
                push_str(out, "subsegment");
                push_key(out, "parent_id");
                push_str(out, &parent.hex());
            }
            parent => {
                // Outside Lambda there is no facade segment: the invocation is the segment.
                push_key(out, "origin");
                push_str(out, "AWS::Lambda::Function");
                if let Some(parent) = parent {
                    push_key(out, "parent_id");
                    push_str(out, &parent.hex());
                }
            }
        }
        if detail == Detail::Subtree {
            self.push_subsegments(out, i);
        }
        out.push(b'}');
    }

    /// `"subsegments":[…]`, the node's children with their subtrees; nothing without children.
    fn push_subsegments(&self, out: &mut Vec<u8>, i: usize) {
        if self.children[i].is_empty() {
            return;
        }
        push_key(out, "subsegments");
        out.push(b'[');
        for &child in &self.children[i] {
            push_separator(out);
            out.push(b'{');
            push_body(out, self.spans[child], self.function_name, true);
            self.push_subsegments(out, child);
            out.push(b'}');
        }
        out.push(b']');
    }
}

/// The members every (sub)segment has, without trace/parent ids or children (the object's
/// `{` is written, not its `}`); `metadata` keeps the metadata block.
fn push_body(out: &mut Vec<u8>, span: &SpanRecord, function_name: &str, metadata: bool) {
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
    push_key(out, "name");
    push_str(out, &sanitize_name(name));
    push_key(out, "id");
    push_str(out, &span.span_id.hex());
    push_key(out, "start_time");
    push_f64(out, epoch_secs(span.start));
    push_key(out, "end_time");
    push_f64(out, epoch_secs(span.end));

    let mut annotations = Object::default();
    let mut metadata_members = Object::default();
    if span.is_invocation {
        annotations.insert("ColdStart", |out| push_bool(out, span.trace.cold_start));
    }
    for (key, value) in &span.fields {
        if let Some(key) = key.strip_prefix("xray.metadata.") {
            metadata_members.insert(key, |out| push_str(out, &display(value)));
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
                metadata_members.insert(*key, |out| push_str(out, text));
            }
            _ if annotations.len() >= MAX_ANNOTATIONS => {
                metadata_members.insert(*key, |out| push_annotation_value(out, value));
            }
            _ => annotations.insert(annotation_key(key), |out| push_annotation_value(out, value)),
        }
    }
    if !annotations.is_empty() {
        push_key(out, "annotations");
        annotations.write_to(out);
    }
    if metadata && !metadata_members.is_empty() {
        push_key(out, "metadata");
        out.extend_from_slice(b"{\"default\":");
        metadata_members.write_to(out);
        out.push(b'}');
    }

    let status = span.int_field("http.response.status_code");
    if let Some(method) = span.str_field("http.request.method") {
        out.extend_from_slice(b",\"http\":{\"request\":{\"method\":");
        push_str(out, method);
        if let Some(url) = span.str_field("url.full").or_else(|| span.str_field("url.path")) {
            push_key(out, "url");
            push_str(out, url);
        }
        out.push(b'}');
        if let Some(status) = status {
            out.extend_from_slice(b",\"response\":{\"status\":");
            push_int(out, status);
            out.push(b'}');
        }
        out.push(b'}');
    }
    if is_aws_call {
        push_key(out, "namespace");
        push_str(out, "aws");
        out.extend_from_slice(b",\"aws\":{\"operation\":");
        push_str(out, span.str_field("rpc.method").unwrap_or_default());
        for (key, field) in [("region", "cloud.region"), ("request_id", "aws.request_id")] {
            if let Some(value) = span.str_field(field) {
                push_key(out, key);
                push_str(out, value);
            }
        }
        out.push(b'}');
    } else if let Some(database_type) = span.str_field("db.system") {
        // A database query: X-Ray's `sql` block (no parameter values ever reach it).
        push_key(out, "namespace");
        push_str(out, "remote");
        out.extend_from_slice(b",\"sql\":{\"database_type\":");
        push_str(out, database_type);
        let url = span
            .str_field("db.connection_string")
            .or_else(|| span.str_field("server.address"));
        for (key, value) in [
            ("url", url),
            ("sanitized_query", span.str_field("db.query.text")),
            ("user", span.str_field("db.user")),
        ] {
            if let Some(value) = value {
                push_key(out, key);
                push_str(out, value);
            }
        }
        out.push(b'}');
    } else if is_client {
        push_key(out, "namespace");
        push_str(out, "remote");
    }

    let throttled = matches!(span.field("aws.throttled"), Some(FieldValue::Bool(true)));
    let (error, throttle) = match status {
        Some(429) => (true, true),
        Some(400..=499) => (true, throttled),
        _ => (false, false),
    };
    let fault = matches!(status, Some(500..)) || span.error.is_some();
    for (key, set) in [("error", error), ("throttle", throttle), ("fault", fault)] {
        if set {
            push_key(out, key);
            push_bool(out, true);
        }
    }
    if let Some(message) = &span.error {
        out.extend_from_slice(b",\"cause\":{\"exceptions\":[");
        for event in span.events.iter().filter(|e| e.name == "exception") {
            let field = |k: &str| {
                event
                    .fields
                    .iter()
                    .find(|(key, _)| *key == k)
                    .map(|(_, v)| display(v))
            };
            push_separator(out);
            out.extend_from_slice(b"{\"id\":");
            push_str(out, &crate::model::ids::SpanId::generate().hex());
            push_key(out, "message");
            let text = field("exception.message").or_else(|| field("message"));
            push_str(out, text.as_deref().unwrap_or(message));
            push_key(out, "type");
            push_str(out, field("exception.type").as_deref().unwrap_or("Error"));
            if let Some(stack) = field("exception.stacktrace").filter(|s| !s.is_empty()) {
                push_key(out, "stack");
                let _ = serde_json::to_writer(&mut *out, &crate::panics::frames(&stack, MAX_STACK_FRAMES));
            }
            out.push(b'}');
        }
        out.extend_from_slice(b"]}");
    }
}

/// A field's value as an annotation: as `json` writes it, text cut to X-Ray's longest.
fn push_annotation_value(out: &mut Vec<u8>, value: &FieldValue) {
    match value {
        FieldValue::Str(s) | FieldValue::Debug(s) => match s.char_indices().nth(MAX_ANNOTATION_VALUE_CHARS) {
            Some((cut, _)) => push_str(out, &s[..cut]),
            None => push_str(out, s),
        },
        value => push_value(out, value),
    }
}

/// X-Ray annotation keys: letters, digits and `_` only (others become `_`), at most 500.
fn annotation_key(key: &str) -> Cow<'_, str> {
    let valid = |c: char| c.is_ascii_alphanumeric() || c == '_';
    if key.len() <= MAX_ANNOTATION_KEY_CHARS && key.chars().all(valid) {
        return Cow::Borrowed(key);
    }
    key.chars()
        .take(MAX_ANNOTATION_KEY_CHARS)
        .map(|c| if valid(c) { c } else { '_' })
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
    use serde_json::Value;
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
