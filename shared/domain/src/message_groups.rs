//! The signed-in user's conversations (`GET /api/message_groups`).

use time::OffsetDateTime;

use crate::{mock, MessageGroup};

/// Returns the signed-in user's message groups as of `now`: the Cruddur backend's mock
/// conversations with Andrew Brown and Worf, each showing its latest message.
///
/// Traced as a span `mock-data` (Honeycomb: `message-groups-mock-data`) with `app.now`
/// and `app.result_length`, and one `MessageGroups` event.
pub fn message_groups(now: OffsetDateTime) -> Vec<MessageGroup> {
    let span = tracing::info_span!(
        "mock-data",
        otel.name = "message-groups-mock-data",
        app.now = %now,
        app.result_length = tracing::field::Empty,
    );
    let _entered = span.enter();
    let results: Vec<_> = mock::conversations(now)
        .iter()
        .map(mock::Conversation::group)
        .collect();
    span.record("app.result_length", results.len());
    tracing::info!(result_length = results.len(), "MessageGroups");
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: OffsetDateTime = OffsetDateTime::UNIX_EPOCH;

    #[test]
    fn the_cruddur_groups_with_their_latest_message() {
        let groups = message_groups(NOW);
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
        assert!(groups.iter().all(|g| g.created_at < NOW));
    }

    #[test]
    fn json_shape_is_the_cruddur_one() {
        let now = time::macros::datetime!(2023-02-20 12:00 UTC);
        let json = serde_json::to_value(&message_groups(now)[1]).unwrap();
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
