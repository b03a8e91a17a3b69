//! Cross-origin requests: what a browser front end on another origin needs.
//!
//! A browser asks first (a preflight: `OPTIONS` with `Access-Control-Request-Method` and
//! `-Headers`) before a call that carries `Authorization` or a JSON body. API Gateway
//! answers every path's preflight itself (the template's `Cors`, a mock integration), so
//! the functions never see one; `cargo lambda watch` answers them too. The functions add
//! `Access-Control-Allow-Origin` to every answer ([`respond`](crate::respond)), and the
//! template adds it to API Gateway's own 4xx and 5xx answers (`GatewayResponses`).

/// The request headers a preflight allows: the ID token, the JSON body's type, and the
/// trace context of a traced browser (W3C and X-Ray).
pub const ALLOW_HEADERS: &[&str] = &["Authorization", "Content-Type", "traceparent", "X-Amzn-Trace-Id"];

/// How long a browser may cache a preflight's answer, in seconds.
pub const MAX_AGE_SECONDS: u32 = 600;
