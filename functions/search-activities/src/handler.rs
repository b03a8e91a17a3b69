//! The handler: the activities matching the `term` query parameter, as JSON.

use std::convert::Infallible;
use std::sync::Arc;

use api::{ApiError, Route};
use domain::Store;
use lambda_http::{http::StatusCode, Body, Request, Response};
use time::OffsetDateTime;

/// The route this function serves.
const ROUTE: &Route = &api::routes::SEARCH_ACTIVITIES;

/// Answers the activities matching the `term` query parameter.
pub async fn search_activities(
    store: Arc<dyn Store>,
    request: Request,
) -> Result<Response<Body>, Infallible> {
    Ok(api::respond(answer(&*store, &request).await))
}

async fn answer(store: &dyn Store, request: &Request) -> Result<Response<Body>, ApiError> {
    ROUTE.check(request)?;
    let term = api::query(request, "term");
    let activities = domain::search_activities(store, term.as_deref(), OffsetDateTime::now_utc()).await?;
    Ok(api::json(StatusCode::OK, &activities))
}
