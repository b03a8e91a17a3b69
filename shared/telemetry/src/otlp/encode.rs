//! Encoding spans as an OTLP `ExportTraceServiceRequest` (pure functions, no I/O).

use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::{
    collector::trace::v1::ExportTraceServiceRequest,
    common::v1::{any_value::Value as Any, AnyValue, ArrayValue, InstrumentationScope, KeyValue},
    resource::v1::Resource,
    trace::v1::{
        span::{Event, Link, SpanKind},
        status::StatusCode,
        ResourceSpans, ScopeSpans, Span, Status,
    },
};

use crate::{
    config::Config,
    model::{is_annotation_value, FieldValue, SpanRecord, MAX_ANNOTATIONS, XRAY_OWN_FIELD_PREFIXES},
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

/// The resource attributes of spans for X-Ray's OTLP endpoint: [`resource_attributes`]
/// and the function's log group and stream (OpenTelemetry's `aws.log.*` and
/// `faas.instance`, which CloudWatch uses to show a trace's log lines beside it).
pub fn xray_resource_attributes(config: &Config) -> Vec<KeyValue> {
    let mut attributes = resource_attributes(config);
    if let Some(group) = &config.log_group_name {
        attributes.push(strings("aws.log.group.names", [group.as_str()]));
    }
    if let Some(stream) = &config.log_stream_name {
        attributes.push(strings("aws.log.stream.names", [stream.as_str()]));
        // OpenTelemetry: "AWS Lambda: use the (full) log stream name".
        attributes.push(string("faas.instance", stream));
    }
    attributes
}

/// Whose child the invocation span is in an export, and so for which backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RootParent {
    /// For backends that never receive Lambda's facade segment (Honeycomb): one root
    /// per trace. The invocation span's parent is the caller's span when the request
    /// carried a `traceparent` on the same trace, else none; Lambda's Parent is kept as
    /// the [`LAMBDA_PARENT_ATTRIBUTE`] attribute.
    Caller,
    /// For X-Ray's OTLP endpoint, which has Lambda's facade segment: the invocation
    /// span's parent is Lambda's Parent, and the spans carry X-Ray's attributes.
    ///
    /// What AWS documents, and why this follows it:
    /// - With Transaction Search on, "X-Ray traces automatically convert to the semantic
    ///   convention format before they're stored in a log group called `aws/spans`"
    ///   (CloudWatch, "Transaction Search"), beside the spans sent to the OTLP endpoint.
    ///   Lambda's own segment for the invocation (the facade, with active tracing) is one
    ///   of those X-Ray traces, and its id is the trace header's Parent: so the
    ///   function's root span names it as parent, and the trace in Transaction Search
    ///   and X-Ray's trace map runs API Gateway -> Lambda -> the function's spans, with no
    ///   missing parent. This is also what Lambda documents for spans made from its
    ///   trace header ("Span.ParentId: parse the X-Ray header ... then use the Parent
    ///   value", Lambda, "Converting Telemetry API events to OpenTelemetry spans") and
    ///   what OpenTelemetry's Lambda conventions ask of instrumentation under active
    ///   tracing (the X-Ray Lambda propagator takes the context from Lambda's header).
    /// - "By default, OpenTelemetry span attributes are converted to metadata in X-Ray
    ///   raw data. To convert specific attributes to annotations instead, add their keys
    ///   to the `aws.xray.annotations` attributes list" (X-Ray, "Migrating to
    ///   OpenTelemetry"): each span lists the keys the daemon's documents make
    ///   annotations, so the same filter expressions work with either transport; the
    ///   invocation span carries the daemon's `ColdStart` too.
    /// - OpenTelemetry's AWS Lambda conventions: `faas.invocation_id` (already a field),
    ///   `cloud.account.id` (the ARN's fifth part), `aws.lambda.invoked_arn` (the ARN as
    ///   invoked, alias and all) and `cloud.resource_id` (the function's ARN without the
    ///   alias or version).
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
    if root_parent == RootParent::LambdaFacade {
        add_xray_attributes(record, &mut attributes);
    }
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

/// X-Ray's attributes of a span (see [`RootParent::LambdaFacade`]).
fn add_xray_attributes(record: &SpanRecord, attributes: &mut Vec<KeyValue>) {
    let mut annotations: Vec<&str> = Vec::new();
    if record.is_invocation {
        attributes.push(attribute("ColdStart", &FieldValue::Bool(record.trace.cold_start)));
        annotations.push("ColdStart");
        let invoked_arn = record.str_field("cloud.resource_id").map(str::to_owned);
        if let Some(arn) = invoked_arn {
            let parts: Vec<&str> = arn.split(':').collect();
            if let Some(account) = parts.get(4).filter(|a| !a.is_empty()) {
                attributes.push(string("cloud.account.id", account));
            }
            if parts.len() > 7 {
                let function_arn = parts[..7].join(":");
                for kv in attributes.iter_mut().filter(|kv| kv.key == "cloud.resource_id") {
                    *kv = string("cloud.resource_id", &function_arn);
                }
            }
            attributes.push(string("aws.lambda.invoked_arn", &arn));
        }
    }
    // The daemon's rule (xray::segment): not X-Ray's own blocks, not the cold start
    // (`ColdStart` above), not an AWS call's region (its `aws` block).
    let is_aws_call = record.str_field("rpc.system") == Some("aws-api");
    annotations.extend(
        record
            .fields
            .iter()
            .filter(|(key, value)| {
                !XRAY_OWN_FIELD_PREFIXES
                    .iter()
                    .any(|prefix| key.starts_with(prefix))
                    && *key != "faas.coldstart"
                    && !(is_aws_call && *key == "cloud.region")
                    && is_annotation_value(value)
            })
            .map(|(key, _)| *key),
    );
    annotations.truncate(MAX_ANNOTATIONS);
    if !annotations.is_empty() {
        attributes.push(strings("aws.xray.annotations", annotations));
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

fn strings<'a>(key: &str, values: impl IntoIterator<Item = &'a str>) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(Any::ArrayValue(ArrayValue {
                values: values
                    .into_iter()
                    .map(|v| AnyValue {
                        value: Some(Any::StringValue(v.to_owned())),
                    })
                    .collect(),
            })),
        }),
        ..Default::default()
    }
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
        let keys: Vec<&str> = span.attributes.iter().map(|a| a.key.as_str()).collect();
        assert_eq!(
            keys,
            ["http.response.status_code", "ColdStart", "aws.xray.annotations"]
        );
        assert!(span.attributes.iter().all(|a| a.key != LAMBDA_PARENT_ATTRIBUTE));

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

    #[test]
    fn xray_spans_name_their_annotations_account_and_function() {
        let trace = Arc::new(TraceContext::new(
            crate::model::ids::TraceId(7),
            true,
            Some(SpanId(0xfacade)),
        ));
        let arn = "arn:aws:lambda:us-east-1:123456789012:function:home-activities:live";
        let record = SpanRecord {
            name: "invocation",
            trace,
            span_id: SpanId(1),
            parent_id: Some(SpanId(0xfacade)),
            is_invocation: true,
            start: SystemTime::now(),
            end: SystemTime::now(),
            fields: vec![
                ("faas.invocation_id", FieldValue::Str("r-1".into())),
                ("faas.coldstart", FieldValue::Bool(false)),
                ("cloud.resource_id", FieldValue::Str(arn.into())),
                ("http.route", FieldValue::Str("/api/activities/home".into())),
                ("app.result_length", FieldValue::U64(3)),
                ("app.blob", FieldValue::Debug("[1, 2]".into())),
            ],
            events: vec![],
            error: None,
            remote_parent: None,
            links: Vec::new(),
        };
        let request = encode_request(&[record], &[], "f", RootParent::LambdaFacade);
        let span = &request.resource_spans[0].scope_spans[0].spans[0];
        let value = |key: &str| {
            span.attributes
                .iter()
                .find(|a| a.key == key)
                .and_then(|a| a.value.clone())
                .and_then(|v| v.value)
        };
        assert_eq!(
            value("cloud.account.id"),
            Some(Any::StringValue("123456789012".into()))
        );
        assert_eq!(
            value("aws.lambda.invoked_arn"),
            Some(Any::StringValue(arn.into()))
        );
        assert_eq!(
            value("cloud.resource_id"),
            Some(Any::StringValue(
                "arn:aws:lambda:us-east-1:123456789012:function:home-activities".into()
            ))
        );
        let Some(Any::ArrayValue(listed)) = value("aws.xray.annotations") else {
            panic!("no aws.xray.annotations: {span:#?}");
        };
        let listed: Vec<_> = listed
            .values
            .iter()
            .filter_map(|v| match &v.value {
                Some(Any::StringValue(s)) => Some(s.as_str()),
                _ => None,
            })
            .collect();
        // What the daemon's documents make annotations: ColdStart and the simple fields
        // outside X-Ray's own blocks; `?debug` values are metadata.
        assert_eq!(
            listed,
            [
                "ColdStart",
                "faas.invocation_id",
                "cloud.resource_id",
                "app.result_length"
            ]
        );
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }
}
