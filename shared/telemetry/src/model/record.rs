//! Finished spans and their field values, as every encoder reads them.

use std::{sync::Arc, time::SystemTime};

use super::{
    ids::{SpanId, TraceId},
    TraceContext,
};

/// A recorded field value, typed as `tracing` gave it.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldValue {
    /// A string (`field = "x"` or `field = %x`).
    Str(String),
    /// A signed integer.
    I64(i64),
    /// An unsigned integer.
    U64(u64),
    /// A float.
    F64(f64),
    /// A boolean.
    Bool(bool),
    /// A `?debug` value: kept as text, and treated as metadata, not an annotation.
    Debug(String),
}

/// Text of a value, as a log line or annotation would show it.
pub fn display(value: &FieldValue) -> String {
    match value {
        FieldValue::Str(s) | FieldValue::Debug(s) => s.clone(),
        FieldValue::I64(v) => v.to_string(),
        FieldValue::U64(v) => v.to_string(),
        FieldValue::F64(v) => v.to_string(),
        FieldValue::Bool(v) => v.to_string(),
    }
}

/// Prefixes of fields X-Ray shows in blocks of its own (`http`, `aws`, `sql`) or that are
/// OpenTelemetry's instructions (`otel.`): never X-Ray annotations or metadata.
pub const XRAY_OWN_FIELD_PREFIXES: [&str; 6] = ["otel.", "http.", "url.", "rpc.", "aws.", "server."];
/// Most characters of a string X-Ray indexes as an annotation; longer ones are metadata.
pub const MAX_ANNOTATION_VALUE_CHARS: usize = 1_000;
/// Most annotations X-Ray indexes on one segment or subsegment.
pub const MAX_ANNOTATIONS: usize = 50;

/// Whether X-Ray indexes a value as an annotation (searchable): numbers, booleans and
/// strings up to [`MAX_ANNOTATION_VALUE_CHARS`]; `?debug` values and longer strings are
/// metadata. The daemon's documents and X-Ray's OTLP spans choose with this one rule.
pub fn is_annotation_value(value: &FieldValue) -> bool {
    match value {
        FieldValue::Debug(_) => false,
        FieldValue::Str(text) => text.chars().count() <= MAX_ANNOTATION_VALUE_CHARS,
        _ => true,
    }
}

/// An event recorded on a span (errors become `exception` events).
#[derive(Clone, Debug)]
pub struct SpanEvent {
    /// Event name (`exception` for errors).
    pub name: String,
    /// When it happened.
    pub time: SystemTime,
    /// Its fields.
    pub fields: Vec<(&'static str, FieldValue)>,
}

/// A finished span, ready for any encoder.
#[derive(Clone, Debug)]
pub struct SpanRecord {
    /// The span's name (X-Ray subsegment name).
    pub name: &'static str,
    /// Its trace.
    pub trace: Arc<TraceContext>,
    /// Its id.
    pub span_id: SpanId,
    /// Its parent: another span, or Lambda's facade segment for the invocation span.
    pub parent_id: Option<SpanId>,
    /// Whether this is the invocation span (the function's top subsegment).
    pub is_invocation: bool,
    /// Start time.
    pub start: SystemTime,
    /// End time.
    pub end: SystemTime,
    /// Fields in the order first recorded.
    pub fields: Vec<(&'static str, FieldValue)>,
    /// Events recorded inside the span.
    pub events: Vec<SpanEvent>,
    /// Set when an ERROR event happened inside the span: the first error's message.
    pub error: Option<String>,
    /// The invocation span only: the caller's span on the same trace (a traced
    /// browser's `traceparent`), which OTLP backends see as its parent.
    pub remote_parent: Option<SpanId>,
    /// The invocation span only: spans of other traces it follows (a `traceparent`
    /// on another trace id), as OTLP span links.
    pub links: Vec<(TraceId, SpanId)>,
}

impl SpanRecord {
    /// The value of a field, if recorded.
    pub fn field(&self, name: &str) -> Option<&FieldValue> {
        self.fields
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value)
    }

    /// A string field's text.
    pub fn str_field(&self, name: &str) -> Option<&str> {
        match self.field(name)? {
            FieldValue::Str(s) | FieldValue::Debug(s) => Some(s),
            _ => None,
        }
    }

    /// An integer field's value.
    pub fn int_field(&self, name: &str) -> Option<i64> {
        match self.field(name)? {
            FieldValue::I64(v) => Some(*v),
            FieldValue::U64(v) => i64::try_from(*v).ok(),
            _ => None,
        }
    }

    /// Duration in seconds.
    pub fn duration_secs(&self) -> f64 {
        self.end
            .duration_since(self.start)
            .unwrap_or_default()
            .as_secs_f64()
    }
}
