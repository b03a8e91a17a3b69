//! The trace an invocation belongs to, fixed when it starts.

use super::ids::{SpanId, TraceId};

/// The trace an invocation (or a span outside any invocation) belongs to.
///
/// Built once when the invocation starts and shared (`Arc`) by all its spans, log
/// lines and metrics; the text forms of the ids are computed here once.
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
            trace_hex: trace_id.hex().to_owned(),
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
