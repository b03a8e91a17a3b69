//! The handler: one user's posts as of now, as JSON.

use std::convert::Infallible;
use std::sync::Arc;

use api::{ApiError, Route};
use domain::Store;
use lambda_http::{http::StatusCode, Body, Request, Response};
use time::OffsetDateTime;

/// The route this function serves.
const ROUTE: &Route = &api::routes::USER_ACTIVITIES;

/// Answers one user's posts as of now.
pub async fn user_activities(store: Arc<dyn Store>, request: Request) -> Result<Response<Body>, Infallible> {
    Ok(api::respond(answer(&*store, &request).await))
}

async fn answer(store: &dyn Store, request: &Request) -> Result<Response<Body>, ApiError> {
    let call = ROUTE.check(request)?;
    let activities =
        domain::user_activities(store, &call.params["handle"], OffsetDateTime::now_utc()).await?;
    Ok(api::json(StatusCode::OK, &activities))
}
