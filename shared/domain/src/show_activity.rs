//! One activity (`GET /api/activities/{uuid}`).

use time::OffsetDateTime;

use crate::validate;
use crate::{mock, Activity, Error, Result};

/// Returns the activity (post or reply) with this id as of `now`, with its replies.
///
/// `activity_uuid` is the path parameter. Fails with `uuid_invalid` (422) when it is
/// not a UUID and `activity_not_found` (404) when no mock activity has it.
///
/// Traced as a span `mock-data` (Honeycomb: `show-activity-mock-data`) with
/// `app.activity_uuid`, `app.now` (and `app.error_code` on failure), and one
/// `ShowActivity` event.
pub fn show_activity(activity_uuid: &str, now: OffsetDateTime) -> Result<Activity> {
    let span = tracing::info_span!(
        "mock-data",
        otel.name = "show-activity-mock-data",
        app.activity_uuid = activity_uuid,
        app.now = %now,
        app.error_code = tracing::field::Empty,
    );
    let _entered = span.enter();
    let result = find(activity_uuid, now);
    match &result {
        Ok(activity) => tracing::info!(activity_uuid = %activity.uuid, "ShowActivity"),
        Err(error) => {
            span.record("app.error_code", error.code());
            tracing::info!(error_code = error.code(), "ShowActivity");
        }
    }
    result
}

fn find(activity_uuid: &str, now: OffsetDateTime) -> Result<Activity> {
    let uuid = validate::activity_uuid(activity_uuid)?;
    mock::find_activity(uuid, now).ok_or(Error::ActivityNotFound(uuid))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: OffsetDateTime = OffsetDateTime::UNIX_EPOCH;

    #[test]
    fn finds_posts_with_their_replies() {
        let activity = show_activity("68f126b0-1ceb-4a33-88be-d90fa7109eee", NOW).unwrap();
        assert_eq!(activity.message, "Cloud is fun!");
        assert_eq!(activity.replies.len(), 1);
        let activity = show_activity("C0C0A11E-6E1F-4B7A-9A3D-5E2F8C1D4B90", NOW).unwrap();
        assert_eq!(activity.message, "I am white unicorn");
    }

    #[test]
    fn finds_replies() {
        let reply = show_activity("26e12864-1c26-5c3a-9658-97a10f8fea67", NOW).unwrap();
        assert_eq!(reply.message, "This post has no honor!");
    }

    #[test]
    fn not_a_uuid_is_uuid_invalid() {
        for input in ["", "home", "68f126b0"] {
            let error = show_activity(input, NOW).unwrap_err();
            assert_eq!((error.code(), error.status()), ("uuid_invalid", 422));
        }
    }

    #[test]
    fn unknown_is_activity_not_found() {
        let error = show_activity("00000000-0000-0000-0000-000000000000", NOW).unwrap_err();
        assert_eq!(error, Error::ActivityNotFound(uuid::Uuid::nil()));
        assert_eq!((error.code(), error.status()), ("activity_not_found", 404));
    }
}
