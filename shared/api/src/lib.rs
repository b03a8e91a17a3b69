//! The HTTP edge shared by every function crate: checking that a request is for the
//! function's route, reading its body and query, and turning domain results into
//! API Gateway responses (JSON bodies, Cruddur's error shape).
//!
//! A function's handler is a route check, a parse, one domain call and a JSON answer:
//!
//! ```
//! use api::{ApiError, Route};
//! use lambda_http::{http::StatusCode, Body, Request, Response};
//!
//! const ROUTE: Route = Route::get("/api/activities/@{handle}");
//!
//! fn answer(request: &Request) -> Result<Response<Body>, ApiError> {
//!     let params = ROUTE.check(request)?;
//!     let handle = domain::Handle::parse(&params["handle"])?;
//!     Ok(api::json(StatusCode::OK, &handle.as_str()))
//! }
//!
//! let request = lambda_http::http::Request::get("/api/activities/@worf").body(Body::Empty).unwrap();
//! assert_eq!(api::respond(answer(&request)).status(), StatusCode::OK);
//! ```
//!
//! # Errors
//!
//! Every refusal is an [`ApiError`]: a status, a stable code and a message, answered as
//! `{"error": code, "message": …}`. Domain errors convert into it (422 or 404 with the
//! domain's code, 503 `database_unavailable` or 500 `database_error` when the store
//! fails); the edge adds its own: `not_found` (404), `method_not_allowed` (405),
//! `body_invalid_json` (400) and `body_too_large` (413). Turning one into a response logs
//! one WARN line (`request rejected` for a 4xx, `request failed` for a 5xx), so logs mark
//! client errors without calling them failures, and a failure's ERROR line stays the one
//! logged where it happened.
//!
//! # Layout
//!
//! - [`route`]: [`Route`], one function's method and path template, and its [`PathParams`].
//! - [`request`]: reading a JSON body ([`json_body`]) and a query parameter ([`query`]).
//! - [`response`]: JSON responses ([`json`]), [`ApiError`] and [`respond`].
#![warn(missing_docs)]

pub mod request;
pub mod response;
pub mod route;

pub use request::{json_body, query, MAX_BODY_BYTES};
pub use response::{json, respond, ApiError};
pub use route::{PathParams, Route};
