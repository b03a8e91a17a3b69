//! Encoding spans as an OTLP `ExportTraceServiceRequest` (pure functions, no I/O).

use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::{
    collector::trace::v1::ExportTraceServiceRequest,
    common::v1::{any_value::Value as Any, AnyValue, InstrumentationScope, KeyValue},
    resource::v1::Resource,
    trace::v1::{span::Event, span::SpanKind, status::StatusCode, ResourceSpans, ScopeSpans, Span, Status},
};

use crate::{
    config::Config,
    model::{FieldValue, SpanRecord},
};

/// The resource attributes every span carries (OpenTelemetry semantic conventions).
pub fn resource_attributes(config: &Config) -> Vec<KeyValue> {
    vec![
        string("service.name", &config.service_name),
        string("cloud.provider", "aws"),
        string("cloud.platform", "aws_lambda"),
        string("cloud.region", &config.region),
        string("faas.name", &config.function_name),
        string("faas.version", &config.function_version),
        int(
            "faas.max_memory",
            i64::from(config.function_memory_mb) * 1024 * 1024,
        ),
        string("telemetry.sdk.language", "rust"),
        string("telemetry.sdk.name", "cruddur-telemetry"),
    ]
}

/// Encodes spans into one export request for `resource`.
pub fn encode_request(
    spans: &[SpanRecord],
    resource: &[KeyValue],
    function_name: &str,
) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: resource.to_vec(),
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "cruddur-telemetry".into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    ..Default::default()
                }),
                spans: spans.iter().map(|s| span(s, function_name)).collect(),
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

fn span(record: &SpanRecord, function_name: &str) -> Span {
    let name = match record.str_field("otel.name") {
        Some(name) => name.to_owned(),
        None if record.is_invocation => function_name.to_owned(),
        None => record.name.to_owned(),
    };
    let kind = match record
        .str_field("otel.kind")
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("server") => SpanKind::Server,
        Some("client") => SpanKind::Client,
        Some("producer") => SpanKind::Producer,
        Some("consumer") => SpanKind::Consumer,
        _ if record.is_invocation => SpanKind::Server,
        _ => SpanKind::Internal,
    };
    let status_code = record.int_field("http.response.status_code");
    let failed = record.error.is_some() || (record.is_invocation && status_code.is_some_and(|s| s >= 500));
    let status = if failed {
        Status {
            code: StatusCode::Error as i32,
            message: record.error.clone().unwrap_or_default(),
        }
    } else {
        Status::default()
    };
    Span {
        trace_id: record.trace.trace_id.0.to_be_bytes().to_vec(),
        span_id: record.span_id.0.to_be_bytes().to_vec(),
        parent_span_id: record
            .parent_id
            .map(|p| p.0.to_be_bytes().to_vec())
            .unwrap_or_default(),
        flags: 0x100 | u32::from(record.trace.sampled),
        name,
        kind: kind as i32,
        start_time_unix_nano: unix_nanos(record.start),
        end_time_unix_nano: unix_nanos(record.end),
        attributes: record
            .fields
            .iter()
            .filter(|(key, _)| !key.starts_with("otel."))
            .map(|(key, value)| attribute(key, value))
            .collect(),
        events: record
            .events
            .iter()
            .map(|event| Event {
                time_unix_nano: unix_nanos(event.time),
                name: event.name.clone(),
                attributes: exception_attributes(&event.fields),
                dropped_attributes_count: 0,
            })
            .collect(),
        status: Some(status),
        ..Default::default()
    }
}

/// An error event's fields; its log message stands in for a missing `exception.message`.
fn exception_attributes(fields: &[(&'static str, FieldValue)]) -> Vec<KeyValue> {
    let has_message = fields.iter().any(|(key, _)| *key == "exception.message");
    fields
        .iter()
        .filter(|(key, _)| !(has_message && *key == "message"))
        .map(|(key, value)| {
            attribute(
                if *key == "message" {
                    "exception.message"
                } else {
                    key
                },
                value,
            )
        })
        .collect()
}

fn attribute(key: &str, value: &FieldValue) -> KeyValue {
    let value = match value {
        FieldValue::Str(s) | FieldValue::Debug(s) => Any::StringValue(s.clone()),
        FieldValue::I64(v) => Any::IntValue(*v),
        FieldValue::U64(v) => i64::try_from(*v)
            .map(Any::IntValue)
            .unwrap_or(Any::StringValue(v.to_string())),
        FieldValue::F64(v) => Any::DoubleValue(*v),
        FieldValue::Bool(v) => Any::BoolValue(*v),
    };
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn string(key: &str, value: &str) -> KeyValue {
    attribute(key, &FieldValue::Str(value.to_owned()))
}

fn int(key: &str, value: i64) -> KeyValue {
    attribute(key, &FieldValue::I64(value))
}

fn unix_nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        ids::{SpanId, TraceHeader},
        TraceContext,
    };
    use std::sync::Arc;

    #[test]
    fn lambda_ids_and_attributes_survive_encoding() {
        let header =
            TraceHeader::parse("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
                .unwrap();
        let trace = Arc::new(TraceContext::new(header.trace_id, true, header.parent));
        let record = SpanRecord {
            name: "invocation",
            trace: trace.clone(),
            span_id: SpanId(1),
            parent_id: header.parent,
            is_invocation: true,
            start: SystemTime::now(),
            end: SystemTime::now(),
            fields: vec![
                ("http.response.status_code", FieldValue::U64(503)),
                ("otel.kind", FieldValue::Str("server".into())),
            ],
            events: vec![],
            error: None,
        };
        let request = encode_request(&[record], &[], "home-activities");
        let span = &request.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(span.trace_id, hex("5759e988bd862e3fe1be46a994272793"));
        assert_eq!(span.parent_span_id, hex("53995c3f42cd8ad8"));
        assert_eq!(span.name, "home-activities");
        assert_eq!(span.kind, SpanKind::Server as i32);
        assert_eq!(span.status.as_ref().unwrap().code, StatusCode::Error as i32);
        assert_eq!(span.attributes.len(), 1);
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }
}
