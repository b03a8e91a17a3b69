//! What one invocation records until its response is sent: its finished spans, its
//! metrics, and what is learnt about it on the way (the caller).
//!
//! Every span of an invocation keeps an `Arc` of its recorder in its per-span state
//! (`capture`), the way tracing-subscriber keeps per-span state in span extensions;
//! so however many invocations run at once, a span, a log line or a metric finds its
//! own invocation's recorder from its span, never from a process-wide "current".
//!
//! Work done at init (before any invocation) goes to the init recorder, which the
//! first invocation adopts: init's spans join the first invocation's trace under its
//! root span, and init's metrics join its metrics. Init work is the cold start of
//! that first request, never a trace of its own.

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc, Mutex, OnceLock, PoisonError,
};

use crate::{
    emf::MetricSet,
    model::{
        ids::{SpanId, TraceId, Traceparent},
        Exception, FieldValue, RequestLine, SpanRecord, TraceContext,
    },
};

/// A log line as its parts, not yet rendered as JSON: how an invocation holds its INFO
/// and DEBUG lines until its response is posted (`logs` renders them then).
pub(crate) struct LogLine {
    pub time: std::time::SystemTime,
    pub level: tracing::Level,
    pub target: &'static str,
    /// The span it was logged in (its invocation's root when it had none).
    pub span_id: Option<SpanId>,
    /// Its fields in order, the message among them.
    pub fields: Vec<(&'static str, FieldValue)>,
    /// The function's fields (`service`, …), rendered once for every line.
    pub static_fields: Arc<[u8]>,
}

impl LogLine {
    /// About how many bytes it renders to (for the bound on held lines).
    fn size(&self) -> usize {
        let fields: usize = self
            .fields
            .iter()
            .map(|(key, value)| {
                let value = match value {
                    FieldValue::Str(text) | FieldValue::Debug(text) => text.len() + 2,
                    _ => 24,
                };
                key.len() + 4 + value
            })
            .sum();
        LINE_IDS_BYTES + self.static_fields.len() + fields
    }
}

/// About what a line's timestamp, level and ids add to it.
const LINE_IDS_BYTES: usize = 320;

/// Whose work a recorder holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// One invocation's.
    Invocation,
    /// Work done before the first invocation, adopted by it.
    Init,
    /// Work no invocation can be told to own (a parentless task while several run at
    /// once): kept out of every trace, counted as dropped.
    Detached,
}

/// One invocation's (or init's) spans and metrics, shared by all its spans.
pub(crate) struct Recorder {
    /// The trace the invocation belongs to.
    pub trace: Arc<TraceContext>,
    /// Whose work this records.
    pub kind: Kind,
    spans: Mutex<Vec<SpanRecord>>,
    metrics: Mutex<MetricSet>,
    /// The signed-in caller's id (`enduser.id`), once some span records it.
    user_id: OnceLock<String>,
    /// The request's W3C `traceparent`, when it carried one.
    remote: OnceLock<Traceparent>,
    /// API Gateway's request id, which every log line of the request carries.
    correlation_id: OnceLock<String>,
    /// Set on the init recorder when the first invocation adopts it: spans that close
    /// later join that invocation's trace too.
    adopter: OnceLock<Arc<TraceContext>>,
    /// Most spans held; past it spans are dropped and counted, so memory stays bounded
    /// however many invocations run at once.
    max_spans: usize,
    dropped_spans: AtomicUsize,
    /// Log lines held until the invocation errs or faults (log buffering), oldest first,
    /// with their bytes.
    log_buffer: Mutex<(std::collections::VecDeque<Vec<u8>>, usize)>,
    /// Held log lines dropped to stay within the bound, and whether any were written out.
    evicted_log_lines: AtomicUsize,
    log_buffer_flushed: std::sync::atomic::AtomicBool,
    /// Set when the invocation faults (a 5xx answer, a handler error, a panic).
    faulted: std::sync::atomic::AtomicBool,
    /// Its errors (the first few), for an error tracker, whatever the spans' sampling.
    exceptions: Mutex<Vec<Exception>>,
    /// Its request, as an error report may name it.
    request: OnceLock<RequestLine>,
    /// Its INFO and DEBUG lines, held until its response is posted (see `logs`), and
    /// about how many bytes they render to.
    deferred_lines: Mutex<(Vec<LogLine>, usize)>,
    /// Set once its lines go at once: the response is out, or the deadline is near.
    lines_go_at_once: std::sync::atomic::AtomicBool,
}

