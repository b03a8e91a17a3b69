//! The home feed (`GET /api/activities/home`).

use time::OffsetDateTime;
use tracing::{field::Empty, Instrument};

use crate::read::{self, data_span};
use crate::{Activity, Handle, Result, Store};

/// Whose home feed to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewer<'a> {
    /// The signed-in caller: their own timeline.
    Caller(&'a Handle),
    /// Nobody signed in: the front page, which is the timeline of the account `front_page`
    /// (a deployment chooses it; the seed app's home feed is Andrew Brown's).
    Anonymous {
        /// The account whose timeline is the front page.
        front_page: &'a Handle,
    },
}

/// Returns the home feed `viewer` sees as of `now`: an account's unexpired posts and those
/// of the users it follows, newest first, each with its replies. With the seed data and
/// the front page `andrewbrown`, the seed app's three activities.
///
/// A signed-in caller sees their own timeline, and is refused with `user_not_registered`
/// (403) when no user has their handle. Anonymous visitors see the front page, empty when
/// no user has its handle. A failing store answers `database_unavailable` (503) or
/// `database_error` (500).
///
/// The work is traced as the seed traced it: an X-Ray subsegment `mock-data` (the span's
/// name; `db-data` when a database answers) that Honeycomb shows as
/// `home-activities-mock-data` (`otel.name`), with the attributes `app.now` and
/// `app.result_length` (or `app.error_code`).
pub async fn home_activities(
    store: &dyn Store,
    viewer: Viewer<'_>,
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

async fn feed(store: &dyn Store, viewer: Viewer<'_>, now: OffsetDateTime) -> Result<Vec<Activity>> {
    let account = match viewer {
        Viewer::Caller(handle) => read::caller(store, handle).await?,
        Viewer::Anonymous { front_page } => match store.user(front_page.as_str()).await? {
            Some(user) => user,
            None => return Ok(Vec::new()),
        },
    };
    let posts = store.home_feed(account.uuid, now).await?;
    read::with_replies(store, posts).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{block_on, MemoryStore};

    fn andrew() -> Handle {
        Handle::parse("andrewbrown").unwrap()
    }

    fn home(now: OffsetDateTime) -> Vec<Activity> {
        let front_page = andrew();
        block_on(home_activities(
            &MemoryStore::seeded(now),
            Viewer::Anonymous {
                front_page: &front_page,
            },
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
    fn a_caller_sees_their_own_timeline() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let store = MemoryStore::seeded(now);
        let worf = Handle::parse("worf").unwrap();
        let feed = block_on(home_activities(&store, Viewer::Caller(&worf), now)).unwrap();
        let messages: Vec<_> = feed.iter().map(|a| a.message.as_str()).collect();
        assert_eq!(messages, ["I am out of prune juice"]);
        let feed = block_on(home_activities(&store, Viewer::Caller(&andrew()), now)).unwrap();
        assert_eq!(feed, home(now));
    }

    #[test]
    fn an_unknown_caller_is_not_registered() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let nobody = Handle::parse("nobody").unwrap();
        let error = block_on(home_activities(
            &MemoryStore::seeded(now),
            Viewer::Caller(&nobody),
            now,
        ))
        .unwrap_err();
        assert_eq!((error.code(), error.status()), ("user_not_registered", 403));
    }

    #[test]
    fn a_front_page_nobody_has_is_empty() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let nobody = Handle::parse("nobody").unwrap();
        let viewer = Viewer::Anonymous { front_page: &nobody };
        assert!(block_on(home_activities(&MemoryStore::seeded(now), viewer, now))
            .unwrap()
            .is_empty());
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
