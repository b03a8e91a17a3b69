//! The notifications feed (`GET /api/activities/notifications`).

use time::OffsetDateTime;
use tracing::{field::Empty, Instrument};

use crate::read::{self, data_span};
use crate::{Activity, Handle, Result, Store};

/// Returns the signed-in `viewer`'s notifications as of `now`: the unexpired posts that
/// notify them, newest first, with their replies. With the seed data, Andrew Brown's are
/// the Cruddur backend's mock activity by coco.
///
/// Fails with `user_not_registered` (403) when no user has the viewer's handle, and with
/// `database_unavailable` (503) or `database_error` (500) when the store fails.
///
/// Traced as a span `mock-data` (`db-data` with a database; Honeycomb:
/// `notifications-activities-mock-data`) with `app.now` and `app.result_length` (or
/// `app.error_code`), and one `NotificationsActivities` event.
pub async fn notifications_activities(
    store: &dyn Store,
    viewer: &Handle,
    now: OffsetDateTime,
) -> Result<Vec<Activity>> {
    let span = data_span!(
        store,
        "notifications-activities",
        app.now = %now,
        app.result_length = Empty,
        app.error_code = Empty,
    );
    let result = feed(store, viewer, now).instrument(span.clone()).await;
    read::record_list(&span, "NotificationsActivities", &result);
    result
}

async fn feed(store: &dyn Store, viewer: &Handle, now: OffsetDateTime) -> Result<Vec<Activity>> {
    let viewer = read::caller(store, viewer).await?;
    let posts = store.notifications_feed(viewer.uuid, now).await?;
    read::with_replies(store, posts).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{block_on, MemoryStore};

    #[test]
    fn coco_is_a_white_unicorn() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let store = MemoryStore::seeded(now);
        let andrew = Handle::parse("andrewbrown").unwrap();
        let feed = block_on(notifications_activities(&store, &andrew, now)).unwrap();
        assert_eq!(feed.len(), 1);
        assert_eq!(feed[0].handle, "coco");
        assert_eq!(feed[0].message, "I am white unicorn");
        assert!(feed[0].created_at < now && feed[0].expires_at > now);
    }

    #[test]
    fn other_users_have_none() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let store = MemoryStore::seeded(now);
        let worf = Handle::parse("worf").unwrap();
        assert!(block_on(notifications_activities(&store, &worf, now))
            .unwrap()
            .is_empty());
    }
}
