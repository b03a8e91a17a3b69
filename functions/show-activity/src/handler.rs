//! The handler: one activity, with its replies, as JSON.

use std::convert::Infallible;
use std::sync::Arc;

use api::{ApiError, Route};
use domain::Store;
use lambda_http::{http::StatusCode, Body, Request, Response};

/// The route this function serves.
const ROUTE: Route = Route::get("/api/activities/{uuid}");

/// Answers one activity, with its replies.
pub async fn show_activity(store: Arc<dyn Store>, request: Request) -> Result<Response<Body>, Infallible> {
    Ok(api::respond(answer(&*store, &request).await))
}

async fn answer(store: &dyn Store, request: &Request) -> Result<Response<Body>, ApiError> {
    let params = ROUTE.check(request)?;
    let activity = domain::show_activity(store, &params["uuid"]).await?;
    Ok(api::json(StatusCode::OK, &activity))
}
