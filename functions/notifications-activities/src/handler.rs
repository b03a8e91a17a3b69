//! The handler: the signed-in caller's notifications as of now, as JSON.

use std::convert::Infallible;
use std::sync::Arc;

use api::{ApiError, Route};
use domain::Store;
use lambda_http::{http::StatusCode, Body, Request, Response};
use time::OffsetDateTime;

/// The route this function serves.
const ROUTE: &Route = &api::routes::NOTIFICATIONS_ACTIVITIES;

/// Answers the signed-in caller's notifications as of now.
pub async fn notifications_activities(
    store: Arc<dyn Store>,
    request: Request,
) -> Result<Response<Body>, Infallible> {
    Ok(api::respond(answer(&*store, &request).await))
}

async fn answer(store: &dyn Store, request: &Request) -> Result<Response<Body>, ApiError> {
    let call = ROUTE.check(request)?;
    let activities =
        domain::notifications_activities(store, call.caller()?.handle(), OffsetDateTime::now_utc()).await?;
    Ok(api::json(StatusCode::OK, &activities))
}
