//! One conversation (`GET /api/messages/@{handle}`).

use time::OffsetDateTime;

use crate::{mock, Error, Handle, Message, Result};

/// Returns the signed-in user's conversation with `handle` as of `now`, oldest first.
///
/// `handle` is the path parameter, with or without its `@`; it is matched ignoring
/// ASCII case. Fails with `handle_blank` or `handle_invalid` (422) when it is not a
/// handle and `user_not_found` (404) when no user has it; a known user with no
/// conversation gets an empty list.
///
/// Traced as a span `mock-data` (Honeycomb: `messages-mock-data`) with `app.handle`,
/// `app.now`, `app.result_length` (or `app.error_code`), and one `Messages` event.
pub fn messages(handle: &str, now: OffsetDateTime) -> Result<Vec<Message>> {
    let span = tracing::info_span!(
        "mock-data",
        otel.name = "messages-mock-data",
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
            tracing::info!(result_length = results.len(), "Messages");
        }
        Err(error) => {
            span.record("app.error_code", error.code());
            tracing::info!(error_code = error.code(), "Messages");
        }
    }
    result
}

fn find(handle: &str, now: OffsetDateTime) -> Result<Vec<Message>> {
    let handle = Handle::parse(handle)?;
    let user = mock::user(handle.as_str()).ok_or_else(|| Error::UserNotFound(handle.to_string()))?;
    Ok(mock::conversation(user.handle, now)
        .map(|c| c.messages)
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: OffsetDateTime = OffsetDateTime::UNIX_EPOCH;

    fn texts(handle: &str) -> Vec<String> {
        messages(handle, NOW)
            .unwrap()
            .into_iter()
            .map(|m| m.message)
            .collect()
    }

    #[test]
    fn the_conversation_oldest_first() {
        assert_eq!(texts("andrewbrown"), ["Cloud is fun!", "This platform is great!"]);
        assert_eq!(texts("@Worf"), ["Cloud is fun!"]);
        let conversation = messages("andrewbrown", NOW).unwrap();
        assert!(conversation[0].created_at < conversation[1].created_at);
        assert_eq!(conversation[0].display_name, "Andrew Brown");
    }

    #[test]
    fn known_user_without_a_conversation_is_empty() {
        assert!(texts("garek").is_empty());
    }

    #[test]
    fn handle_errors() {
        assert_eq!(messages("", NOW).unwrap_err().code(), "handle_blank");
        assert_eq!(messages("@worf!", NOW).unwrap_err().code(), "handle_invalid");
        let error = messages("@nobody", NOW).unwrap_err();
        assert_eq!((error.code(), error.status()), ("user_not_found", 404));
    }
}
