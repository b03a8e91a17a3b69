//! The two ways spans reach the console, each feeding one channel of [`Arrival`]s:
//!
//! - [`xray`]: the X-Ray daemon's UDP protocol (`{"format": "json", "version": 1}`,
//!   a newline, one segment document per datagram);
//! - [`otlp`]: OTLP/HTTP (`POST /v1/traces`, protobuf, gzip or not).
//!
//! Neither judges the documents beyond their framing; [`crate::model`] reads them.

pub mod otlp;
pub mod xray;

use std::net::SocketAddr;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use serde_json::Value;

/// Something that arrived, good or bad.
#[derive(Debug, Clone)]
pub enum Arrival {
    /// A well-framed X-Ray datagram's segment document.
    XrayDocument(Value),
    /// A datagram that is not a header line and a JSON document.
    XrayMalformed {
        /// Who sent it.
        from: SocketAddr,
        /// What is wrong with it.
        reason: String,
    },
    /// A decoded OTLP export.
    OtlpExport(ExportTraceServiceRequest),
    /// An HTTP request that is not a readable OTLP/HTTP protobuf export.
    OtlpMalformed {
        /// What is wrong with it.
        reason: String,
    },
}
