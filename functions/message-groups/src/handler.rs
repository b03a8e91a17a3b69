//! The handler: the signed-in caller's conversations, each with its latest message, as JSON.

use std::convert::Infallible;
use std::sync::Arc;

use api::{ApiError, Route};
use domain::Store;
use lambda_http::{http::StatusCode, Body, Request, Response};

/// The route this function serves.
const ROUTE: &Route = &api::routes::MESSAGE_GROUPS;

/// Answers the signed-in caller's conversations, each with its latest message.
pub async fn message_groups(store: Arc<dyn Store>, request: Request) -> Result<Response<Body>, Infallible> {
    Ok(api::respond(answer(&*store, &request).await))
}

async fn answer(store: &dyn Store, request: &Request) -> Result<Response<Body>, ApiError> {
    let call = ROUTE.check(request)?;
    let groups = domain::message_groups(store, call.caller()?.handle()).await?;
    Ok(api::json(StatusCode::OK, &groups))
}
