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
pub use record::{display, FieldValue, SpanEvent, SpanRecord};
pub use trace::TraceContext;
