//! Sending a direct message (`POST /api/messages`).

use serde::Deserialize;
use time::OffsetDateTime;
use tracing::{field::Empty, Instrument};
use uuid::Uuid;

use crate::read;
use crate::store::{NewMessage, Store};
use crate::validate::{self, is_blank, MESSAGE_MAX_CHARS};
use crate::{Error, Handle, Message, Result};

/// The body of `POST /api/messages`.
///
/// Both fields are optional in the JSON so that a missing one is reported as
/// `message_blank` or `user_receiver_handle_blank` rather than as a deserialization error.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct CreateMessage {
    /// The text: not blank, at most 1024 characters.
    pub message: Option<String>,
    /// Who receives it: a handle, with or without its `@`.
    pub user_receiver_handle: Option<String>,
}

/// Sends (stores) the signed-in caller `user_sender_handle`'s message at `now`, in the
/// conversation of sender and receiver (made on the first message).
///
/// Checks, in order: the message (`message_blank`, `message_exceed_max_chars`), the
/// receiver (`user_receiver_handle_blank`, `user_receiver_handle_invalid`), all 422, then
/// that the sender is a user (`user_not_registered`, 403) and that the receiver exists
/// (`user_not_found`, 404). The message gets a fresh id. A
/// failing store answers `database_unavailable` (503) or `database_error` (500).
///
/// Traced as a span `new-message` (Honeycomb: `create-message-new-message`) with
/// `app.user_sender_handle`, `app.user_receiver_handle`, `app.message_length`
/// (characters), `app.message_uuid` (or `app.error_code`), and one `CreateMessage` event.
/// The text itself is not traced.
pub async fn create_message(
    store: &dyn Store,
    input: CreateMessage,
    user_sender_handle: &Handle,
    now: OffsetDateTime,
) -> Result<Message> {
    let span = tracing::info_span!(
        "new-message",
        otel.name = "create-message-new-message",
        app.user_sender_handle = user_sender_handle.as_str(),
        app.user_receiver_handle = input.user_receiver_handle.as_deref(),
        app.message_length = input.message.as_deref().map(|m| m.chars().count()),
        app.now = %now,
        app.message_uuid = Empty,
        app.error_code = Empty,
    );
    let result = create(store, input, user_sender_handle, now)
        .instrument(span.clone())
        .await;
    span.in_scope(|| match &result {
        Ok(message) => {
            span.record("app.message_uuid", tracing::field::display(message.uuid));
            tracing::info!(message_uuid = %message.uuid, "CreateMessage");
        }
        Err(error) => {
            span.record("app.error_code", error.code());
            tracing::info!(error_code = error.code(), "CreateMessage");
        }
    });
    result
}

async fn create(
    store: &dyn Store,
    input: CreateMessage,
    user_sender_handle: &Handle,
    now: OffsetDateTime,
) -> Result<Message> {
    let message = validate::message(input.message, MESSAGE_MAX_CHARS)?;
    let receiver = input
        .user_receiver_handle
        .filter(|h| !is_blank(h))
        .ok_or(Error::UserReceiverHandleBlank)?;
    let receiver = Handle::parse(&receiver).map_err(|_| Error::UserReceiverHandleInvalid(receiver))?;
    let sender = read::caller(store, user_sender_handle).await?;
    let receiver = read::user(store, &receiver).await?;
    let message = NewMessage {
        uuid: Uuid::new_v4(),
        sender_uuid: sender.uuid,
        receiver_uuid: receiver.uuid,
        message,
        created_at: now,
    };
    Ok(store.insert_message(&message).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{block_on, messages, MemoryStore};

    const NOW: OffsetDateTime = OffsetDateTime::UNIX_EPOCH;

    fn create_message(
        input: CreateMessage,
        user_sender_handle: &Handle,
        now: OffsetDateTime,
    ) -> Result<Message> {
        block_on(super::create_message(
            &MemoryStore::seeded(now),
            input,
            user_sender_handle,
            now,
        ))
    }

    fn input(message: &str, receiver: &str) -> CreateMessage {
        CreateMessage {
            message: Some(message.into()),
            user_receiver_handle: Some(receiver.into()),
        }
    }

    fn andrew() -> Handle {
        Handle::parse("andrewbrown").unwrap()
    }

    fn code(input: CreateMessage) -> &'static str {
        create_message(input, &andrew(), NOW).unwrap_err().code()
    }

    #[test]
    fn sends_a_message_from_the_sender() {
        for receiver in ["worf", "@worf", "Garek"] {
            let message = create_message(input("Qapla'!", receiver), &andrew(), NOW).unwrap();
            assert_eq!(message.handle, "andrewbrown");
            assert_eq!(message.display_name, "Andrew Brown");
            assert_eq!(message.message, "Qapla'!");
            assert_eq!(message.created_at, NOW);
        }
    }

    #[test]
    fn appears_in_the_conversation() {
        let store = MemoryStore::seeded(NOW);
        let message = block_on(super::create_message(
            &store,
            input("Qapla'!", "garek"),
            &andrew(),
            NOW,
        ))
        .unwrap();
        let conversation = block_on(messages(&store, &andrew(), "@garek")).unwrap();
        assert_eq!(conversation, [message]);
    }

    #[test]
    fn deserializes_with_missing_fields() {
        let body: CreateMessage =
            serde_json::from_str(r#"{"message": "hi", "user_receiver_handle": "worf"}"#).unwrap();
        assert_eq!(body, input("hi", "worf"));
        let body: CreateMessage = serde_json::from_str(r#"{"message": "hi"}"#).unwrap();
        assert_eq!(code(body), "user_receiver_handle_blank");
    }

    #[test]
    fn message_is_1024_characters_at_most() {
        assert!(create_message(input(&"é".repeat(1024), "worf"), &andrew(), NOW).is_ok());
        let error = create_message(input(&"é".repeat(1025), "worf"), &andrew(), NOW).unwrap_err();
        assert_eq!(
            error,
            Error::MessageExceedMaxChars {
                max: 1024,
                actual: 1025
            }
        );
        assert_eq!(error.code(), "message_exceed_max_chars");
    }

    #[test]
    fn validation_codes() {
        assert_eq!(code(input("", "worf")), "message_blank");
        assert_eq!(
            code(CreateMessage {
                message: None,
                ..input("", "worf")
            }),
            "message_blank"
        );
        assert_eq!(code(input("hi", "  ")), "user_receiver_handle_blank");
        assert_eq!(
            code(CreateMessage {
                user_receiver_handle: None,
                ..input("hi", "")
            }),
            "user_receiver_handle_blank"
        );
        assert_eq!(code(input("hi", "@")), "user_receiver_handle_invalid");
        let error = create_message(input("hi", "not a handle"), &andrew(), NOW).unwrap_err();
        assert_eq!(error, Error::UserReceiverHandleInvalid("not a handle".into()));
        assert_eq!(error.status(), 422);
        // The message is checked first, as the Cruddur backend reports it.
        assert_eq!(code(CreateMessage::default()), "message_blank");
    }

    #[test]
    fn an_unknown_receiver_is_not_found_and_an_unknown_sender_not_registered() {
        let error = create_message(input("hi", "@nobody"), &andrew(), NOW).unwrap_err();
        assert_eq!(error, Error::UserNotFound("nobody".into()));
        assert_eq!(error.status(), 404);
        let stranger = Handle::parse("stranger").unwrap();
        let error = create_message(input("hi", "worf"), &stranger, NOW).unwrap_err();
        assert_eq!(error, Error::UserNotRegistered("stranger".into()));
        assert_eq!(error.status(), 403);
    }
}
