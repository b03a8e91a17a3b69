//! The handler: the demo user's reply to an activity, as JSON.

use std::convert::Infallible;

use api::{ApiError, Route};
use domain::Handle;
use lambda_http::{http::StatusCode, Body, Request, Response};
use time::OffsetDateTime;

/// The route this function serves.
const ROUTE: Route = Route::post("/api/activities/{uuid}/reply");

/// Answers the demo user's reply to an activity.
pub async fn create_reply(request: Request) -> Result<Response<Body>, Infallible> {
    Ok(api::respond(answer(&request)))
}

fn answer(request: &Request) -> Result<Response<Body>, ApiError> {
    let params = ROUTE.check(request)?;
    let input = api::json_body(request)?;
    let reply = domain::create_reply(
        &params["uuid"],
        input,
        &Handle::demo_user(),
        OffsetDateTime::now_utc(),
    )?;
    Ok(api::json(StatusCode::OK, &reply))
}
