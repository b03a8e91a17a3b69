//! The handler: one activity, with its replies, as JSON (and where the old `GET /api/activities/@{handle}`, which API Gateway routes here, moved).

use std::convert::Infallible;
use std::sync::Arc;

use api::{ApiError, Route};
use domain::Store;
use lambda_http::{http::StatusCode, Body, Request, Response};

/// The route this function serves.
const ROUTE: &Route = &api::routes::SHOW_ACTIVITY;

/// Answers one activity, with its replies.
pub async fn show_activity(store: Arc<dyn Store>, request: Request) -> Result<Response<Body>, Infallible> {
    Ok(api::respond(answer(&*store, &request).await))
}

async fn answer(store: &dyn Store, request: &Request) -> Result<Response<Body>, ApiError> {
    let call = ROUTE.check(request)?;
    let activity = domain::show_activity(store, &call.params["activity_uuid"]).await?;
    Ok(api::json(StatusCode::OK, &activity))
}
