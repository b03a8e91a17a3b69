//! The handler: the notifications feed as of now, as JSON.

use std::convert::Infallible;
use std::sync::Arc;

use api::{ApiError, Route};
use domain::{Handle, Store};
use lambda_http::{http::StatusCode, Body, Request, Response};
use time::OffsetDateTime;

/// The route this function serves.
const ROUTE: Route = Route::get("/api/activities/notifications");

/// Answers the notifications feed as of now.
pub async fn notifications_activities(
    store: Arc<dyn Store>,
    request: Request,
) -> Result<Response<Body>, Infallible> {
    Ok(api::respond(answer(&*store, &request).await))
}

async fn answer(store: &dyn Store, request: &Request) -> Result<Response<Body>, ApiError> {
    ROUTE.check(request)?;
    let activities =
        domain::notifications_activities(store, &Handle::demo_user(), OffsetDateTime::now_utc()).await?;
    Ok(api::json(StatusCode::OK, &activities))
}
