//! One user's activities (`GET /api/activities/@{handle}`).

use time::OffsetDateTime;

use crate::{mock, Activity, Error, Handle, Result};

/// Returns the posts (not replies) by `handle` as of `now`, in the mock data's order.
///
/// `handle` is the path parameter, with or without its `@`; it is matched ignoring
/// ASCII case. Fails with `handle_blank` or `handle_invalid` (422) when it is not a
/// handle, and `user_not_found` (404) when no user has it; a known user with no posts
/// gets an empty list.
///
/// Traced as a span `mock-data` (Honeycomb: `user-activities-mock-data`) with
/// `app.handle`, `app.now`, `app.result_length` (or `app.error_code`), and one
/// `UserActivities` event.
pub fn user_activities(handle: &str, now: OffsetDateTime) -> Result<Vec<Activity>> {
    let span = tracing::info_span!(
        "mock-data",
        otel.name = "user-activities-mock-data",
        app.handle = handle,
        app.now = %now,
        app.result_length = tracing::field::Empty,
        app.error_code = tracing::field::Empty,
    );
    let _entered = span.enter();
    let result = find(handle, now);
    match &result {
        Ok(results) => {
            span.record("app.result_length", results.len());
            tracing::info!(result_length = results.len(), "UserActivities");
        }
        Err(error) => {
            span.record("app.error_code", error.code());
            tracing::info!(error_code = error.code(), "UserActivities");
        }
    }
    result
}

fn find(handle: &str, now: OffsetDateTime) -> Result<Vec<Activity>> {
    let handle = Handle::parse(handle)?;
    let user = mock::user(handle.as_str()).ok_or_else(|| Error::UserNotFound(handle.to_string()))?;
    let mut activities = mock::activities(now);
    activities.retain(|activity| activity.handle == user.handle);
    Ok(activities)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: OffsetDateTime = OffsetDateTime::UNIX_EPOCH;

    fn messages(handle: &str) -> Vec<String> {
        user_activities(handle, NOW)
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
        let activities = user_activities("andrewbrown", NOW).unwrap();
        assert_eq!(activities[0].replies[0].handle, "worf");
    }

    #[test]
    fn handle_errors() {
        assert_eq!(user_activities("@", NOW).unwrap_err().code(), "handle_blank");
        assert_eq!(
            user_activities("not a handle", NOW).unwrap_err().code(),
            "handle_invalid"
        );
        let error = user_activities("@nobody", NOW).unwrap_err();
        assert_eq!(error, Error::UserNotFound("nobody".into()));
        assert_eq!((error.code(), error.status()), ("user_not_found", 404));
    }
}
