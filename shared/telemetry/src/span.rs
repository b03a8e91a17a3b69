//! The one capture point: a `tracing` layer that turns spans into [`SpanRecord`]s.
//!
//! Every sink reads these records, so a span's fields are visited once, whatever
//! number of pillars it ends up in. Per-span state lives in the span's extensions
//! (as `tracing-subscriber`'s own fmt layer keeps its timings); finished records go
//! to the [`Hub`](crate::hub::Hub), which hands them to delivery after the response.

use std::{
    sync::Arc,
    time::{Instant, SystemTime},
};

use tracing::{
    field::{Field, Visit},
    span, Event, Level, Subscriber,
};
use tracing_subscriber::{layer::Context, registry::LookupSpan, Layer};

use crate::{
    hub::Hub,
    ids::{SpanId, TraceId},
};

/// Target of the span that wraps one whole invocation (the function's top subsegment).
pub(crate) const INVOCATION_TARGET: &str = "telemetry::invocation";

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

/// The trace an invocation (or a span outside any invocation) belongs to.
#[derive(Debug)]
pub struct TraceContext {
    /// The trace id.
    pub trace_id: TraceId,
    /// `1-XXXXXXXX-YYYY…`, kept ready for log lines.
    pub xray_trace_id: String,
    /// 32 hex digits, kept ready for log lines.
    pub trace_hex: String,
    /// Whether the trace is sampled (X-Ray `Sampled=1`).
    pub sampled: bool,
    /// Lambda's facade segment, parent of the invocation span.
    pub lambda_parent: Option<SpanId>,
    /// The invocation span's id (fixed before the span exists, so logs can use it).
    pub root_span_id: SpanId,
    /// The Lambda request id.
    pub request_id: Option<String>,
    /// The invoked function's ARN.
    pub function_arn: Option<String>,
    /// Whether this is the first invocation of the process.
    pub cold_start: bool,
    /// Whether this invocation logs DEBUG lines whatever the level (log sampling).
    pub debug_sampled: bool,
}

