//! AWS X-Ray: segment documents sent over UDP to the X-Ray daemon.
//!
//! Inside Lambda, Lambda itself writes the function's segment (the "facade"); we
//! write the invocation span as a subsegment under it (`parent_id` = the trace
//! header's `Parent`), with the spans below it nested in. Outside Lambda the
//! invocation span is a full segment.
//!
//! Why by hand: `opentelemetry-aws` gives the X-Ray propagator and id generator,
//! but no exporter that writes subsegments under Lambda's facade segment, and
//! its id generator needs the OpenTelemetry SDK this crate does not use.

mod segment;
mod udp;

pub use segment::{encode, MAX_DATAGRAM_BYTES};
pub(crate) use udp::Sender;
