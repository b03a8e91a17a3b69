//! The HTTP edge shared by every function crate: the route table, checking that a request
//! is for the function's route and from a caller it may serve, reading its body and query,
//! and turning domain results into API Gateway responses (JSON bodies, Cruddur's error
//! shape, the CORS header).
//!
//! A function's handler is a route check, a parse, one domain call and a JSON answer:
//!
//! ```
//! use api::ApiError;
//! use lambda_http::{http::StatusCode, Body, Request, Response};
//!
//! fn answer(request: &Request) -> Result<Response<Body>, ApiError> {
//!     let call = api::routes::USER_ACTIVITIES.check(request)?;
//!     let handle = domain::Handle::parse(&call.params["handle"])?;
//!     Ok(api::json(StatusCode::OK, &handle.as_str()))
//! }
//!
//! let request = lambda_http::http::Request::get("/api/users/@worf/activities").body(Body::Empty).unwrap();
//! let response = api::respond(answer(&request));
//! assert_eq!(response.status(), StatusCode::OK);
//! assert_eq!(response.headers()["access-control-allow-origin"], "*");
//! ```
//!
//! # Who calls
//!
//! Routes are for [`Access::Anyone`] or [`Access::SignedIn`] ([`ROUTES`]). The caller is
//! read from the API Gateway authorizer's claims ([`caller`]), or is a local run's user
//! ([`Settings`]); a signed-in route without one answers 401. The caller's id goes on the
//! invocation span as `enduser.id`.
//!
//! # Errors
//!
//! Every refusal is an [`ApiError`]: a status, a stable code and a message, answered as
//! `{"error": code, "message": …}`. Domain errors convert into it (422, 404 or 403 with the
//! domain's code, 503 `database_unavailable` or 500 `database_error` when the store
//! fails); the edge adds its own: `not_found` and `route_moved` (404),
//! `method_not_allowed` (405), `unauthorized` (401), `caller_handle_invalid` (403),
//! `body_invalid_json` (400) and `body_too_large` (413). Turning one into a response logs
//! one WARN line (`request rejected` for a 4xx, `request failed` for a 5xx), so logs mark
//! client errors without calling them failures, and a failure's ERROR line stays the one
//! logged where it happened.
//!
//! # Layout
//!
//! - [`routes`]: the route table ([`ROUTES`], [`MOVED`]) and API Gateway's path rules.
//! - [`route`]: [`Route`], one row, its check and the [`Call`] it returns.
//! - [`caller`]: [`Caller`], from the authorizer's claims.
//! - [`settings`]: [`Settings`], the allowed origin, a local run's user, the front page.
//! - [`cors`]: what a browser's preflight is answered (by API Gateway).
//! - [`request`]: reading a JSON body ([`json_body`]) and a query parameter ([`query`]).
//! - [`response`]: JSON responses ([`json`]), [`ApiError`] and [`respond`].
#![warn(missing_docs)]

pub mod caller;
pub mod cors;
pub mod request;
pub mod response;
pub mod route;
pub mod routes;
pub mod settings;

pub use caller::Caller;
pub use request::{json_body, query, MAX_BODY_BYTES};
pub use response::{fault_response, json, respond, respond_with, ApiError};
pub use route::{Access, Call, PathParams, Route};
pub use routes::{MOVED, ROUTES};
pub use settings::Settings;
