//! The notifications feed (`GET /api/activities/notifications`).

use time::OffsetDateTime;

use crate::{mock, Activity};

/// Returns the notifications feed as of `now`: the Cruddur backend's mock activity by coco.
///
/// Traced as a span `mock-data` (Honeycomb: `notifications-activities-mock-data`) with
/// `app.now` and `app.result_length`, and one `NotificationsActivities` event.
pub fn notifications_activities(now: OffsetDateTime) -> Vec<Activity> {
    let span = tracing::info_span!(
        "mock-data",
        otel.name = "notifications-activities-mock-data",
        app.now = %now,
        app.result_length = tracing::field::Empty,
    );
    let _entered = span.enter();
    let results = mock::notifications_activities(now);
    span.record("app.result_length", results.len());
    tracing::info!(result_length = results.len(), "NotificationsActivities");
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coco_is_a_white_unicorn() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let feed = notifications_activities(now);
        assert_eq!(feed.len(), 1);
        assert_eq!(feed[0].handle, "coco");
        assert_eq!(feed[0].message, "I am white unicorn");
        assert!(feed[0].created_at < now && feed[0].expires_at > now);
    }
}
