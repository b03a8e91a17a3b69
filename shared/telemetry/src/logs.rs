//! Logs: one JSON object a line on stdout, carrying the request's trace ids.
//!
//! Arrows: logs sit beside capture (they read its per-span state for the ids) and
//! write through `stdout`; nothing below imports them.
//!
//! Every line has `timestamp` (RFC 3339, ms), `level`, `message`, `service`,
//! `cold_start`, the function's name/version/memory/ARN, `requestId`,
//! `xray_trace_id`, `trace_id`, `span_id` and the caller's `user_id`, then the
//! event's own fields. The ids come from the line's span; a line outside any span (a
//! task spawned without `.in_current_span()`) takes the ids of the one invocation in
//! flight, and none when several are (it could be any of them).

use std::{io::Write as _, sync::Arc, time::SystemTime};

use time::{format_description::FormatItem, macros::format_description, OffsetDateTime};
use tracing::{
    field::{Field, Visit},
    Event, Subscriber,
};
use tracing_subscriber::{layer::Context, registry::LookupSpan, Layer};

use serde_json::Value;
use tracing::{subscriber::Interest, Level, Metadata};
use tracing_subscriber::{filter::Targets, layer::Filter};

use crate::{
    capture::{Sink, SpanState},
    config::Config,
    recorder::Recorder,
};

const TIMESTAMP: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

/// The layer that writes JSON log lines.
pub(crate) struct JsonLogLayer {
    sink: Arc<dyn Sink>,
    /// The function's fields, pre-rendered once: `,"service":"…",…`.
    static_fields: Vec<u8>,
}

impl JsonLogLayer {
    pub fn new(config: &Config, sink: Arc<dyn Sink>) -> Self {
        let mut static_fields = Vec::new();
        for (key, value) in [
            ("service", &config.service_name),
            ("function_name", &config.function_name),
            ("function_version", &config.function_version),
        ] {
            push_key(&mut static_fields, key);
            push_str(&mut static_fields, value);
        }
        push_key(&mut static_fields, "function_memory_size");
        let _ = write!(static_fields, "{}", config.function_memory_mb);
        if config.debug_sample_rate > 0.0 {
            push_key(&mut static_fields, "sampling_rate");
            let _ = write!(static_fields, "{}", config.debug_sample_rate);
        }
        Self { sink, static_fields }
    }
}

impl<S> Layer<S> for JsonLogLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let ids = ctx
            .event_span(event)
            .and_then(|span| {
                span.extensions()
                    .get::<SpanState>()
                    .map(|state| (state.owner.clone(), state.span_id))
            })
            .or_else(|| {
                self.sink
                    .orphan_owner()
                    .map(|owner| (owner.clone(), owner.trace.root_span_id))
            })
            .filter(|(owner, _)| owner.is_invocation());

        let mut line = Vec::with_capacity(512);
        line.extend_from_slice(b"{\"timestamp\":\"");
        let now = OffsetDateTime::from(SystemTime::now());
        let _ = now.format_into(&mut line, TIMESTAMP);
        line.extend_from_slice(b"\",\"level\":\"");
        line.extend_from_slice(event.metadata().level().as_str().as_bytes());
        line.push(b'"');
        // The message first (as Lambda's own JSON logs have it), then the rest.
        let mut visitor = JsonFields {
            out: &mut line,
            message_only: true,
        };
        event.record(&mut visitor);
        line.extend_from_slice(&self.static_fields);
        if let Some((owner, span_id)) = ids {
            let trace = &owner.trace;
            push_key(&mut line, "cold_start");
            line.extend_from_slice(if trace.cold_start { b"true" } else { b"false" });
            if let Some(arn) = &trace.function_arn {
                push_key(&mut line, "function_arn");
                push_str(&mut line, arn);
            }
            if let Some(request_id) = &trace.request_id {
                push_key(&mut line, "requestId");
                push_str(&mut line, request_id);
            }
            push_key(&mut line, "xray_trace_id");
            push_str(&mut line, &trace.xray_trace_id);
            push_key(&mut line, "trace_id");
            push_str(&mut line, &trace.trace_hex);
            push_key(&mut line, "span_id");
            let _ = write!(line, "\"{span_id}\"");
            push_key(&mut line, "sampled");
            line.extend_from_slice(if trace.sampled { b"true" } else { b"false" });
            if let Some(user) = owner.user() {
                push_key(&mut line, "user_id");
                push_str(&mut line, user);
            }
        }
        push_key(&mut line, "target");
        push_str(&mut line, event.metadata().target());
        event.record(&mut JsonFields {
            out: &mut line,
            message_only: false,
        });
        line.extend_from_slice(b"}\n");
        crate::stdout::write_line(&line);
    }
}

