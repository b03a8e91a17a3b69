//! The signed-in user's conversations (`GET /api/message_groups`).

use tracing::{field::Empty, Instrument};

use crate::read::{self, data_span};
use crate::{Handle, MessageGroup, Result, Store};

/// Returns the signed-in `viewer`'s conversations, each showing the other party and its
/// latest message, latest first, at most
/// [`MESSAGE_GROUPS_LIMIT`](crate::store::MESSAGE_GROUPS_LIMIT). With the seed data,
/// Andrew Brown's are the Cruddur backend's mock conversations with Andrew Brown and Worf.
///
/// Fails with `user_not_registered` (403) when no user has the viewer's handle, and with
/// `database_unavailable` (503) or `database_error` (500) when the store fails.
///
/// Traced as a span `mock-data` (`db-data` with a database; Honeycomb:
/// `message-groups-mock-data`) with `app.result_length` (or `app.error_code`), and one
/// `MessageGroups` event.
pub async fn message_groups(store: &dyn Store, viewer: &Handle) -> Result<Vec<MessageGroup>> {
    let span = data_span!(
        store,
        "message-groups",
        app.result_length = Empty,
        app.error_code = Empty,
    );
    let result = groups(store, viewer).instrument(span.clone()).await;
    read::record_list(&span, "MessageGroups", &result);
    result
}

async fn groups(store: &dyn Store, viewer: &Handle) -> Result<Vec<MessageGroup>> {
    let viewer = read::caller(store, viewer).await?;
    Ok(store.message_groups(viewer.uuid).await?)
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;

    use super::*;
    use crate::{block_on, MemoryStore};

    fn groups(now: OffsetDateTime) -> Vec<MessageGroup> {
        let andrew = Handle::parse("andrewbrown").unwrap();
        block_on(message_groups(&MemoryStore::seeded(now), &andrew)).unwrap()
    }

    #[test]
    fn the_cruddur_groups_with_their_latest_message() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let groups = groups(now);
        let summary: Vec<_> = groups
            .iter()
            .map(|g| {
                (
                    g.uuid.to_string(),
                    g.display_name.as_str(),
                    g.handle.as_str(),
                    g.message.as_str(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "24b95582-9e7b-4e0a-9ad1-639773ab7552".to_owned(),
                    "Andrew Brown",
                    "andrewbrown",
                    "This platform is great!"
                ),
                (
                    "417c360e-c4e6-4fce-873b-d2d71469b4ac".to_owned(),
                    "Worf",
                    "worf",
                    "Cloud is fun!"
                ),
            ]
        );
        assert!(groups.iter().all(|g| g.created_at < now));
    }

    #[test]
    fn json_shape_is_the_cruddur_one() {
        let now = time::macros::datetime!(2023-02-20 12:00 UTC);
        let json = serde_json::to_value(&groups(now)[1]).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "uuid": "417c360e-c4e6-4fce-873b-d2d71469b4ac",
                "display_name": "Worf",
                "handle": "worf",
                "message": "Cloud is fun!",
                "created_at": "2023-02-20T11:00:00Z",
            })
        );
    }
}
