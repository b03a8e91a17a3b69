//! The handler: the demo user's new activity, as JSON.

use std::convert::Infallible;

use api::{ApiError, Route};
use domain::Handle;
use lambda_http::{http::StatusCode, Body, Request, Response};
use time::OffsetDateTime;

/// The route this function serves.
const ROUTE: Route = Route::post("/api/activities");

/// Answers the demo user's new activity.
pub async fn create_activity(request: Request) -> Result<Response<Body>, Infallible> {
    Ok(api::respond(answer(&request)))
}

fn answer(request: &Request) -> Result<Response<Body>, ApiError> {
    ROUTE.check(request)?;
    let input = api::json_body(request)?;
    let activity = domain::create_activity(input, &Handle::demo_user(), OffsetDateTime::now_utc())?;
    Ok(api::json(StatusCode::OK, &activity))
}
