//! Logs: one JSON object a line on stdout, carrying the request's trace ids.
//!
//! Arrows: logs sit beside capture (they read its per-span state for the ids) and
//! write through `stdout`; nothing below imports them.
//!
//! Every line has `timestamp` (RFC 3339, ms), `level`, `message`, `service`,
//! `cold_start`, the function's name/version/memory/ARN, `requestId`,
//! `xray_trace_id`, `trace_id`, `span_id`, API Gateway's `correlation_id` and the
//! caller's `user_id`, then the
//! event's own fields. The ids come from the line's span; a line outside any span (a
//! task spawned without `.in_current_span()`) takes the ids of the one invocation in
//! flight, and none when several are (it could be any of them).
//!
//! An invocation's INFO and DEBUG lines wait for its response, as their parts (fields,
//! time, span): they are rendered and written after it is posted, in one write with its
//! EMF document. A write to the log stream's pipe
//! wakes its reader, and before the response that cost each request 15 to 30 us of
//! latency (measured, `scripts/bench`). Nothing waits longer than that: a WARN or ERROR
//! line is written at once, after the lines held before it (the order stays), and the
//! held lines are written when the invocation nears its deadline, so a timeout that ends
//! the process still leaves them in the log (`invocation`). Lines outside an invocation,
//! and pretty-printed ones (`POWERTOOLS_DEV`), go at once.

use std::{io::Write as _, sync::Arc, time::SystemTime};

use time::OffsetDateTime;
use tracing::{Event, Subscriber};
use tracing_subscriber::{layer::Context, registry::LookupSpan, Layer};

use serde_json::Value;
use tracing::Level;
use tracing_subscriber::filter::Targets;

use crate::{
    capture::{FieldVisitor, Sink, SpanState},
    config::Config,
    json::{push_bool, push_f64, push_int, push_key, push_str, push_value},
    recorder::{LogLine, Recorder},
};

/// `2026-11-29T16:30:21.917Z`: UTC, milliseconds. Written by hand (the calendar is the
/// `time` crate's): a format description is interpreted item by item, on every line.
fn push_timestamp(out: &mut Vec<u8>, now: SystemTime) {
    let now = OffsetDateTime::from(now);
    let (year, month, day) = now.to_calendar_date();
    let push = |out: &mut Vec<u8>, value: u32, digits: u32| {
        for place in (0..digits).rev() {
            out.push(b'0' + (value / 10u32.pow(place) % 10) as u8);
        }
    };
    if !(0..=9999).contains(&year) {
        // Outside four digits (a clock gone wild): the `time` crate's own rendering.
        let _ = write!(out, "{now}");
        return;
    }
    push(out, year as u32, 4);
    out.push(b'-');
    push(out, u32::from(u8::from(month)), 2);
    out.push(b'-');
    push(out, u32::from(day), 2);
    out.push(b'T');
    push(out, u32::from(now.hour()), 2);
    out.push(b':');
    push(out, u32::from(now.minute()), 2);
    out.push(b':');
    push(out, u32::from(now.second()), 2);
    out.push(b'.');
    push(out, u32::from(now.millisecond()), 3);
    out.push(b'Z');
}

/// The layer that writes JSON log lines.
pub(crate) struct JsonLogLayer {
    sink: Arc<dyn Sink>,
    /// The function's fields, pre-rendered once: `,"service":"…",…`.
    static_fields: Arc<[u8]>,
    /// The configured level's filter: lines that would be written without buffering.
    targets: Targets,
    /// Lines log buffering holds (they reach the layer, which holds them).
    buffered: Option<Targets>,
    /// Invocations picked by log sampling log at DEBUG where `targets` allows less.
    sampled: Option<Targets>,
    buffer: Option<Buffering>,
    /// Pretty-printed lines for a person at a terminal (`POWERTOOLS_DEV`).
    dev: bool,
}

