//! The handler: the notifications feed as of now, as JSON.

use std::convert::Infallible;

use api::{ApiError, Route};
use lambda_http::{http::StatusCode, Body, Request, Response};
use time::OffsetDateTime;

/// The route this function serves.
const ROUTE: Route = Route::get("/api/activities/notifications");

/// Answers the notifications feed as of now.
pub async fn notifications_activities(request: Request) -> Result<Response<Body>, Infallible> {
    Ok(api::respond(answer(&request)))
}

fn answer(request: &Request) -> Result<Response<Body>, ApiError> {
    ROUTE.check(request)?;
    let activities = domain::notifications_activities(OffsetDateTime::now_utc());
    Ok(api::json(StatusCode::OK, &activities))
}
