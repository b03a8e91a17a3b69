//! The handler: the signed-in caller's reply to an activity, as JSON.

use std::convert::Infallible;
use std::sync::Arc;

use api::{ApiError, Route};
use domain::Store;
use lambda_http::{http::StatusCode, Body, Request, Response};
use time::OffsetDateTime;

/// The route this function serves.
const ROUTE: &Route = &api::routes::CREATE_REPLY;

/// Answers the signed-in caller's reply to an activity.
pub async fn create_reply(store: Arc<dyn Store>, request: Request) -> Result<Response<Body>, Infallible> {
    Ok(api::respond(answer(&*store, &request).await))
}

async fn answer(store: &dyn Store, request: &Request) -> Result<Response<Body>, ApiError> {
    let call = ROUTE.check(request)?;
    let input = api::json_body(request)?;
    let reply = domain::create_reply(
        store,
        &call.params["activity_uuid"],
        input,
        call.caller()?.handle(),
        OffsetDateTime::now_utc(),
    )
    .await?;
    Ok(api::json(StatusCode::OK, &reply))
}
