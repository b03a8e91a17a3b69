//! Cruddur's domain: the services behind the API routes, as plain Rust.
//!
//! Nothing here knows about Lambda, API Gateway or where telemetry goes. Services
//! describe their work with plain `tracing` spans and fields; the telemetry crate
//! turns those into X-Ray subsegments, OTLP spans and log lines.
//!
//! # Layout
//!
//! - [`activity`]: the activity shape every activity route returns.
//! - [`home_activities`]: the home feed (the seed app's mock activities).

pub mod activity;
pub mod home_activities;

pub use activity::Activity;
