//! Cruddur's domain: the services behind the API routes, as plain Rust.
//!
//! Nothing here knows about Lambda, API Gateway, which database answers or where
//! telemetry goes. Services describe their work with plain `tracing` spans and fields;
//! the telemetry crate turns those into X-Ray subsegments, OTLP spans and log lines.
//!
//! Every service is one async function in its own module. Services that act for the
//! signed-in caller (the writes, and the caller's own notifications, conversations and
//! home timeline) take the caller's handle; the edge decides who that is, and a handle no
//! user has is refused with `user_not_registered` (403). Services read and write
//! through a [`Store`] they are given (`&dyn Store`): [`MemoryStore`] holds the seed's
//! mock data in memory, and the `store` crate adds PostgreSQL. Services that depend on
//! the clock take `now`, so callers (and tests) decide the time. Each one traces its work
//! as a span (whose `otel.name` is `<route>-<what>`, with `app.*` attributes, and
//! `app.error_code` on failure) and one info event named after the service; the store's
//! queries are its children.
//!
//! # Errors
//!
//! Services that can refuse a request return [`Result`]. An [`Error`] has a stable
//! machine code ([`Error::code`], e.g. `message_blank`) and an HTTP status
//! ([`Error::status`]: 422 for validation errors, 404 for missing resources, 403 for a
//! signed-in caller the store does not know, 503 when the store is unavailable); the caller turns those into a response. Request bodies
//! deserialize into input structs whose fields are all `Option`, so a missing field
//! becomes its validation code; a body that is not JSON at all is the caller's to answer.
//!
//! ```
//! use domain::{create_activity, CreateActivity, Handle, MemoryStore};
//! use time::OffsetDateTime;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let now = OffsetDateTime::now_utc();
//! let store = MemoryStore::seeded(now);
//! let body: CreateActivity = serde_json::from_str(r#"{"message": "Cloud is fun!"}"#).unwrap();
//! let caller = Handle::parse("andrewbrown").unwrap(); // the signed-in caller's handle
//! let error = create_activity(&store, body, &caller, now).await.unwrap_err();
//! assert_eq!((error.status(), error.code()), (422, "ttl_blank"));
//! # });
//! ```
//!
//! # Layout
//!
//! Shapes and rules:
//! - [`activity`]: the activity shape every activity route returns, and [`Reply`].
//! - [`message`]: [`Message`] and [`MessageGroup`].
//! - [`error`]: [`Error`], its codes and statuses.
//! - [`handle`]: [`Handle`], a validated user handle.
//! - [`ttl`]: [`Ttl`], a new activity's time to live.
//!
//! Data:
//! - [`store`]: the [`Store`] trait the services read and write through, its records and
//!   [`StoreError`].
//! - [`memory`]: [`MemoryStore`], the store in memory (the default).
//! - [`seed`]: the mock data every store starts from.
//!
//! Services, one per route:
//! - [`home_activities`](mod@home_activities): `GET /api/activities/home`.
//! - [`notifications_activities`](mod@notifications_activities): `GET /api/activities/notifications`.
//! - [`user_activities`](mod@user_activities): `GET /api/users/{handle}/activities`.
//! - [`search_activities`](mod@search_activities): `GET /api/activities/search?term=`.
//! - [`create_activity`](mod@create_activity): `POST /api/activities`.
//! - [`show_activity`](mod@show_activity): `GET /api/activities/{activity_uuid}`.
//! - [`create_reply`](mod@create_reply): `POST /api/activities/{activity_uuid}/reply`.
//! - [`message_groups`](mod@message_groups): `GET /api/message_groups`.
//! - [`messages`](mod@messages): `GET /api/messages/{handle}`.
//! - [`create_message`](mod@create_message): `POST /api/messages`.
//! - [`health_check`](mod@health_check): `GET /api/health-check`.
//!
//! Private: `read`, the lookups the services share (a user by handle, posts with their
//! replies) and their span, and `validate`, the message and id checks.

// Shapes and rules.
pub mod activity;
pub mod error;
pub mod handle;
pub mod message;
pub mod ttl;

// Data.
pub mod memory;
pub mod seed;
pub mod store;

// Services, one per route.
pub mod create_activity;
pub mod create_message;
pub mod create_reply;
pub mod health_check;
pub mod home_activities;
pub mod message_groups;
pub mod messages;
pub mod notifications_activities;
pub mod search_activities;
pub mod show_activity;
pub mod user_activities;

// Internals.
mod read;
mod validate;

pub use activity::{Activity, Reply};
pub use error::{Error, ErrorKind, Result};
pub use handle::{Handle, HANDLE_MAX_CHARS};
pub use memory::MemoryStore;
pub use message::{Message, MessageGroup};
pub use store::{Store, StoreError, User};
pub use ttl::Ttl;
pub use validate::{ACTIVITY_MAX_CHARS, MESSAGE_MAX_CHARS, REPLY_MAX_CHARS};

pub use create_activity::{create_activity, CreateActivity};
pub use create_message::{create_message, CreateMessage};
pub use create_reply::{create_reply, CreateReply};
pub use health_check::{health_check, HealthCheck};
pub use home_activities::{home_activities, Viewer};
pub use message_groups::message_groups;
pub use messages::messages;
pub use notifications_activities::notifications_activities;
pub use search_activities::search_activities;
pub use show_activity::show_activity;
pub use user_activities::user_activities;

/// Runs a future that is ready at once (the memory store's), for tests.
#[cfg(test)]
pub(crate) fn block_on<F: std::future::Future>(future: F) -> F::Output {
    use std::task::{Context, Poll, Waker};
    let mut future = std::pin::pin!(future);
    match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the memory store never waits"),
    }
}
