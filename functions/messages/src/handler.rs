//! The handler: the demo user's conversation with one user, as JSON.

use std::convert::Infallible;

use api::{ApiError, Route};
use lambda_http::{http::StatusCode, Body, Request, Response};
use time::OffsetDateTime;

/// The route this function serves.
const ROUTE: Route = Route::get("/api/messages/@{handle}");

/// Answers the demo user's conversation with one user.
pub async fn messages(request: Request) -> Result<Response<Body>, Infallible> {
    Ok(api::respond(answer(&request)))
}

fn answer(request: &Request) -> Result<Response<Body>, ApiError> {
    let params = ROUTE.check(request)?;
    let messages = domain::messages(&params["handle"], OffsetDateTime::now_utc())?;
    Ok(api::json(StatusCode::OK, &messages))
}
