//! The handler: the home feed as JSON: the signed-in caller's timeline, else the front page.

use std::convert::Infallible;
use std::sync::Arc;

use api::{ApiError, Route};
use domain::{Store, Viewer};
use lambda_http::{http::StatusCode, Body, Request, Response};
use time::OffsetDateTime;

/// The route this function serves.
const ROUTE: &Route = &api::routes::HOME_ACTIVITIES;

/// Answers the home feed as of now.
pub async fn home_activities(store: Arc<dyn Store>, request: Request) -> Result<Response<Body>, Infallible> {
    Ok(api::respond(answer(&*store, &request).await))
}

async fn answer(store: &dyn Store, request: &Request) -> Result<Response<Body>, ApiError> {
    let call = ROUTE.check(request)?;
    let viewer = match call.signed_in() {
        Some(caller) => Viewer::Caller(caller.handle()),
        None => Viewer::Anonymous {
            front_page: &api::Settings::global().front_page,
        },
    };
    let activities = domain::home_activities(store, viewer, OffsetDateTime::now_utc()).await?;
    Ok(api::json(StatusCode::OK, &activities))
}
