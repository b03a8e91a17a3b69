//! The leaf of the crate: what every other module speaks, importing none of them.
//!
//! - [`ids`]: trace identity (X-Ray header, OTLP ids, W3C `traceparent`).
//! - [`TraceContext`]: the trace one invocation (or one span outside any) belongs to.
//! - [`SpanRecord`]: a finished span with its fields and events, ready for any encoder.
//! - [`Exception`] and [`RequestLine`]: what an error report says of a fault.

mod fault;
pub mod ids;
mod record;
mod trace;

pub use fault::{Exception, RequestLine};
// The X-Ray rules serve the daemon's encoder and the OTLP one: a build with neither uses none.
#[cfg_attr(not(all(feature = "xray", feature = "otlp")), allow(unused_imports))]
pub use record::{
    display, is_annotation_value, FieldValue, SpanEvent, SpanRecord, MAX_ANNOTATIONS,
    MAX_ANNOTATION_VALUE_CHARS, XRAY_OWN_FIELD_PREFIXES,
};
pub use trace::TraceContext;
