//! The handler: the demo user's conversations, each with its latest message, as JSON.

use std::convert::Infallible;

use api::{ApiError, Route};
use lambda_http::{http::StatusCode, Body, Request, Response};
use time::OffsetDateTime;

/// The route this function serves.
const ROUTE: Route = Route::get("/api/message_groups");

/// Answers the demo user's conversations, each with its latest message.
pub async fn message_groups(request: Request) -> Result<Response<Body>, Infallible> {
    Ok(api::respond(answer(&request)))
}

fn answer(request: &Request) -> Result<Response<Body>, ApiError> {
    ROUTE.check(request)?;
    let groups = domain::message_groups(OffsetDateTime::now_utc());
    Ok(api::json(StatusCode::OK, &groups))
}
