//! Direct messages and message groups (conversations) as the Cruddur backend's JSON shows them.

use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

/// One conversation in the signed-in user's inbox, showing its latest message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MessageGroup {
    /// Stable identifier of the conversation.
    pub uuid: Uuid,
    /// The other party's display name.
    pub display_name: String,
    /// The other party's handle, without the `@`.
    pub handle: String,
    /// The latest message's text.
    pub message: String,
    /// When the latest message was sent.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// One direct message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Message {
    /// Stable identifier.
    pub uuid: Uuid,
    /// Sender's display name.
    pub display_name: String,
    /// Sender's handle, without the `@`.
    pub handle: String,
    /// The text, at most 1024 characters.
    pub message: String,
    /// When it was sent.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}
