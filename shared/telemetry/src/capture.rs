//! The one capture point: a `tracing` layer that turns spans into [`SpanRecord`]s.
//!
//! Arrows: capture sits over the model and the per-invocation [`Recorder`]; it knows
//! nothing of encoders, transports or delivery. What it needs from the invocation
//! layer is the narrow [`Sink`] trait.
//!
//! Every encoder reads these records, so a span's fields are visited once, whatever
//! number of pillars it ends up in. Per-span state lives in the span's extensions
//! (as `tracing-subscriber`'s own fmt layer keeps its timings), and holds the
//! recorder of the invocation the span belongs to: a child inherits its parent's;
//! the invocation span gets the one the invocation layer opens it with
//! ([`open_invocation_span`]); a span with no parent (a task spawned without
//! `.in_current_span()`, work at init) asks the [`Sink`].

use std::{
    cell::RefCell,
    sync::Arc,
    time::{Instant, SystemTime},
};

use tracing::{
    field::{Field, Visit},
    span, Event, Level, Subscriber,
};
use tracing_subscriber::{layer::Context, registry::LookupSpan, Layer};

use crate::{
    config::is_quiet,
    model::{display, ids::SpanId, Exception, FieldValue, SpanEvent, SpanRecord, TraceContext},
    recorder::Recorder,
};

/// Target of the span that wraps one whole invocation (the function's top subsegment).
pub(crate) const INVOCATION_TARGET: &str = "telemetry::invocation";

/// The field that names the signed-in caller (OpenTelemetry's `enduser.id`). Recorded
/// on any span of an invocation, it becomes the invocation's caller.
pub(crate) const ENDUSER_ID: &str = "enduser.id";

/// What the capture layer needs from the rest of the crate.
pub(crate) trait Sink: Send + Sync + 'static {
    /// The recorder a span or log line with no parent span belongs to: init's before
    /// the first invocation, the one invocation in flight, or none when several are
    /// (guessing could cross invocations).
    fn orphan_owner(&self) -> Option<Arc<Recorder>>;

    /// The recorder of work no invocation can be told to own (it keeps nothing).
    fn detached(&self) -> Arc<Recorder>;

    /// Whether spans of `trace` are recorded at all (some exporter takes them).
    fn records(&self, trace: &TraceContext) -> bool;
}

thread_local! {
    /// The recorder of the invocation span being created on this thread.
    static OPENING: RefCell<Option<Arc<Recorder>>> = const { RefCell::new(None) };
}

/// Creates the invocation span with `make` (a span of target [`INVOCATION_TARGET`]),
/// owned by `recorder`: its id is the trace's root span id, its parent Lambda's.
pub(crate) fn open_invocation_span(
    recorder: &Arc<Recorder>,
    make: impl FnOnce() -> tracing::Span,
) -> tracing::Span {
    OPENING.with(|opening| *opening.borrow_mut() = Some(recorder.clone()));
    let span = make();
    OPENING.with(|opening| opening.borrow_mut().take());
    span
}

/// Per-span state kept in the span's extensions while it is open.
pub(crate) struct SpanState {
    /// The invocation (or init) the span belongs to.
    pub owner: Arc<Recorder>,
    /// The span's id.
    pub span_id: SpanId,
    parent_id: Option<SpanId>,
    is_invocation: bool,
    start: SystemTime,
    started: Instant,
    fields: Vec<(&'static str, FieldValue)>,
    events: Vec<SpanEvent>,
    error: Option<String>,
}

impl SpanState {
    /// The span's trace.
    pub fn trace(&self) -> &Arc<TraceContext> {
        &self.owner.trace
    }

