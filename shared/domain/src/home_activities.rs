//! The home feed (`GET /api/activities/home`).

use time::OffsetDateTime;

use crate::{mock, Activity};

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
    let results = mock::home_activities(now);
    span.record("app.result_length", results.len());
    tracing::info!(result_length = results.len(), "HomeActivities");
    results
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

    #[test]
    fn json_shape_is_the_cruddur_one() {
        let now = time::macros::datetime!(2023-02-20 12:00 UTC);
        let json = serde_json::to_value(&home_activities(now)[0]).unwrap();
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
