//! The data store behind the services: the [`Store`] trait, its records and its errors.
//!
//! The domain owns this port; adapters implement it. [`MemoryStore`](crate::MemoryStore)
//! (in this crate) holds the seed data in memory, and the `store` crate's PostgreSQL
//! store runs one SQL statement per method, each traced as a client span. Services take
//! `&dyn Store`, so they never know which one answers.
//!
//! Each method is one query. Lists of activities are top-level posts (replies come from
//! [`Store::replies`]), newest stored first, at most [`FEED_LIMIT`]; replies and messages
//! come oldest first. Every list is bounded, in the query itself: [`FEED_LIMIT`],
//! [`REPLIES_LIMIT`], [`MESSAGE_GROUPS_LIMIT`], [`MESSAGES_LIMIT`].
//! Handles are matched ignoring ASCII case.

use std::fmt;

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{Activity, Message, MessageGroup, Reply};

/// The most posts a feed or a search lists.
pub const FEED_LIMIT: usize = 100;

/// The most replies listed under one activity: its first ones (`replies_count` counts all).
pub const REPLIES_LIMIT: usize = 20;

/// The most conversations the message groups list: the latest.
pub const MESSAGE_GROUPS_LIMIT: usize = 100;

/// The most messages a conversation lists: the latest (shown oldest first).
pub const MESSAGES_LIMIT: usize = 100;

/// Result of a [`Store`] method.
pub type StoreResult<T> = std::result::Result<T, StoreError>;

/// Why a [`Store`] could not answer.
///
/// The text says what went wrong without parameter values or secrets, so it may be
/// logged and traced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or used now (down, timed out, refused the login);
    /// the next call tries again.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database answered with an error (a bug or a broken invariant, not an outage).
    #[error("database error: {0}")]
    Query(String),
}

/// A user as the store knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Stable identifier.
    pub uuid: Uuid,
    /// Handle, without the `@`, in the case it was registered with.
    pub handle: String,
    /// Display name.
    pub display_name: String,
}

/// A new activity to store: a post, or a reply when `reply_to_activity_uuid` is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewActivity {
    /// Its id, chosen by the caller.
    pub uuid: Uuid,
    /// The author.
    pub user_uuid: Uuid,
    /// The text.
    pub message: String,
    /// When it was posted.
    pub created_at: OffsetDateTime,
    /// When it disappears from the feeds.
    pub expires_at: OffsetDateTime,
    /// The activity it replies to (which must exist), for a reply.
    pub reply_to_activity_uuid: Option<Uuid>,
}

/// A new direct message to store, in the conversation of its sender and receiver (made on
/// the first message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// Its id, chosen by the caller.
    pub uuid: Uuid,
    /// Who sends it.
    pub sender_uuid: Uuid,
    /// Who receives it (may be the sender: a note to self).
    pub receiver_uuid: Uuid,
    /// The text.
    pub message: String,
    /// When it was sent.
    pub created_at: OffsetDateTime,
}

/// Where the services read and write users, activities and messages.
///
/// Implementations must be cheap to share (`Send + Sync`) and must not hang: a store that
/// cannot answer in time returns [`StoreError::Unavailable`].
#[async_trait]
pub trait Store: Send + Sync + fmt::Debug {
    /// Whether this store holds its data in the process's memory (the mock data): services
    /// then name their read span `mock-data`, as the seed app traced it, else `db-data`.
    fn in_memory(&self) -> bool {
        false
    }

    /// The user with this handle (without `@`), ignoring ASCII case.
    async fn user(&self, handle: &str) -> StoreResult<Option<User>>;

    /// `viewer`'s home timeline as of `now`: unexpired posts by the viewer and the users
    /// they follow, newest first, without their replies.
    async fn home_feed(&self, viewer: Uuid, now: OffsetDateTime) -> StoreResult<Vec<Activity>>;

    /// `viewer`'s notifications as of `now`: the unexpired posts that notify them, newest
    /// first, without their replies.
    async fn notifications_feed(&self, viewer: Uuid, now: OffsetDateTime) -> StoreResult<Vec<Activity>>;

    /// `author`'s unexpired posts as of `now`, newest first, without their replies.
    async fn user_posts(&self, author: Uuid, now: OffsetDateTime) -> StoreResult<Vec<Activity>>;

    /// Unexpired posts as of `now` whose message, author handle or display name contains
    /// `term` ignoring case, newest first, without their replies.
    async fn search_posts(&self, term: &str, now: OffsetDateTime) -> StoreResult<Vec<Activity>>;

    /// The activity (post or reply) with this id, without its replies.
    async fn activity(&self, uuid: Uuid) -> StoreResult<Option<Activity>>;

    /// The direct replies to any of `activities`, oldest first, without their own replies:
    /// each activity's first [`REPLIES_LIMIT`].
    async fn replies(&self, activities: &[Uuid]) -> StoreResult<Vec<Reply>>;

    /// Stores a new post or reply and returns it as the feeds show it.
    async fn insert_activity(&self, activity: &NewActivity) -> StoreResult<Activity>;

    /// `viewer`'s conversations, each showing the other party and its latest message,
    /// latest first, at most [`MESSAGE_GROUPS_LIMIT`].
    async fn message_groups(&self, viewer: Uuid) -> StoreResult<Vec<MessageGroup>>;

    /// The latest [`MESSAGES_LIMIT`] messages between `viewer` and `other`, oldest first
    /// (empty when they never wrote).
    async fn messages(&self, viewer: Uuid, other: Uuid) -> StoreResult<Vec<Message>>;

    /// Stores a new message (and its conversation, on the first one) and returns it.
    async fn insert_message(&self, message: &NewMessage) -> StoreResult<Message>;
}
