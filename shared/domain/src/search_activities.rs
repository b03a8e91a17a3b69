//! Activity search (`GET /api/activities/search?term=`).

use time::OffsetDateTime;

use crate::validate::is_blank;
use crate::{mock, Activity, Error, Result};

/// Returns the posts whose message, handle or display name contains `term`, ignoring case.
///
/// `term` is the query parameter (`None` when absent); surrounding whitespace is
/// ignored. Fails with `search_term_blank` (422) when it is absent, empty or only
/// whitespace. No match is an empty list, not an error.
///
/// Traced as a span `mock-data` (Honeycomb: `search-activities-mock-data`) with
/// `app.term`, `app.now`, `app.result_length` (or `app.error_code`), and one
/// `SearchActivities` event.
pub fn search_activities(term: Option<&str>, now: OffsetDateTime) -> Result<Vec<Activity>> {
    let term = term.map(str::trim);
    let span = tracing::info_span!(
        "mock-data",
        otel.name = "search-activities-mock-data",
        app.term = term,
        app.now = %now,
        app.result_length = tracing::field::Empty,
        app.error_code = tracing::field::Empty,
    );
    let _entered = span.enter();
    let result = search(term, now);
    match &result {
        Ok(results) => {
            span.record("app.result_length", results.len());
            tracing::info!(result_length = results.len(), "SearchActivities");
        }
        Err(error) => {
            span.record("app.error_code", error.code());
            tracing::info!(error_code = error.code(), "SearchActivities");
        }
    }
    result
}

fn search(term: Option<&str>, now: OffsetDateTime) -> Result<Vec<Activity>> {
    let term = term
        .filter(|t| !is_blank(t))
        .ok_or(Error::SearchTermBlank)?
        .to_lowercase();
    let mut activities = mock::activities(now);
    activities.retain(|activity| {
        [&activity.message, &activity.handle, &activity.display_name]
            .iter()
            .any(|text| text.to_lowercase().contains(&term))
    });
    Ok(activities)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: OffsetDateTime = OffsetDateTime::UNIX_EPOCH;

    fn messages(term: &str) -> Vec<String> {
        search_activities(Some(term), NOW)
            .unwrap()
            .into_iter()
            .map(|a| a.message)
            .collect()
    }

    #[test]
    fn matches_message_ignoring_case_and_surrounding_space() {
        assert_eq!(messages("CLOUD"), ["Cloud is fun!"]);
        assert_eq!(messages("  unicorn "), ["I am white unicorn"]);
        assert_eq!(
            messages("i AM"),
            [
                "I am out of prune juice",
                "My dear doctor, I am just simple tailor",
                "I am white unicorn"
            ]
        );
    }

    #[test]
    fn matches_handle_and_display_name() {
        assert_eq!(messages("worf"), ["I am out of prune juice"]);
        assert_eq!(messages("andrew brown"), ["Cloud is fun!"]);
    }

    #[test]
    fn no_match_is_empty() {
        assert!(messages("kubernetes").is_empty());
    }

    #[test]
    fn blank_term_is_search_term_blank() {
        for term in [None, Some(""), Some("   ")] {
            let error = search_activities(term, NOW).unwrap_err();
            assert_eq!(error, Error::SearchTermBlank);
            assert_eq!((error.code(), error.status()), ("search_term_blank", 422));
        }
    }
}
