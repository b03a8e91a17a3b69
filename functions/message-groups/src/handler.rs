//! The handler: the demo user's conversations, each with its latest message, as JSON.

use std::convert::Infallible;
use std::sync::Arc;

use api::{ApiError, Route};
use domain::{Handle, Store};
use lambda_http::{http::StatusCode, Body, Request, Response};

/// The route this function serves.
const ROUTE: Route = Route::get("/api/message_groups");

/// Answers the demo user's conversations, each with its latest message.
pub async fn message_groups(store: Arc<dyn Store>, request: Request) -> Result<Response<Body>, Infallible> {
    Ok(api::respond(answer(&*store, &request).await))
}

async fn answer(store: &dyn Store, request: &Request) -> Result<Response<Body>, ApiError> {
    ROUTE.check(request)?;
    let groups = domain::message_groups(store, &Handle::demo_user()).await?;
    Ok(api::json(StatusCode::OK, &groups))
}
