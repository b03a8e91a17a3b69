//! Activity search (`GET /api/activities/search?term=`).

use time::OffsetDateTime;
use tracing::{field::Empty, Instrument};

use crate::read::{self, data_span};
use crate::validate::is_blank;
use crate::{Activity, Error, Result, Store};

/// Returns the unexpired posts whose message, handle or display name contains `term`,
/// ignoring case, newest first, each with its replies.
///
/// `term` is the query parameter (`None` when absent); surrounding whitespace is
/// ignored. Fails with `search_term_blank` (422) when it is absent, empty or only
/// whitespace. No match is an empty list, not an error. A failing store answers
/// `database_unavailable` (503) or `database_error` (500).
///
/// Traced as a span `mock-data` (`db-data` with a database; Honeycomb:
/// `search-activities-mock-data`) with `app.term`, `app.now`, `app.result_length` (or
/// `app.error_code`), and one `SearchActivities` event.
pub async fn search_activities(
    store: &dyn Store,
    term: Option<&str>,
    now: OffsetDateTime,
) -> Result<Vec<Activity>> {
    let term = term.map(str::trim);
    let span = data_span!(
        store,
        "search-activities",
        app.term = term,
        app.now = %now,
        app.result_length = Empty,
        app.error_code = Empty,
    );
    let result = search(store, term, now).instrument(span.clone()).await;
    read::record_list(&span, "SearchActivities", &result);
    result
}

async fn search(store: &dyn Store, term: Option<&str>, now: OffsetDateTime) -> Result<Vec<Activity>> {
    let term = term.filter(|t| !is_blank(t)).ok_or(Error::SearchTermBlank)?;
    let posts = store.search_posts(term, now).await?;
    read::with_replies(store, posts).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{block_on, MemoryStore};

    const NOW: OffsetDateTime = OffsetDateTime::UNIX_EPOCH;

    fn search(term: Option<&str>) -> Result<Vec<Activity>> {
        block_on(search_activities(&MemoryStore::seeded(NOW), term, NOW))
    }

    fn messages(term: &str) -> Vec<String> {
        search(Some(term))
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
        assert!(messages("%").is_empty());
    }

    #[test]
    fn blank_term_is_search_term_blank() {
        for term in [None, Some(""), Some("   ")] {
            let error = search(term).unwrap_err();
            assert_eq!(error, Error::SearchTermBlank);
            assert_eq!((error.code(), error.status()), ("search_term_blank", 422));
        }
    }
}