    /// Passes a recorded `enduser.id` on to the invocation.
    fn note_caller(&self) {
        if self.owner.user().is_none() {
            if let Some((_, value)) = self.fields.iter().find(|(key, _)| *key == ENDUSER_ID) {
                self.owner.set_user(&display(value));
            }
        }
    }
}

/// The layer that records spans for the X-Ray and OTLP encoders.
pub(crate) struct CaptureLayer {
    sink: Arc<dyn Sink>,
    /// Whether errors' messages and stacks are recorded (`POWERTOOLS_TRACER_CAPTURE_ERROR`);
    /// without, an error keeps its type and marks its span failed.
    capture_error: bool,
}

impl CaptureLayer {
    pub fn new(sink: Arc<dyn Sink>, capture_error: bool) -> Self {
        Self { sink, capture_error }
    }
}

/// What stands for an error's message when errors' details are not captured.
const ERROR_NOT_CAPTURED: &str = "error (details not captured)";

impl<S> Layer<S> for CaptureLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        // Our own transports' spans are never traced; the subscriber lets through only
        // their WARN and ERROR ones (for the logs), so most spans skip the look-up.
        if *attrs.metadata().level() <= Level::WARN && is_quiet(attrs.metadata().target()) {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        // The nearest recorded ancestor (not one of our transports' spans).
        let parent = span.scope().skip(1).find_map(|ancestor| {
            let ext = ancestor.extensions();
            ext.get::<SpanState>()
                .map(|state| (state.owner.clone(), state.span_id))
        });
        let is_invocation = attrs.metadata().target() == INVOCATION_TARGET;
        let opening = if is_invocation {
            OPENING.with(|opening| opening.borrow_mut().take())
        } else {
            None
        };
        let (owner, span_id, parent_id) = match (opening, parent) {
            (Some(owner), _) => {
                let (root, lambda_parent) = (owner.trace.root_span_id, owner.trace.lambda_parent);
                (owner, root, lambda_parent)
            }
            (None, Some((owner, parent_id))) => (owner, SpanId::generate(), Some(parent_id)),
            (None, None) => match self.sink.orphan_owner() {
                Some(owner) => {
                    let parent_id = owner.orphan_parent();
                    (owner, SpanId::generate(), parent_id)
                }
                // Several invocations in flight and no parent to tell which: keep the span
                // out of every trace rather than put it in the wrong one.
                None => (self.sink.detached(), SpanId::generate(), None),
            },
        };
        let mut fields = Vec::with_capacity(attrs.fields().len());
        attrs.record(&mut FieldVisitor(&mut fields));
        let state = SpanState {
            owner,
            span_id,
            parent_id,
            is_invocation,
            start: SystemTime::now(),
            started: Instant::now(),
            fields,
            events: Vec::new(),
            error: None,
        };
        state.note_caller();
        span.extensions_mut().insert(state);
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            if let Some(state) = span.extensions_mut().get_mut::<SpanState>() {
                values.record(&mut FieldVisitor(&mut state.fields));
                state.note_caller();
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if *event.metadata().level() != Level::ERROR || is_quiet(event.metadata().target()) {
            return;
        }
        let Some(span) = ctx.event_span(event) else { return };
        let mut extensions = span.extensions_mut();
        let Some(state) = extensions.get_mut::<SpanState>() else {
            return;
        };
        let mut fields = Vec::new();
        event.record(&mut FieldVisitor(&mut fields));
        // The error tracker's copy, before the traces' (which may drop the details).
        let field = |name: &str| {
            fields
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, v)| display(v))
        };
        state.owner.record_exception(Exception {
            class: field("exception.type").unwrap_or_else(|| "Error".into()),
            message: field("exception.message")
                .or_else(|| field("message"))
                .unwrap_or_else(|| event.metadata().name().to_owned()),
            stacktrace: field("exception.stacktrace").filter(|s| !s.is_empty()),
        });
        if !self.capture_error {
            fields.retain(|(key, _)| *key == "exception.type");
            fields.push(("message", FieldValue::Str(ERROR_NOT_CAPTURED.into())));
        }
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
        let Some(mut state) = span.extensions_mut().remove::<SpanState>() else {
            return;
        };
        if !self.sink.records(&state.owner.trace) {
            return;
        }
        let (remote_parent, links) = if state.is_invocation {
            // The caller may have been recorded on a child span: the root span names it too.
            if let Some(user) = state
                .owner
                .user()
                .filter(|_| !state.fields.iter().any(|(k, _)| *k == ENDUSER_ID))
            {
                state.fields.push((ENDUSER_ID, FieldValue::Str(user.to_owned())));
            }
            state.owner.remote_context()
        } else {
            (None, Vec::new())
        };
        // Wall-clock start plus a monotonic duration: immune to clock steps mid-span.
        let end = state.start + state.started.elapsed();
        let owner = state.owner.clone();
        owner.push_span(SpanRecord {
            name: span.metadata().name(),
            trace: state.owner.trace.clone(),
            span_id: state.span_id,
            parent_id: state.parent_id,
            is_invocation: state.is_invocation,
            start: state.start,
            end,
            fields: state.fields,
            events: state.events,
            error: state.error,
            remote_parent,
            links,
        });
    }
}