/// Most bytes (rendered, about) of lines held for the response; past it they go at once.
const MAX_DEFERRED_LINE_BYTES: usize = 64 * 1024;

/// Errors kept per invocation for its error report.
const MAX_EXCEPTIONS: usize = 8;

impl Recorder {
    /// A recorder for one invocation of `trace`.
    pub fn new(trace: Arc<TraceContext>, metrics: MetricSet, max_spans: usize) -> Self {
        Self {
            trace,
            kind: Kind::Invocation,
            spans: Mutex::new(Vec::new()),
            metrics: Mutex::new(metrics),
            user_id: OnceLock::new(),
            remote: OnceLock::new(),
            correlation_id: OnceLock::new(),
            adopter: OnceLock::new(),
            max_spans,
            dropped_spans: AtomicUsize::new(0),
            log_buffer: Mutex::new(Default::default()),
            evicted_log_lines: AtomicUsize::new(0),
            log_buffer_flushed: std::sync::atomic::AtomicBool::new(false),
            faulted: std::sync::atomic::AtomicBool::new(false),
            exceptions: Mutex::new(Vec::new()),
            request: OnceLock::new(),
            deferred_lines: Mutex::new((Vec::new(), 0)),
            lines_go_at_once: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The recorder of work done before the first invocation.
    pub fn init(metrics: MetricSet, max_spans: usize) -> Self {
        let trace = Arc::new(TraceContext::new(TraceId::generate(), true, None));
        Self {
            kind: Kind::Init,
            ..Self::new(trace, metrics, max_spans)
        }
    }

    /// A recorder that keeps nothing (see [`Kind::Detached`]).
    pub fn detached(metrics: MetricSet) -> Self {
        let trace = Arc::new(TraceContext::new(TraceId::generate(), false, None));
        Self {
            kind: Kind::Detached,
            ..Self::new(trace, metrics, 0)
        }
    }

    /// Whether log lines name this recorder's request (init and detached work has none).
    pub fn is_invocation(&self) -> bool {
        self.kind == Kind::Invocation
    }

    /// Keeps a finished span until the invocation hands its spans to delivery.
    pub fn push_span(&self, record: SpanRecord) {
        let record = match self.adopter.get() {
            Some(first) => reparent(record, first),
            None => record,
        };
        let mut spans = lock(&self.spans);
        if spans.len() < self.max_spans {
            spans.push(record);
        } else {
            self.dropped_spans.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Takes every span finished so far.
    pub fn take_spans(&self) -> Vec<SpanRecord> {
        std::mem::take(&mut *lock(&self.spans))
    }

    /// Spans dropped past the bound since the last look.
    pub fn take_dropped_spans(&self) -> usize {
        self.dropped_spans.swap(0, Ordering::Relaxed)
    }

    /// Runs `f` on the invocation's metrics.
    pub fn with_metrics<R>(&self, f: impl FnOnce(&mut MetricSet) -> R) -> R {
        f(&mut lock(&self.metrics))
    }

    /// The parent of a span that starts with no parent span: the invocation span (or
    /// none at init, where the first invocation's root becomes it on adoption).
    pub fn orphan_parent(&self) -> Option<SpanId> {
        (self.kind == Kind::Invocation).then_some(self.trace.root_span_id)
    }

    /// Records the caller's id; the first one recorded stays.
    pub fn set_user(&self, id: &str) {
        if self.user_id.get().is_none() && !id.is_empty() {
            let _ = self.user_id.set(id.to_owned());
        }
    }

    /// The caller's id, if recorded.
    pub fn user(&self) -> Option<&str> {
        self.user_id.get().map(String::as_str)
    }

    /// Records API Gateway's request id (the first one stays).
    pub fn set_correlation_id(&self, id: &str) {
        let _ = self.correlation_id.set(id.to_owned());
    }

    /// API Gateway's request id, if the request came through it.
    pub fn correlation_id(&self) -> Option<&str> {
        self.correlation_id.get().map(String::as_str)
    }

    /// Records the request's `traceparent` (the first one stays).
    pub fn set_remote(&self, traceparent: Traceparent) {
        let _ = self.remote.set(traceparent);
    }

    /// How the invocation span meets the caller's trace: the caller's span as parent
    /// when it is on the same trace, else a link to it (never a new trace id).
    pub fn remote_context(&self) -> (Option<SpanId>, Vec<(TraceId, SpanId)>) {
        match self.remote.get() {
            Some(remote) if remote.trace_id == self.trace.trace_id => (Some(remote.span_id), Vec::new()),
            Some(remote) => (None, vec![(remote.trace_id, remote.span_id)]),
            None => (None, Vec::new()),
        }
    }

    /// Holds a log line until the invocation errs or faults; past `max_bytes` the oldest
    /// held lines are dropped (counted).
    pub fn buffer_line(&self, line: Vec<u8>, max_bytes: usize) {
        let mut buffer = lock(&self.log_buffer);
        let (lines, bytes) = &mut *buffer;
        *bytes += line.len();
        lines.push_back(line);
        while *bytes > max_bytes {
            let Some(oldest) = lines.pop_front() else { break };
            *bytes -= oldest.len();
            self.evicted_log_lines.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Takes the held log lines to write them out, oldest first.
    pub fn take_log_buffer(&self) -> std::collections::VecDeque<Vec<u8>> {
        self.log_buffer_flushed.store(true, Ordering::Relaxed);
        std::mem::take(&mut *lock(&self.log_buffer)).0
    }

    /// Once the invocation is over: how many held lines were dropped for room, if any
    /// held line was written out (else nobody missed them); the rest held is dropped.
    pub fn settle_log_buffer(&self) -> usize {
        lock(&self.log_buffer).0.clear();
        let evicted = self.evicted_log_lines.swap(0, Ordering::Relaxed);
        if self.log_buffer_flushed.load(Ordering::Relaxed) {
            evicted
        } else {
            0
        }
    }

    /// Holds a log line until the response is posted; gives it back when it must go now
    /// (the response is out, the deadline is near, or the held lines reached their bound).
    pub fn defer_line(&self, line: LogLine) -> Result<(), LogLine> {
        if self.lines_go_at_once.load(Ordering::Acquire) {
            return Err(line);
        }
        let mut deferred = lock(&self.deferred_lines);
        let size = line.size();
        if deferred.1 + size > MAX_DEFERRED_LINE_BYTES {
            return Err(line);
        }
        deferred.0.push(line);
        deferred.1 += size;
        Ok(())
    }

    /// The lines held so far, oldest first (to be written before any later line of the
    /// invocation); with `for_good`, every later line goes at once.
    pub fn take_deferred_lines(&self, for_good: bool) -> Vec<LogLine> {
        if for_good {
            self.lines_go_at_once.store(true, Ordering::Release);
        }
        std::mem::take(&mut *lock(&self.deferred_lines)).0
    }

    /// Keeps one of the invocation's errors (the first few) for its error report.
    pub fn record_exception(&self, exception: Exception) {
        let mut exceptions = lock(&self.exceptions);
        if exceptions.len() < MAX_EXCEPTIONS {
            exceptions.push(exception);
        }
    }

    /// The invocation's errors, in the order they happened.
    pub fn exceptions(&self) -> Vec<Exception> {
        lock(&self.exceptions).clone()
    }

    /// Records the invocation's request line (once).
    pub fn set_request(&self, request: RequestLine) {
        let _ = self.request.set(request);
    }

    /// The invocation's request line, if it was an HTTP request.
    pub fn request(&self) -> Option<&RequestLine> {
        self.request.get()
    }

    /// Marks the invocation as faulted.
    pub fn mark_fault(&self) {
        self.faulted.store(true, Ordering::Relaxed);
    }

    /// Whether the invocation faulted.
    pub fn faulted(&self) -> bool {
        self.faulted.load(Ordering::Relaxed)
    }

    /// The first invocation takes init's spans and metrics into its own story.
    pub fn adopt(&self, init: &Recorder) {
        if init.adopter.set(self.trace.clone()).is_err() {
            return;
        }
        for span in init.take_spans() {
            self.push_span(reparent(span, &self.trace));
        }
        let mut init_metrics = lock(&init.metrics);
        self.with_metrics(|metrics| metrics.absorb(&mut init_metrics));
    }
}

/// An init span moved into the first invocation's trace: parentless ones hang under
/// its root span.
fn reparent(mut record: SpanRecord, first: &Arc<TraceContext>) -> SpanRecord {
    record.trace = first.clone();
    record.parent_id = Some(record.parent_id.unwrap_or(first.root_span_id));
    record
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