/// Writes fields as `,"key":value`; the message alone, or everything but it.
struct JsonFields<'a> {
    out: &'a mut Vec<u8>,
    message_only: bool,
}

impl JsonFields<'_> {
    fn wanted(&self, field: &Field) -> bool {
        (field.name() == "message") == self.message_only
    }

    fn raw(&mut self, field: &Field, value: impl std::fmt::Display) {
        if self.wanted(field) {
            push_key(self.out, field.name());
            let _ = write!(self.out, "{value}");
        }
    }
}

impl Visit for JsonFields<'_> {
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.raw(field, value)
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.raw(field, value)
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.raw(field, value)
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        if value.is_finite() {
            self.raw(field, value)
        } else {
            self.record_str(field, &value.to_string())
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if self.wanted(field) {
            push_key(self.out, field.name());
            push_str(self.out, value);
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if self.wanted(field) {
            self.record_str(field, &format!("{value:?}"));
        }
    }
}

fn push_key(out: &mut Vec<u8>, key: &str) {
    out.push(b',');
    push_str(out, key);
    out.push(b':');
}

fn push_str(out: &mut Vec<u8>, value: &str) {
    let _ = serde_json::to_writer(&mut *out, value);
}

/// Which events become log lines: the configured level, plus DEBUG for the
/// invocations picked by log sampling.
pub(crate) struct LogFilter {
    targets: Targets,
    /// Sampled invocations log at DEBUG where `targets` allows less.
    sampled: Option<Targets>,
    sink: Arc<dyn Sink>,
}

impl LogFilter {
    pub fn new(targets: Targets, config: &Config, sink: Arc<dyn Sink>) -> Self {
        let sampled = (config.debug_sample_rate > 0.0)
            .then(|| targets.clone().with_default(Level::DEBUG))
            .map(|t| t.with_targets(crate::config::QUIET_TARGETS.iter().map(|q| (*q, Level::WARN))));
        Self {
            targets,
            sampled,
            sink,
        }
    }

    /// Whether the invocation the current span belongs to was picked for DEBUG lines.
    fn debug_sampled<S>(&self, ctx: &Context<'_, S>) -> bool
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let owner: Option<Arc<Recorder>> = ctx
            .lookup_current()
            .and_then(|span| span.extensions().get::<SpanState>().map(|s| s.owner.clone()))
            .or_else(|| self.sink.orphan_owner());
        owner.is_some_and(|owner| owner.trace.debug_sampled)
    }
}

impl<S> Filter<S> for LogFilter
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn enabled(&self, meta: &Metadata<'_>, ctx: &Context<'_, S>) -> bool {
        self.targets.would_enable(meta.target(), meta.level())
            || self.sampled.as_ref().is_some_and(|sampled| {
                sampled.would_enable(meta.target(), meta.level()) && self.debug_sampled(ctx)
            })
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        if self.targets.would_enable(meta.target(), meta.level()) {
            Interest::always()
        } else if self
            .sampled
            .as_ref()
            .is_some_and(|s| s.would_enable(meta.target(), meta.level()))
        {
            Interest::sometimes()
        } else {
            Interest::never()
        }
    }
}

/// The invocation event as JSON text, with sensitive headers and cookies redacted.
pub(crate) fn redacted_event(body: &[u8], redacted_headers: &[String]) -> String {
    let Ok(mut event) = serde_json::from_slice::<Value>(body) else {
        return format!("<{} bytes, not JSON>", body.len());
    };
    for key in ["headers", "multiValueHeaders"] {
        if let Some(Value::Object(headers)) = event.get_mut(key) {
            for (name, value) in headers.iter_mut() {
                if redacted_headers.iter().any(|h| h.eq_ignore_ascii_case(name)) {
                    *value = Value::String("***".into());
                }
            }
        }
    }
    if let Some(cookies) = event.get_mut("cookies") {
        *cookies = Value::String("***".into());
    }
    event.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_headers_and_cookies_are_redacted() {
        let body = br#"{"headers":{"Authorization":"Bearer s3cret","Accept":"*/*","X-Custom":"k"},
            "multiValueHeaders":{"cookie":["a=1"]},"cookies":["a=1"],"body":"hello"}"#;
        let names = vec![
            "authorization".to_owned(),
            "cookie".to_owned(),
            "x-custom".to_owned(),
        ];
        let event: Value = serde_json::from_str(&redacted_event(body, &names)).unwrap();
        assert_eq!(event["headers"]["Authorization"], "***");
        assert_eq!(event["headers"]["X-Custom"], "***");
        assert_eq!(event["headers"]["Accept"], "*/*");
        assert_eq!(event["multiValueHeaders"]["cookie"], "***");
        assert_eq!(event["cookies"], "***");
        assert_eq!(redacted_event(b"nope", &names), "<4 bytes, not JSON>");
    }
}
