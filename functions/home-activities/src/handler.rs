//! The handler: the home feed as JSON.

use std::convert::Infallible;

use lambda_http::{http::StatusCode, Body, Request, Response};
use time::OffsetDateTime;

/// Answers the home feed as of now.
pub async fn home_activities(_request: Request) -> Result<Response<Body>, Infallible> {
    let activities = domain::home_activities::home_activities(OffsetDateTime::now_utc());
    Ok(api::json(StatusCode::OK, &activities))
}
