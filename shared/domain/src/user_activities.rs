//! One user's activities (`GET /api/users/{handle}/activities`).

use time::OffsetDateTime;
use tracing::{field::Empty, Instrument};

use crate::read::{self, data_span};
use crate::{Activity, Handle, Result, Store};

/// Returns the unexpired posts (not replies) by `handle` as of `now`, newest first, each
/// with its replies.
///
/// `handle` is the path parameter, with or without its `@`; it is matched ignoring
/// ASCII case. Fails with `handle_blank` or `handle_invalid` (422) when it is not a
/// handle, and `user_not_found` (404) when no user has it; a known user with no posts
/// gets an empty list. A failing store answers `database_unavailable` (503) or
/// `database_error` (500).
///
/// Traced as a span `mock-data` (`db-data` with a database; Honeycomb:
/// `user-activities-mock-data`) with `app.handle`, `app.now`, `app.result_length` (or
/// `app.error_code`), and one `UserActivities` event.
pub async fn user_activities(store: &dyn Store, handle: &str, now: OffsetDateTime) -> Result<Vec<Activity>> {
    let span = data_span!(
        store,
        "user-activities",
        app.handle = handle,
        app.now = %now,
        app.result_length = Empty,
        app.error_code = Empty,
    );
    let result = find(store, handle, now).instrument(span.clone()).await;
    read::record_list(&span, "UserActivities", &result);
    result
}

async fn find(store: &dyn Store, handle: &str, now: OffsetDateTime) -> Result<Vec<Activity>> {
    let handle = Handle::parse(handle)?;
    let user = read::user(store, &handle).await?;
    let posts = store.user_posts(user.uuid, now).await?;
    read::with_replies(store, posts).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{block_on, Error, MemoryStore};

    const NOW: OffsetDateTime = OffsetDateTime::UNIX_EPOCH;

    fn activities(handle: &str) -> Result<Vec<Activity>> {
        block_on(user_activities(&MemoryStore::seeded(NOW), handle, NOW))
    }

    fn messages(handle: &str) -> Vec<String> {
        activities(handle)
            .unwrap()
            .into_iter()
            .map(|a| a.message)
            .collect()
    }

    #[test]
    fn the_handles_posts_with_or_without_at_any_case() {
        assert_eq!(messages("andrewbrown"), ["Cloud is fun!"]);
        assert_eq!(messages("@worf"), ["I am out of prune juice"]);
        assert_eq!(messages("Coco"), ["I am white unicorn"]);
    }

    #[test]
    fn posts_keep_their_replies() {
        let activities = activities("andrewbrown").unwrap();
        assert_eq!(activities[0].replies[0].handle, "worf");
    }

    #[test]
    fn handle_errors() {
        assert_eq!(activities("@").unwrap_err().code(), "handle_blank");
        assert_eq!(activities("not a handle").unwrap_err().code(), "handle_invalid");
        let error = activities("@nobody").unwrap_err();
        assert_eq!(error, Error::UserNotFound("nobody".into()));
        assert_eq!((error.code(), error.status()), ("user_not_found", 404));
    }
}
