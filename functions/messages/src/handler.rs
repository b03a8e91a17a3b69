//! The handler: the signed-in caller's conversation with one user, as JSON.

use std::convert::Infallible;
use std::sync::Arc;

use api::{ApiError, Route};
use domain::Store;
use lambda_http::{http::StatusCode, Body, Request, Response};

/// The route this function serves.
const ROUTE: &Route = &api::routes::MESSAGES;

/// Answers the signed-in caller's conversation with one user.
pub async fn messages(store: Arc<dyn Store>, request: Request) -> Result<Response<Body>, Infallible> {
    Ok(api::respond(answer(&*store, &request).await))
}

async fn answer(store: &dyn Store, request: &Request) -> Result<Response<Body>, ApiError> {
    let call = ROUTE.check(request)?;
    let messages = domain::messages(store, call.caller()?.handle(), &call.params["handle"]).await?;
    Ok(api::json(StatusCode::OK, &messages))
}
