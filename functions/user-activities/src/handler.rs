//! The handler: one user's posts as of now, as JSON.

use std::convert::Infallible;

use api::{ApiError, Route};
use lambda_http::{http::StatusCode, Body, Request, Response};
use time::OffsetDateTime;

/// The route this function serves.
const ROUTE: Route = Route::get("/api/activities/@{handle}");

/// Answers one user's posts as of now.
pub async fn user_activities(request: Request) -> Result<Response<Body>, Infallible> {
    Ok(api::respond(answer(&request)))
}

fn answer(request: &Request) -> Result<Response<Body>, ApiError> {
    let params = ROUTE.check(request)?;
    let activities = domain::user_activities(&params["handle"], OffsetDateTime::now_utc())?;
    Ok(api::json(StatusCode::OK, &activities))
}