/// Log buffering (Powertools' Logger, 2025): lines at or below `level` are held per
/// invocation and written only if it logs an error or faults.
#[derive(Clone, Copy)]
struct Buffering {
    level: Level,
    max_bytes: usize,
    flush_on_error: bool,
}

impl JsonLogLayer {
    pub fn new(config: &Config, targets: Targets, sink: Arc<dyn Sink>) -> Self {
        // Written after the level, each member with its comma.
        let member = |out: &mut Vec<u8>, key: &str| {
            out.push(b',');
            push_str(out, key);
            out.push(b':');
        };
        let mut static_fields = Vec::new();
        for (key, value) in [
            ("service", &config.service_name),
            ("function_name", &config.function_name),
            ("function_version", &config.function_version),
        ] {
            member(&mut static_fields, key);
            push_str(&mut static_fields, value);
        }
        member(&mut static_fields, "function_memory_size");
        push_int(&mut static_fields, config.function_memory_mb);
        if config.debug_sample_rate > 0.0 {
            member(&mut static_fields, "sampling_rate");
            push_f64(&mut static_fields, config.debug_sample_rate);
        }
        // Our own transports log from WARN only, whatever the level (`QUIET_TARGETS`).
        let quiet = |targets: Targets| crate::config::with_quiet_targets(targets, Level::WARN);
        let buffered = config
            .log_buffer_level
            .map(|level| quiet(targets.clone().with_default(level)));
        let sampled =
            (config.debug_sample_rate > 0.0).then(|| quiet(targets.clone().with_default(Level::DEBUG)));
        Self {
            sink,
            static_fields: static_fields.into(),
            targets: quiet(targets),
            buffered,
            sampled,
            buffer: config.log_buffer_level.map(|level| Buffering {
                level,
                max_bytes: config.log_buffer_max_bytes,
                flush_on_error: config.log_buffer_flush_on_error,
            }),
            dev: config.dev,
        }
    }
}

/// Writes a log line to the log stream, pretty-printed in dev mode.
pub(crate) fn write_line(line: &[u8], dev: bool) {
    if dev {
        if let Ok(value) = serde_json::from_slice::<Value>(line) {
            let mut pretty = serde_json::to_vec_pretty(&value).unwrap_or_default();
            pretty.push(b'\n');
            return crate::stdout::write_line(&pretty);
        }
    }
    crate::stdout::write_line(line);
}

/// Writes an invocation's held log lines, in order.
pub(crate) fn flush_held(owner: &Recorder, dev: bool) {
    write_deferred(owner, false);
    for line in owner.take_log_buffer() {
        write_line(&line, dev);
    }
}

/// Writes the lines `owner` held for its response, in one write; with `for_good`, its
/// later lines go at once (the response is out, or its deadline is near).
pub(crate) fn write_deferred(owner: &Recorder, for_good: bool) {
    let held = render_deferred(owner, for_good);
    if !held.is_empty() {
        crate::stdout::write_line(&held);
    }
}

/// The lines `owner` held for its response, rendered, oldest first; with `for_good`, its
/// later lines go at once.
pub(crate) fn render_deferred(owner: &Recorder, for_good: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for line in owner.take_deferred_lines(for_good) {
        render(&line, Some(owner), &mut out);
    }
    out
}

