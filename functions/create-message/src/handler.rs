//! The handler: the demo user's new direct message, as JSON.

use std::convert::Infallible;
use std::sync::Arc;

use api::{ApiError, Route};
use domain::{Handle, Store};
use lambda_http::{http::StatusCode, Body, Request, Response};
use time::OffsetDateTime;

/// The route this function serves.
const ROUTE: Route = Route::post("/api/messages");

/// Answers the demo user's new direct message.
pub async fn create_message(store: Arc<dyn Store>, request: Request) -> Result<Response<Body>, Infallible> {
    Ok(api::respond(answer(&*store, &request).await))
}

async fn answer(store: &dyn Store, request: &Request) -> Result<Response<Body>, ApiError> {
    ROUTE.check(request)?;
    let input = api::json_body(request)?;
    let message =
        domain::create_message(store, input, &Handle::demo_user(), OffsetDateTime::now_utc()).await?;
    Ok(api::json(StatusCode::OK, &message))
}
