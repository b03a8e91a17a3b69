//! The home feed.

use time::{Duration, OffsetDateTime};
use uuid::{uuid, Uuid};

use crate::Activity;

/// Returns the home feed as of `now`: the seed app's three mock activities.
///
/// The work is traced as the seed traced it: an X-Ray subsegment `mock-data`
/// (the span's name) that Honeycomb shows as `home-activities-mock-data`
/// (`otel.name`), with the attributes `app.now` and `app.result_length`.
pub fn home_activities(now: OffsetDateTime) -> Vec<Activity> {
    let span = tracing::info_span!(
        "mock-data",
        otel.name = "home-activities-mock-data",
        app.now = %now,
        app.result_length = tracing::field::Empty,
    );
    let _entered = span.enter();
    let results = mock_activities(now);
    span.record("app.result_length", results.len());
    tracing::info!(result_length = results.len(), "HomeActivities");
    results
}

const ANDREW_POST: Uuid = uuid!("68f126b0-1ceb-4a33-88be-d90fa7109eee");
const WORF_REPLY: Uuid = uuid!("26e12864-1c26-5c3a-9658-97a10f8fea67");
const WORF_POST: Uuid = uuid!("66e12864-8c26-4c3a-9658-95a10f8fea67");
const GAREK_POST: Uuid = uuid!("248959df-3079-4947-b847-9e0892d1bab4");

fn mock_activities(now: OffsetDateTime) -> Vec<Activity> {
    let activity = |uuid, handle: &str, display_name: &str, message: &str, created_at, expires_at| Activity {
        uuid,
        handle: handle.to_owned(),
        display_name: display_name.to_owned(),
        message: message.to_owned(),
        created_at,
        expires_at,
        likes_count: 0,
        replies_count: 0,
        reposts_count: 0,
        replies: Vec::new(),
    };
    let reply = activity(
        WORF_REPLY,
        "worf",
        "Worf",
        "This post has no honor!",
        now - Duration::days(2),
        now + Duration::days(5),
    );
    vec![
        Activity {
            likes_count: 5,
            replies_count: 1,
            reposts_count: 0,
            replies: vec![reply],
            ..activity(
                ANDREW_POST,
                "andrewbrown",
                "Andrew Brown",
                "Cloud is fun!",
                now - Duration::days(2),
                now + Duration::days(5),
            )
        },
        activity(
            WORF_POST,
            "worf",
            "Worf",
            "I am out of prune juice",
            now - Duration::days(7),
            now + Duration::days(9),
        ),
        Activity {
            likes_count: 0,
            ..activity(
                GAREK_POST,
                "garek",
                "Garek",
                "My dear doctor, I am just simple tailor",
                now - Duration::hours(1),
                now + Duration::hours(12),
            )
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_mock_activities_relative_to_now() {
        let now = OffsetDateTime::now_utc();
        let feed = home_activities(now);
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
}