/// Runs `f` on the state of `span`, when this crate's layer records it.
pub(crate) fn with_span_state<R>(span: &tracing::Span, f: impl FnOnce(&SpanState) -> R) -> Option<R> {
    span.with_subscriber(|(id, dispatch)| {
        let registry = dispatch.downcast_ref::<tracing_subscriber::Registry>()?;
        let data = registry.span(id)?;
        let extensions = data.extensions();
        extensions.get::<SpanState>().map(f)
    })
    .flatten()
}

/// Records `fields` on `span` as `span.record` would, one by one, but with one look-up of
/// its state; returns the recorder of its invocation. For the http face, which learns
/// several fields at once before the response (each `record` is a dispatch through every
/// layer: about 1,000 instructions apiece, callgrind). Only this crate's layer keeps recorded fields.
pub(crate) fn record_fields<const N: usize>(
    span: &tracing::Span,
    fields: [(&'static str, Option<FieldValue>); N],
) -> Option<Arc<Recorder>> {
    span.with_subscriber(|(id, dispatch)| {
        let registry = dispatch.downcast_ref::<tracing_subscriber::Registry>()?;
        let data = registry.span(id)?;
        let mut extensions = data.extensions_mut();
        let state = extensions.get_mut::<SpanState>()?;
        for (name, value) in fields {
            if let Some(value) = value {
                FieldVisitor(&mut state.fields).put(name, value);
            }
        }
        Some(state.owner.clone())
    })
    .flatten()
}

/// The trace and id of `span`, when this crate's layer records it.
pub fn span_ids(span: &tracing::Span) -> Option<(Arc<TraceContext>, SpanId)> {
    with_span_state(span, |state| (state.trace().clone(), state.span_id))
}

/// The recorder of the invocation the current span belongs to, else the sink's
/// owner of orphans.
pub(crate) fn current_owner(sink: &dyn Sink) -> Option<Arc<Recorder>> {
    with_span_state(&tracing::Span::current(), |state| state.owner.clone()).or_else(|| sink.orphan_owner())
}

/// Collects fields into `(name, value)` pairs; a re-recorded field replaces its value.
pub(crate) struct FieldVisitor<'a>(pub &'a mut Vec<(&'static str, FieldValue)>);

impl FieldVisitor<'_> {
    fn put(&mut self, name: &'static str, value: FieldValue) {
        match self.0.iter_mut().find(|(key, _)| *key == name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((name, value)),
        }
    }
}

impl Visit for FieldVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field.name(), FieldValue::F64(value))
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field.name(), FieldValue::I64(value))
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field.name(), FieldValue::U64(value))
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field.name(), FieldValue::Bool(value))
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field.name(), FieldValue::Str(value.to_owned()))
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field.name(), FieldValue::Str(value.to_string()))
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        // `%value` arrives here too; the message of an event is always Display-like.
        let text = format!("{value:?}");
        match field.name() {
            "message" => self.put(field.name(), FieldValue::Str(text)),
            _ => self.put(field.name(), FieldValue::Debug(text)),
        }
    }
}
