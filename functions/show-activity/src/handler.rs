//! The handler: one activity, with its replies, as JSON.

use std::convert::Infallible;

use api::{ApiError, Route};
use lambda_http::{http::StatusCode, Body, Request, Response};
use time::OffsetDateTime;

/// The route this function serves.
const ROUTE: Route = Route::get("/api/activities/{uuid}");

/// Answers one activity, with its replies.
pub async fn show_activity(request: Request) -> Result<Response<Body>, Infallible> {
    Ok(api::respond(answer(&request)))
}

fn answer(request: &Request) -> Result<Response<Body>, ApiError> {
    let params = ROUTE.check(request)?;
    let activity = domain::show_activity(&params["uuid"], OffsetDateTime::now_utc())?;
    Ok(api::json(StatusCode::OK, &activity))
}
