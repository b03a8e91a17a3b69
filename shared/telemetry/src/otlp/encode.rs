//! Encoding spans as an OTLP `ExportTraceServiceRequest` (pure functions, no I/O).

use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::{
    collector::trace::v1::ExportTraceServiceRequest,
    common::v1::{any_value::Value as Any, AnyValue, InstrumentationScope, KeyValue},
    resource::v1::Resource,
    trace::v1::{
        span::{Event, Link, SpanKind},
        status::StatusCode,
        ResourceSpans, ScopeSpans, Span, Status,
    },
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

/// Whose child the invocation span is in an export.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RootParent {
    /// For backends that never receive Lambda's facade segment (Honeycomb): one root
    /// per trace. The invocation span's parent is the caller's span when the request
    /// carried a `traceparent` on the same trace, else none; Lambda's Parent is kept as
    /// the [`LAMBDA_PARENT_ATTRIBUTE`] attribute.
    Caller,
    /// For X-Ray's OTLP endpoint, which has Lambda's facade segment: Lambda's Parent.
    LambdaFacade,
}

/// Attribute of the invocation span naming Lambda's facade segment (the trace header's
/// Parent) where it is not the span's parent.
pub const LAMBDA_PARENT_ATTRIBUTE: &str = "aws.lambda.parent_segment_id";

/// Encodes spans into one export request for `resource`.
pub fn encode_request(
    spans: &[SpanRecord],
    resource: &[KeyValue],
    function_name: &str,
    root_parent: RootParent,
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
                spans: spans
                    .iter()
                    .map(|s| span(s, function_name, root_parent))
                    .collect(),
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

fn span(record: &SpanRecord, function_name: &str, root_parent: RootParent) -> Span {
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
    let mut attributes: Vec<KeyValue> = record
        .fields
        .iter()
        // `otel.*` steer the encoding; `xray.*` are for X-Ray alone (the captured response).
        .filter(|(key, _)| !key.starts_with("otel.") && !key.starts_with("xray."))
        .map(|(key, value)| attribute(key, value))
        .collect();
    let parent = match (record.is_invocation, root_parent) {
        (true, RootParent::Caller) => {
            if let Some(lambda_parent) = record.parent_id {
                attributes.push(string(LAMBDA_PARENT_ATTRIBUTE, &lambda_parent.to_string()));
            }
            record.remote_parent
        }
        _ => record.parent_id,
    };
    Span {
        trace_id: record.trace.trace_id.0.to_be_bytes().to_vec(),
        span_id: record.span_id.0.to_be_bytes().to_vec(),
        parent_span_id: parent.map(|p| p.0.to_be_bytes().to_vec()).unwrap_or_default(),
        // Bits 8 and 9: whether the parent is remote is known (it is, for the caller's span).
        flags: 0x100
            | (u32::from(parent.is_some() && record.is_invocation) << 9)
            | u32::from(record.trace.sampled),
        name,
        kind: kind as i32,
        start_time_unix_nano: unix_nanos(record.start),
        end_time_unix_nano: unix_nanos(record.end),
        attributes,
        links: record
            .links
            .iter()
            .map(|(trace_id, span_id)| Link {
                trace_id: trace_id.0.to_be_bytes().to_vec(),
                span_id: span_id.0.to_be_bytes().to_vec(),
                flags: 0x100,
                ..Default::default()
            })
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
            remote_parent: None,
            links: Vec::new(),
        };
        // X-Ray's OTLP endpoint: under Lambda's facade segment.
        let request = encode_request(
            std::slice::from_ref(&record),
            &[],
            "home-activities",
            RootParent::LambdaFacade,
        );
        let span = &request.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(span.trace_id, hex("5759e988bd862e3fe1be46a994272793"));
        assert_eq!(span.parent_span_id, hex("53995c3f42cd8ad8"));
        assert_eq!(span.name, "home-activities");
        assert_eq!(span.kind, SpanKind::Server as i32);
        assert_eq!(span.status.as_ref().unwrap().code, StatusCode::Error as i32);
        assert_eq!(span.attributes.len(), 1);

        // Honeycomb: a root, naming Lambda's Parent in an attribute.
        let request = encode_request(
            std::slice::from_ref(&record),
            &[],
            "home-activities",
            RootParent::Caller,
        );
        let span = &request.resource_spans[0].scope_spans[0].spans[0];
        assert!(span.parent_span_id.is_empty());
        let lambda_parent = span
            .attributes
            .iter()
            .find(|a| a.key == LAMBDA_PARENT_ATTRIBUTE)
            .unwrap();
        assert_eq!(
            lambda_parent.value,
            Some(AnyValue {
                value: Some(Any::StringValue("53995c3f42cd8ad8".into()))
            })
        );

        // A browser's span on the same trace is the parent; one of another trace a link.
        let browser = SpanId(0xb0b);
        let request = encode_request(
            &[SpanRecord {
                remote_parent: Some(browser),
                ..record.clone()
            }],
            &[],
            "f",
            RootParent::Caller,
        );
        assert_eq!(
            request.resource_spans[0].scope_spans[0].spans[0].parent_span_id,
            browser.0.to_be_bytes()
        );
        let other = crate::model::ids::TraceId(7);
        let request = encode_request(
            &[SpanRecord {
                links: vec![(other, browser)],
                ..record
            }],
            &[],
            "f",
            RootParent::Caller,
        );
        let span = &request.resource_spans[0].scope_spans[0].spans[0];
        assert!(span.parent_span_id.is_empty());
        assert_eq!(span.trace_id, hex("5759e988bd862e3fe1be46a994272793"));
        assert_eq!(span.links[0].trace_id, other.0.to_be_bytes());
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }
}
