//! A local trace console for Cruddur's functions, and X-Ray trace queries.
//!
//! `trace-console listen` stands where the X-Ray daemon and an OTLP collector would:
//! point a function's `AWS_XRAY_DAEMON_ADDRESS` and `OTEL_EXPORTER_OTLP_ENDPOINT`
//! at it, and every trace is drawn as a waterfall once quiet, with both sources'
//! spans joined by trace and span id and a line saying whether they agree.
//! `trace-console query` draws the same waterfalls from AWS X-Ray, each with the
//! CloudWatch Logs Insights query that finds its log lines.
//!
//! # Layout
//!
//! - [`cli`]: the command line, and the one place that reads the environment for
//!   itself (`NO_COLOR`; the AWS SDK reads its own).
//! - [`listen`]: the listener: receivers in, waterfalls out, counts at the end.
//! - [`receive`]: the transports: X-Ray daemon datagrams (UDP) and OTLP/HTTP.
//! - [`model`]: a trace as spans by id, each with an X-Ray and/or an OTLP view, and
//!   whether the two agree.
//! - [`waterfall`]: drawing a trace.
//! - [`query`]: AWS X-Ray through aws-sdk-xray (GetTraceSummaries, BatchGetTraces).
//! - [`Error`]: every failure, worded for the user.
#![warn(missing_docs)]

pub mod cli;
mod error;
pub mod listen;
pub mod model;
pub mod query;
pub mod receive;
pub mod waterfall;

pub use error::Error;
