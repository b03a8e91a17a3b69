//! OpenTelemetry: spans as OTLP/HTTP protobuf, for Honeycomb or any collector, and
//! (feature `xray-otlp`) for X-Ray's OTLP endpoint, SigV4-signed (`crate::sigv4`).
//!
//! Why not the OpenTelemetry SDK: its `BatchSpanProcessor` flush blocks on the
//! export (a slow collector would hold every invocation) and its spans start
//! fresh trace ids instead of Lambda's. We keep the wire types of
//! `opentelemetry-proto` and do the encoding ([`encode`]) and the transport
//! ([`Exporter`]) here, with delivery rules of our own (see `delivery`).

mod encode;
mod http;

pub use encode::{
    encode_request, resource_attributes, xray_resource_attributes, RootParent, LAMBDA_PARENT_ATTRIBUTE,
};
pub(crate) use http::{Exporter, Outcome, RequestLimits};
