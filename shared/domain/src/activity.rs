//! The activity (a "crud") as the Cruddur backend's JSON shows it.

use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

/// One activity (post or reply), shaped like the Cruddur backend's JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Activity {
    /// Stable identifier.
    pub uuid: Uuid,
    /// Author's handle, without the `@`.
    pub handle: String,
    /// Author's display name.
    pub display_name: String,
    /// The text, at most 280 characters.
    pub message: String,
    /// When it was posted.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it disappears.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// Number of likes.
    pub likes_count: u32,
    /// Number of replies.
    pub replies_count: u32,
    /// Number of reposts.
    pub reposts_count: u32,
    /// Replies, oldest first.
    pub replies: Vec<Activity>,
}

/// A new reply as the Cruddur backend answers it: an activity plus the id it replies to.
///
/// Serializes flat: the [`Activity`] fields, then `reply_to_activity_uuid`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reply {
    /// The reply itself; it expires with the activity it replies to.
    #[serde(flatten)]
    pub activity: Activity,
    /// The activity replied to.
    pub reply_to_activity_uuid: Uuid,
}