impl<S> Layer<S> for JsonLogLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        let level = *meta.level();
        // This layer's own filter (the subscriber's filter lets through what any layer
        // takes): the configured level, what log buffering holds, and DEBUG for the
        // invocations log sampling picked.
        let wanted = |targets: &Option<Targets>| {
            targets
                .as_ref()
                .is_some_and(|targets| targets.would_enable(meta.target(), &level))
        };
        let configured = self.targets.would_enable(meta.target(), &level) || wanted(&self.buffered);
        if !configured && !wanted(&self.sampled) {
            return;
        }
        // The line's span is the innermost one this crate records (one of our own
        // transports' spans has no state).
        let ids = ctx
            .event_scope(event)
            .and_then(|mut scope| {
                scope.find_map(|span| {
                    span.extensions()
                        .get::<SpanState>()
                        .map(|state| (state.owner.clone(), state.span_id))
                })
            })
            .or_else(|| {
                self.sink
                    .orphan_owner()
                    .map(|owner| (owner.clone(), owner.trace.root_span_id))
            });
        if !configured && !ids.as_ref().is_some_and(|(owner, _)| owner.trace.debug_sampled) {
            return;
        }
        let ids = ids.filter(|(owner, _)| owner.is_invocation());
        let mut fields = Vec::with_capacity(meta.fields().len());
        event.record(&mut FieldVisitor(&mut fields));
        let mut line = LogLine {
            time: SystemTime::now(),
            level,
            target: meta.target(),
            span_id: ids.as_ref().map(|(_, span_id)| *span_id),
            fields,
            static_fields: self.static_fields.clone(),
        };
        let owner = ids.map(|(owner, _)| owner);
        // Log buffering: at or below the buffer's level (more verbose), an invocation's
        // line is held in its buffer, unless it was picked for DEBUG lines anyway (log
        // sampling).
        let buffered = |owner: &Recorder| {
            self.buffer
                .is_some_and(|buffer| level >= buffer.level && !owner.trace.debug_sampled)
        };
        if let Some(owner) = &owner {
            // INFO and below wait for the response (see the module doc), unrendered;
            // anything more severe goes now, after what was held before it. (A line
            // for the log buffer is rendered now: the buffer holds bytes.)
            if level >= Level::INFO && !self.dev && !buffered(owner) {
                match owner.defer_line(line) {
                    Ok(()) => return,
                    Err(given_back) => line = given_back,
                }
            }
        }
        let mut rendered = Vec::with_capacity(512);
        render(&line, owner.as_deref(), &mut rendered);
        if let Some(buffer) = self.buffer {
            match &owner {
                Some(owner) if buffered(owner) => return owner.buffer_line(rendered, buffer.max_bytes),
                Some(owner) if level == Level::ERROR && buffer.flush_on_error => flush_held(owner, self.dev),
                // Outside an invocation there is nothing to hold it for: the level decides.
                None if level >= buffer.level && !self.targets.would_enable(meta.target(), &level) => return,
                _ => {}
            }
        }
        if let Some(owner) = &owner {
            write_deferred(owner, false);
        }
        write_line(&rendered, self.dev);
    }
}

/// Renders `line` as one JSON object and a newline: the message first (as Lambda's own
/// JSON logs have it), the function's fields, the invocation's ids (`owner`'s, as they are
/// when it is rendered), then the rest of its fields.
fn render(line: &LogLine, owner: Option<&Recorder>, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"timestamp\":\"");
    push_timestamp(out, line.time);
    out.extend_from_slice(b"\",\"level\":\"");
    out.extend_from_slice(line.level.as_str().as_bytes());
    out.push(b'"');
    for (key, value) in line.fields.iter().filter(|(key, _)| *key == "message") {
        push_key(out, key);
        push_value(out, value);
    }
    out.extend_from_slice(&line.static_fields);
    if let (Some(owner), Some(span_id)) = (owner, line.span_id) {
        let trace = &owner.trace;
        out.extend_from_slice(b",\"cold_start\":");
        push_bool(out, trace.cold_start);
        if let Some(arn) = &trace.function_arn {
            out.extend_from_slice(b",\"function_arn\":");
            push_str(out, arn);
        }
        if let Some(request_id) = &trace.request_id {
            out.extend_from_slice(b",\"requestId\":");
            push_str(out, request_id);
        }
        out.extend_from_slice(b",\"xray_trace_id\":");
        push_str(out, &trace.xray_trace_id);
        out.extend_from_slice(b",\"trace_id\":");
        push_str(out, &trace.trace_hex);
        out.extend_from_slice(b",\"span_id\":");
        push_str(out, &span_id.hex());
        out.extend_from_slice(b",\"sampled\":");
        push_bool(out, trace.sampled);
        if let Some(id) = owner.correlation_id() {
            out.extend_from_slice(b",\"correlation_id\":");
            push_str(out, id);
        }
        if let Some(user) = owner.user() {
            out.extend_from_slice(b",\"user_id\":");
            push_str(out, user);
        }
    }
    out.extend_from_slice(b",\"target\":");
    push_str(out, line.target);
    for (key, value) in line.fields.iter().filter(|(key, _)| *key != "message") {
        push_key(out, key);
        push_value(out, value);
    }
    out.extend_from_slice(b"}\n");
}

