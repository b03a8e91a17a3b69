//! The handler: the demo user's conversation with one user, as JSON.

use std::convert::Infallible;
use std::sync::Arc;

use api::{ApiError, Route};
use domain::{Handle, Store};
use lambda_http::{http::StatusCode, Body, Request, Response};

/// The route this function serves.
const ROUTE: Route = Route::get("/api/messages/@{handle}");

/// Answers the demo user's conversation with one user.
pub async fn messages(store: Arc<dyn Store>, request: Request) -> Result<Response<Body>, Infallible> {
    Ok(api::respond(answer(&*store, &request).await))
}

async fn answer(store: &dyn Store, request: &Request) -> Result<Response<Body>, ApiError> {
    let params = ROUTE.check(request)?;
    let messages = domain::messages(store, &Handle::demo_user(), &params["handle"]).await?;
    Ok(api::json(StatusCode::OK, &messages))
}