impl TraceContext {
    /// A context for `trace_id`; the ids' text forms are computed once here.
    pub fn new(trace_id: TraceId, sampled: bool, lambda_parent: Option<SpanId>) -> Self {
        Self {
            trace_id,
            xray_trace_id: trace_id.xray(),
            trace_hex: trace_id.to_string(),
            sampled,
            lambda_parent,
            root_span_id: SpanId::generate(),
            request_id: None,
            function_arn: None,
            cold_start: false,
            debug_sampled: false,
        }
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

/// A finished span, ready for any sink.
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

/// Per-span state kept in the span's extensions while it is open.
pub(crate) struct SpanState {
    pub trace: Arc<TraceContext>,
    pub span_id: SpanId,
    parent_id: Option<SpanId>,
    is_invocation: bool,
    start: SystemTime,
    started: Instant,
    fields: Vec<(&'static str, FieldValue)>,
    events: Vec<SpanEvent>,
    error: Option<String>,
}

/// The layer that records spans for the X-Ray and OTLP sinks.
pub struct CaptureLayer {
    hub: Arc<Hub>,
}

impl CaptureLayer {
    pub(crate) fn new(hub: Arc<Hub>) -> Self {
        Self { hub }
    }
}

impl<S> Layer<S> for CaptureLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let parent = span.parent().and_then(|parent| {
            let ext = parent.extensions();
            ext.get::<SpanState>()
                .map(|state| (state.trace.clone(), state.span_id))
        });
        let is_invocation = attrs.metadata().target() == INVOCATION_TARGET;
        let (trace, span_id, parent_id) = match parent {
            Some((trace, parent_id)) => (trace, SpanId::generate(), Some(parent_id)),
            None => match self.hub.current_trace() {
                // The invocation span takes the id chosen for it; a parentless span
                // (a task spawned without `.in_current_span()`) hangs under it.
                Some(trace) if is_invocation => (trace.clone(), trace.root_span_id, trace.lambda_parent),
                Some(trace) => (trace.clone(), SpanId::generate(), Some(trace.root_span_id)),
                None => {
                    let trace = Arc::new(TraceContext::new(TraceId::generate(), true, None));
                    (trace.clone(), trace.root_span_id, None)
                }
            },
        };
        let mut fields = Vec::with_capacity(attrs.fields().len());
        attrs.record(&mut FieldVisitor(&mut fields));
        span.extensions_mut().insert(SpanState {
            trace,
            span_id,
            parent_id,
            is_invocation,
            start: SystemTime::now(),
            started: Instant::now(),
            fields,
            events: Vec::new(),
            error: None,
        });
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            if let Some(state) = span.extensions_mut().get_mut::<SpanState>() {
                values.record(&mut FieldVisitor(&mut state.fields));
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if *event.metadata().level() != Level::ERROR {
            return;
        }
        let Some(span) = ctx.event_span(event) else { return };
        let mut extensions = span.extensions_mut();
        let Some(state) = extensions.get_mut::<SpanState>() else {
            return;
        };
        let mut fields = Vec::new();
        event.record(&mut FieldVisitor(&mut fields));
        let message = fields
            .iter()
            .find(|(key, _)| *key == "message" || *key == "error")
            .map(|(_, value)| display(value))
            .unwrap_or_else(|| event.metadata().name().to_owned());
        state.error.get_or_insert(message);
        state.events.push(SpanEvent {
            name: "exception".into(),
            time: SystemTime::now(),
            fields,
        });
    }

    fn on_close(&self, id: span::Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(state) = span.extensions_mut().remove::<SpanState>() else {
            return;
        };
        if !self.hub.records(&state.trace) {
            return;
        }
        // Wall-clock start plus a monotonic duration: immune to clock steps mid-span.
        let end = state.start + state.started.elapsed();
        self.hub.span_finished(SpanRecord {
            name: span.metadata().name(),
            trace: state.trace,
            span_id: state.span_id,
            parent_id: state.parent_id,
            is_invocation: state.is_invocation,
            start: state.start,
            end,
            fields: state.fields,
            events: state.events,
            error: state.error,
        });
    }
}

/// The trace and id of `span`, when this crate's layer records it.
pub fn span_ids(span: &tracing::Span) -> Option<(Arc<TraceContext>, SpanId)> {
    span.with_subscriber(|(id, dispatch)| {
        let registry = dispatch.downcast_ref::<tracing_subscriber::Registry>()?;
        let data = registry.span(id)?;
        let extensions = data.extensions();
        extensions
            .get::<SpanState>()
            .map(|state| (state.trace.clone(), state.span_id))
    })
    .flatten()
}

/// Text of a value, as a log line or annotation would show it.
pub(crate) fn display(value: &FieldValue) -> String {
    match value {
        FieldValue::Str(s) | FieldValue::Debug(s) => s.clone(),
        FieldValue::I64(v) => v.to_string(),
        FieldValue::U64(v) => v.to_string(),
        FieldValue::F64(v) => v.to_string(),
        FieldValue::Bool(v) => v.to_string(),
    }
}

/// Collects fields into `(name, value)` pairs; a re-recorded field replaces its value.
pub(crate) struct FieldVisitor<'a>(pub &'a mut Vec<(&'static str, FieldValue)>);

impl FieldVisitor<'_> {
    fn put(&mut self, field: &Field, value: FieldValue) {
        match self.0.iter_mut().find(|(key, _)| *key == field.name()) {
            Some(slot) => slot.1 = value,
            None => self.0.push((field.name(), value)),
        }
    }
}

impl Visit for FieldVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, FieldValue::F64(value))
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, FieldValue::I64(value))
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, FieldValue::U64(value))
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, FieldValue::Bool(value))
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, FieldValue::Str(value.to_owned()))
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, FieldValue::Str(value.to_string()))
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        // `%value` arrives here too; the message of an event is always Display-like.
        let text = format!("{value:?}");
        match field.name() {
            "message" => self.put(field, FieldValue::Str(text)),
            _ => self.put(field, FieldValue::Debug(text)),
        }
    }
}
