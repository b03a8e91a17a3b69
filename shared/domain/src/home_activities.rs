//! The home feed (`GET /api/activities/home`).

use time::OffsetDateTime;
use tracing::{field::Empty, Instrument};

use crate::read::{self, data_span};
use crate::{Activity, Handle, Result, Store};

/// Returns `viewer`'s home feed as of `now`: their unexpired posts and those of the users
/// they follow, newest first, each with its replies. With the seed data and the demo
/// user, the seed app's three activities.
///
/// Fails with `user_not_found` (404) when no user has the viewer's handle, and with
/// `database_unavailable` (503) or `database_error` (500) when the store fails.
///
/// The work is traced as the seed traced it: an X-Ray subsegment `mock-data` (the span's
/// name; `db-data` when a database answers) that Honeycomb shows as
/// `home-activities-mock-data` (`otel.name`), with the attributes `app.now` and
/// `app.result_length` (or `app.error_code`).
pub async fn home_activities(
    store: &dyn Store,
    viewer: &Handle,
    now: OffsetDateTime,
) -> Result<Vec<Activity>> {
    let span = data_span!(
        store,
        "home-activities",
        app.now = %now,
        app.result_length = Empty,
        app.error_code = Empty,
    );
    let result = feed(store, viewer, now).instrument(span.clone()).await;
    read::record_list(&span, "HomeActivities", &result);
    result
}

async fn feed(store: &dyn Store, viewer: &Handle, now: OffsetDateTime) -> Result<Vec<Activity>> {
    let viewer = read::user(store, viewer).await?;
    let posts = store.home_feed(viewer.uuid, now).await?;
    read::with_replies(store, posts).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{block_on, MemoryStore};

    fn home(now: OffsetDateTime) -> Vec<Activity> {
        block_on(home_activities(
            &MemoryStore::seeded(now),
            &Handle::demo_user(),
            now,
        ))
        .unwrap()
    }

    #[test]
    fn three_mock_activities_relative_to_now() {
        let now = OffsetDateTime::now_utc();
        let feed = home(now);
        let messages: Vec<_> = feed.iter().map(|a| a.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "Cloud is fun!",
                "I am out of prune juice",
                "My dear doctor, I am just simple tailor"
            ]
        );
        assert_eq!(feed[0].replies[0].message, "This post has no honor!");
        assert!(feed.iter().all(|a| a.created_at < now && a.expires_at > now));
    }

    #[test]
    fn unknown_viewer_is_user_not_found() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let nobody = Handle::parse("nobody").unwrap();
        let error = block_on(home_activities(&MemoryStore::seeded(now), &nobody, now)).unwrap_err();
        assert_eq!((error.code(), error.status()), ("user_not_found", 404));
    }

    #[test]
    fn json_shape_is_the_cruddur_one() {
        let now = time::macros::datetime!(2023-02-20 12:00 UTC);
        let json = serde_json::to_value(&home(now)[0]).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "uuid": "68f126b0-1ceb-4a33-88be-d90fa7109eee",
                "handle": "andrewbrown",
                "display_name": "Andrew Brown",
                "message": "Cloud is fun!",
                "created_at": "2023-02-18T12:00:00Z",
                "expires_at": "2023-02-25T12:00:00Z",
                "likes_count": 5,
                "replies_count": 1,
                "reposts_count": 0,
                "replies": [{
                    "uuid": "26e12864-1c26-5c3a-9658-97a10f8fea67",
                    "handle": "worf",
                    "display_name": "Worf",
                    "message": "This post has no honor!",
                    "created_at": "2023-02-18T12:00:00Z",
                    "expires_at": "2023-02-25T12:00:00Z",
                    "likes_count": 0,
                    "replies_count": 0,
                    "reposts_count": 0,
                    "replies": [],
                }],
            })
        );
    }
}
