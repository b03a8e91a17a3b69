//! One conversation (`GET /api/messages/{handle}`).

use tracing::{field::Empty, Instrument};

use crate::read::{self, data_span};
use crate::{Handle, Message, Result, Store};

/// Returns the signed-in `viewer`'s conversation with `handle`: its latest
/// [`MESSAGES_LIMIT`](crate::store::MESSAGES_LIMIT) messages, oldest first.
///
/// `handle` is the path parameter, with or without its `@`; it is matched ignoring
/// ASCII case. Fails with `user_not_registered` (403) when no user has the viewer's
/// handle, `handle_blank` or `handle_invalid` (422) when `handle` is not a handle and
/// `user_not_found` (404) when no user has it; a known user with no conversation gets an
/// empty list. A failing store answers
/// `database_unavailable` (503) or `database_error` (500).
///
/// Traced as a span `mock-data` (`db-data` with a database; Honeycomb:
/// `messages-mock-data`) with `app.handle`, `app.result_length` (or `app.error_code`),
/// and one `Messages` event.
pub async fn messages(store: &dyn Store, viewer: &Handle, handle: &str) -> Result<Vec<Message>> {
    let span = data_span!(
        store,
        "messages",
        app.handle = handle,
        app.result_length = Empty,
        app.error_code = Empty,
    );
    let result = find(store, viewer, handle).instrument(span.clone()).await;
    read::record_list(&span, "Messages", &result);
    result
}

async fn find(store: &dyn Store, viewer: &Handle, handle: &str) -> Result<Vec<Message>> {
    let viewer = read::caller(store, viewer).await?;
    let handle = Handle::parse(handle)?;
    let other = read::user(store, &handle).await?;
    Ok(store.messages(viewer.uuid, other.uuid).await?)
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;

    use super::*;
    use crate::{block_on, MemoryStore};

    const NOW: OffsetDateTime = OffsetDateTime::UNIX_EPOCH;

    fn conversation(handle: &str) -> Result<Vec<Message>> {
        let andrew = Handle::parse("andrewbrown").unwrap();
        block_on(messages(&MemoryStore::seeded(NOW), &andrew, handle))
    }

    fn texts(handle: &str) -> Vec<String> {
        conversation(handle)
            .unwrap()
            .into_iter()
            .map(|m| m.message)
            .collect()
    }

    #[test]
    fn the_conversation_oldest_first() {
        assert_eq!(texts("andrewbrown"), ["Cloud is fun!", "This platform is great!"]);
        assert_eq!(texts("@Worf"), ["Cloud is fun!"]);
        let conversation = conversation("andrewbrown").unwrap();
        assert!(conversation[0].created_at < conversation[1].created_at);
        assert_eq!(conversation[0].display_name, "Andrew Brown");
    }

    #[test]
    fn known_user_without_a_conversation_is_empty() {
        assert!(texts("garek").is_empty());
    }

    #[test]
    fn handle_errors() {
        assert_eq!(conversation("").unwrap_err().code(), "handle_blank");
        assert_eq!(conversation("@worf!").unwrap_err().code(), "handle_invalid");
        let error = conversation("@nobody").unwrap_err();
        assert_eq!((error.code(), error.status()), ("user_not_found", 404));
    }

    #[test]
    fn an_unknown_viewer_is_not_registered() {
        let nobody = Handle::parse("nobody").unwrap();
        let error = block_on(messages(&MemoryStore::seeded(NOW), &nobody, "worf")).unwrap_err();
        assert_eq!((error.code(), error.status()), ("user_not_registered", 403));
    }
}