/// What replaces a redacted value.
const REDACTED: &str = "***";

/// The invocation event as JSON text, with everything secret or personal taken out:
/// the configured headers and cookies; query values; the authorizer's claims beyond the
/// caller's id (`sub`); every `requestContext.identity` key; the configured body fields
/// at any depth (a body that is not JSON, or base64, is shown by its size only).
pub(crate) fn redacted_event(body: &[u8], config: &Config) -> String {
    let Ok(mut event) = serde_json::from_slice::<Value>(body) else {
        return format!("<{} bytes, not JSON>", body.len());
    };
    for key in ["headers", "multiValueHeaders"] {
        if let Some(Value::Object(headers)) = event.get_mut(key) {
            for (name, value) in headers.iter_mut() {
                if config
                    .redacted_headers
                    .iter()
                    .any(|h| h.eq_ignore_ascii_case(name))
                {
                    *value = Value::String(REDACTED.into());
                }
            }
        }
    }
    for key in ["queryStringParameters", "multiValueQueryStringParameters"] {
        if let Some(Value::Object(query)) = event.get_mut(key) {
            query
                .values_mut()
                .for_each(|value| *value = Value::String(REDACTED.into()));
        }
    }
    if let Some(Value::String(query)) = event.get_mut("rawQueryString") {
        *query = redacted_query(query);
    }
    if let Some(cookies) = event.get_mut("cookies") {
        *cookies = Value::String(REDACTED.into());
    }
    if let Some(Value::Object(context)) = event.get_mut("requestContext") {
        if let Some(identity) = context.get_mut("identity") {
            *identity = Value::String(REDACTED.into());
        }
        // mTLS client certificates (HTTP API).
        context.remove("authentication");
        if let Some(authorizer) = context.get_mut("authorizer") {
            *authorizer = caller_only(authorizer);
        }
    }
    let base64 = event.get("isBase64Encoded").and_then(Value::as_bool) == Some(true);
    if let Some(Value::String(text)) = event.get_mut("body") {
        *text = match serde_json::from_str::<Value>(text) {
            Ok(mut json) if !base64 => {
                redact_fields(&mut json, &config.redacted_fields);
                json.to_string()
            }
            _ => format!(
                "<{} bytes{}>",
                text.len(),
                if base64 { ", base64" } else { ", not JSON" }
            ),
        };
    }
    event.to_string()
}

/// An authorizer reduced to the caller's id: REST's `claims.sub`, HTTP API's `jwt.claims.sub`.
fn caller_only(authorizer: &Value) -> Value {
    let sub = |claims: &Value| claims.get("sub").cloned();
    if let Some(sub) = authorizer.get("claims").and_then(sub) {
        return serde_json::json!({ "claims": { "sub": sub } });
    }
    if let Some(sub) = authorizer.pointer("/jwt/claims").and_then(sub) {
        return serde_json::json!({ "jwt": { "claims": { "sub": sub } } });
    }
    Value::String(REDACTED.into())
}

/// `a=1&b=2` as `a=***&b=***`.
fn redacted_query(query: &str) -> String {
    let redacted: Vec<String> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| format!("{}={REDACTED}", pair.split_once('=').map_or(pair, |(key, _)| key)))
        .collect();
    redacted.join("&")
}

