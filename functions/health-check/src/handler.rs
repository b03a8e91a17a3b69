//! The handler: that the service is up, as JSON.

use std::convert::Infallible;

use api::{ApiError, Route};
use lambda_http::{http::StatusCode, Body, Request, Response};

/// The route this function serves.
const ROUTE: &Route = &api::routes::HEALTH_CHECK;

/// Answers that the service is up.
pub async fn health_check(request: Request) -> Result<Response<Body>, Infallible> {
    Ok(api::respond(answer(&request)))
}

fn answer(request: &Request) -> Result<Response<Body>, ApiError> {
    ROUTE.check(request)?;
    let health = domain::health_check();
    Ok(api::json(StatusCode::OK, &health))
}
