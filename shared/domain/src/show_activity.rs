//! One activity (`GET /api/activities/{activity_uuid}`).

use tracing::{field::Empty, Instrument};

use crate::read::{self, data_span};
use crate::validate;
use crate::{Activity, Error, Result, Store};

/// Returns the activity (post or reply) with this id, with its replies.
///
/// `activity_uuid` is the path parameter. Fails with `uuid_invalid` (422) when it is
/// not a UUID and `activity_not_found` (404) when no activity has it; a failing store
/// answers `database_unavailable` (503) or `database_error` (500).
///
/// Traced as a span `mock-data` (`db-data` with a database; Honeycomb:
/// `show-activity-mock-data`) with `app.activity_uuid` (and `app.error_code` on
/// failure), and one `ShowActivity` event.
pub async fn show_activity(store: &dyn Store, activity_uuid: &str) -> Result<Activity> {
    let span = data_span!(
        store,
        "show-activity",
        app.activity_uuid = activity_uuid,
        app.error_code = Empty,
    );
    let result = find(store, activity_uuid).instrument(span.clone()).await;
    span.in_scope(|| match &result {
        Ok(activity) => tracing::info!(activity_uuid = %activity.uuid, "ShowActivity"),
        Err(error) => {
            span.record("app.error_code", error.code());
            tracing::info!(error_code = error.code(), "ShowActivity");
        }
    });
    result
}

async fn find(store: &dyn Store, activity_uuid: &str) -> Result<Activity> {
    let uuid = validate::activity_uuid(activity_uuid)?;
    let activity = store.activity(uuid).await?.ok_or(Error::ActivityNotFound(uuid))?;
    let mut with_replies = read::with_replies(store, vec![activity]).await?;
    Ok(with_replies.remove(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{block_on, MemoryStore};
    use time::OffsetDateTime;

    fn show(activity_uuid: &str) -> Result<Activity> {
        block_on(show_activity(
            &MemoryStore::seeded(OffsetDateTime::UNIX_EPOCH),
            activity_uuid,
        ))
    }

    #[test]
    fn finds_posts_with_their_replies() {
        let activity = show("68f126b0-1ceb-4a33-88be-d90fa7109eee").unwrap();
        assert_eq!(activity.message, "Cloud is fun!");
        assert_eq!(activity.replies.len(), 1);
        let activity = show("C0C0A11E-6E1F-4B7A-9A3D-5E2F8C1D4B90").unwrap();
        assert_eq!(activity.message, "I am white unicorn");
    }

    #[test]
    fn finds_replies() {
        let reply = show("26e12864-1c26-5c3a-9658-97a10f8fea67").unwrap();
        assert_eq!(reply.message, "This post has no honor!");
    }

    #[test]
    fn not_a_uuid_is_uuid_invalid() {
        for input in ["", "home", "68f126b0"] {
            let error = show(input).unwrap_err();
            assert_eq!((error.code(), error.status()), ("uuid_invalid", 422));
        }
    }

    #[test]
    fn unknown_is_activity_not_found() {
        let error = show("00000000-0000-0000-0000-000000000000").unwrap_err();
        assert_eq!(error, Error::ActivityNotFound(uuid::Uuid::nil()));
        assert_eq!((error.code(), error.status()), ("activity_not_found", 404));
    }
}