fn redact_fields(value: &mut Value, fields: &[String]) {
    match value {
        Value::Object(object) => {
            for (key, value) in object.iter_mut() {
                if fields.iter().any(|f| f.eq_ignore_ascii_case(key)) {
                    *value = Value::String(REDACTED.into());
                } else {
                    redact_fields(value, fields);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| redact_fields(item, fields)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config::from_lookup(|name| {
            (name == crate::config::CRUDDUR_LOG_REDACT_HEADERS).then(|| "x-custom".into())
        })
    }

    #[test]
    fn timestamps_are_utc_milliseconds_as_the_time_crate_writes_them() {
        let format = time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        );
        for millis in [0, 1_796_056_221_917, 951_782_400_001, 4_102_444_799_999] {
            let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(millis);
            let mut ours = Vec::new();
            push_timestamp(&mut ours, at);
            let theirs = OffsetDateTime::from(at).format(format).unwrap();
            assert_eq!(String::from_utf8(ours).unwrap(), theirs);
        }
    }

    #[test]
    fn sensitive_headers_and_cookies_are_redacted() {
        let body = br#"{"headers":{"Authorization":"Bearer s3cret","Accept":"*/*","X-Custom":"k"},
            "multiValueHeaders":{"cookie":["a=1"]},"cookies":["a=1"],"body":"hello"}"#;
        let event: Value = serde_json::from_str(&redacted_event(body, &config())).unwrap();
        assert_eq!(event["headers"]["Authorization"], "***");
        assert_eq!(event["headers"]["X-Custom"], "***");
        assert_eq!(event["headers"]["Accept"], "*/*");
        assert_eq!(event["multiValueHeaders"]["cookie"], "***");
        assert_eq!(event["cookies"], "***");
        assert_eq!(event["body"], "<5 bytes, not JSON>");
        assert_eq!(redacted_event(b"nope", &config()), "<4 bytes, not JSON>");
    }

    #[test]
    fn query_values_claims_identity_and_body_secrets_are_redacted() {
        let body = serde_json::json!({
            "queryStringParameters": {"token": "t0k", "term": "cloud"},
            "multiValueQueryStringParameters": {"term": ["cloud"]},
            "rawQueryString": "term=cloud&sig=abc",
            "requestContext": {
                "requestId": "r-1",
                "identity": {"sourceIp": "203.0.113.7", "accessKey": "AKIA", "cognitoIdentityId": "x"},
                "authorizer": {"claims": {"sub": "u-1", "email": "a@b.c", "preferred_username": "andrew"}},
            },
            "body": r#"{"message":"hi","password":"hunter2","nested":[{"Token":"abc"}],"secret":{"x":1}}"#,
        });
        let event: Value =
            serde_json::from_str(&redacted_event(body.to_string().as_bytes(), &config())).unwrap();
        assert_eq!(
            event["queryStringParameters"],
            serde_json::json!({"token": "***", "term": "***"})
        );
        assert_eq!(event["multiValueQueryStringParameters"]["term"], "***");
        assert_eq!(event["rawQueryString"], "term=***&sig=***");
        assert_eq!(event["requestContext"]["identity"], "***");
        assert_eq!(event["requestContext"]["requestId"], "r-1");
        assert_eq!(
            event["requestContext"]["authorizer"],
            serde_json::json!({"claims": {"sub": "u-1"}})
        );
        let logged: Value = serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
        assert_eq!(
            logged,
            serde_json::json!({"message": "hi", "password": "***", "nested": [{"Token": "***"}], "secret": "***"})
        );
        let jwt = serde_json::json!({"requestContext": {"authorizer": {"jwt": {"claims": {"sub": "u-2", "email": "e"}, "scopes": null}}}});
        let event: Value =
            serde_json::from_str(&redacted_event(jwt.to_string().as_bytes(), &config())).unwrap();
        assert_eq!(
            event["requestContext"]["authorizer"],
            serde_json::json!({"jwt": {"claims": {"sub": "u-2"}}})
        );
    }
}
