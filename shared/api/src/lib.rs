//! The HTTP edge shared by every function crate: turning domain results into
//! API Gateway responses (JSON bodies, Cruddur's error shape) and reading requests.
//!
//! # Layout
//!
//! - [`response`]: JSON responses and errors.

pub mod response;

pub use response::{json, ApiError};
