//! Lookups the services share, and the span of the services that read.

use uuid::Uuid;

use crate::store::{Store, User};
use crate::{Activity, Error, Handle, Result};

/// The span of a service that reads: `mock-data` when the store is in memory (as the
/// seed app traced it; Honeycomb: `<route>-mock-data`), `db-data` when it is a database.
///
/// `data_span!(store, "home-activities", app.now = %now, ...)`: the route, then the
/// span's fields.
macro_rules! data_span {
    ($store:expr, $route:literal, $($fields:tt)*) => {
        if $store.in_memory() {
            tracing::info_span!("mock-data", otel.name = concat!($route, "-mock-data"), $($fields)*)
        } else {
            tracing::info_span!("db-data", otel.name = concat!($route, "-db-data"), $($fields)*)
        }
    };
}
pub(crate) use data_span;

/// Records a list read's outcome on its span (`app.result_length`, or `app.error_code`)
/// and logs the one event that names the service (`HomeActivities`, `Messages`, ...).
pub(crate) fn record_list<T>(span: &tracing::Span, service: &str, result: &Result<Vec<T>>) {
    span.in_scope(|| match result {
        Ok(items) => {
            span.record("app.result_length", items.len());
            tracing::info!(result_length = items.len(), "{service}");
        }
        Err(error) => {
            span.record("app.error_code", error.code());
            tracing::info!(error_code = error.code(), "{service}");
        }
    });
}

/// The user with this handle, or [`Error::UserNotFound`].
pub(crate) async fn user(store: &dyn Store, handle: &Handle) -> Result<User> {
    store
        .user(handle.as_str())
        .await?
        .ok_or_else(|| Error::UserNotFound(handle.to_string()))
}

/// The signed-in caller as the store knows them, or [`Error::UserNotRegistered`] (403):
/// their token names a handle no user has.
pub(crate) async fn caller(store: &dyn Store, handle: &Handle) -> Result<User> {
    store
        .user(handle.as_str())
        .await?
        .ok_or_else(|| Error::UserNotRegistered(handle.to_string()))
}

/// `posts` with their direct replies, oldest first, at most
/// [`REPLIES_LIMIT`](crate::store::REPLIES_LIMIT) each (one query for all of them).
pub(crate) async fn with_replies(store: &dyn Store, mut posts: Vec<Activity>) -> Result<Vec<Activity>> {
    if posts.is_empty() {
        return Ok(posts);
    }
    let ids: Vec<Uuid> = posts.iter().map(|post| post.uuid).collect();
    for reply in store.replies(&ids).await? {
        if let Some(post) = posts.iter_mut().find(|p| p.uuid == reply.reply_to_activity_uuid) {
            post.replies.push(reply.activity);
        }
    }
    Ok(posts)
}
