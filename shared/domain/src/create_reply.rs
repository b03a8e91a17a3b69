//! Replying to an activity (`POST /api/activities/{activity_uuid}/reply`).

use serde::Deserialize;
use time::OffsetDateTime;
use tracing::{field::Empty, Instrument};
use uuid::Uuid;

use crate::read;
use crate::store::{NewActivity, Store};
use crate::validate::{self, REPLY_MAX_CHARS};
use crate::{Error, Handle, Reply, Result};

/// The body of `POST /api/activities/{activity_uuid}/reply`.
///
/// The field is optional in the JSON so that a missing one is reported as
/// `message_blank` rather than as a deserialization error.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct CreateReply {
    /// The text: not blank, at most 1024 characters.
    pub message: Option<String>,
}

/// Creates and stores the signed-in caller `user_handle`'s reply, at `now`, to the activity
/// (post or reply) `activity_uuid`.
///
/// Checks, in order: the path's id (`uuid_invalid`), the message (`message_blank`,
/// `message_exceed_max_chars`), all 422, then that the author is a user
/// (`user_not_registered`, 403) and that the activity exists (`activity_not_found`, 404). The reply gets a fresh id and expires with
/// the activity it replies to. A failing store answers `database_unavailable` (503) or
/// `database_error` (500).
///
/// Traced as a span `new-reply` (Honeycomb: `create-reply-new-reply`) with
/// `app.activity_uuid`, `app.user_handle`, `app.message_length` (characters),
/// `app.reply_uuid` (or `app.error_code`), and one `CreateReply` event. The text itself is
/// not traced.
pub async fn create_reply(
    store: &dyn Store,
    activity_uuid: &str,
    input: CreateReply,
    user_handle: &Handle,
    now: OffsetDateTime,
) -> Result<Reply> {
    let span = tracing::info_span!(
        "new-reply",
        otel.name = "create-reply-new-reply",
        app.activity_uuid = activity_uuid,
        app.user_handle = user_handle.as_str(),
        app.message_length = input.message.as_deref().map(|m| m.chars().count()),
        app.now = %now,
        app.reply_uuid = Empty,
        app.error_code = Empty,
    );
    let result = create(store, activity_uuid, input, user_handle, now)
        .instrument(span.clone())
        .await;
    span.in_scope(|| match &result {
        Ok(reply) => {
            span.record("app.reply_uuid", tracing::field::display(reply.activity.uuid));
            tracing::info!(
                reply_uuid = %reply.activity.uuid,
                activity_uuid = %reply.reply_to_activity_uuid,
                "CreateReply"
            );
        }
        Err(error) => {
            span.record("app.error_code", error.code());
            tracing::info!(error_code = error.code(), "CreateReply");
        }
    });
    result
}

async fn create(
    store: &dyn Store,
    activity_uuid: &str,
    input: CreateReply,
    user_handle: &Handle,
    now: OffsetDateTime,
) -> Result<Reply> {
    let activity_uuid = validate::activity_uuid(activity_uuid)?;
    let message = validate::message(input.message, REPLY_MAX_CHARS)?;
    let user = read::caller(store, user_handle).await?;
    let parent = store
        .activity(activity_uuid)
        .await?
        .ok_or(Error::ActivityNotFound(activity_uuid))?;
    let reply = NewActivity {
        uuid: Uuid::new_v4(),
        user_uuid: user.uuid,
        message,
        created_at: now,
        expires_at: parent.expires_at,
        reply_to_activity_uuid: Some(parent.uuid),
    };
    Ok(Reply {
        activity: store.insert_activity(&reply).await?,
        reply_to_activity_uuid: parent.uuid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{block_on, show_activity, MemoryStore};

    const NOW: OffsetDateTime = OffsetDateTime::UNIX_EPOCH;
    const GAREK_POST: &str = "248959df-3079-4947-b847-9e0892d1bab4";

    fn create_reply(
        activity_uuid: &str,
        input: CreateReply,
        user_handle: &Handle,
        now: OffsetDateTime,
    ) -> Result<Reply> {
        block_on(super::create_reply(
            &MemoryStore::seeded(now),
            activity_uuid,
            input,
            user_handle,
            now,
        ))
    }

    fn input(message: &str) -> CreateReply {
        CreateReply {
            message: Some(message.into()),
        }
    }

    fn worf() -> Handle {
        Handle::parse("@worf").unwrap()
    }

    fn code(activity_uuid: &str, input: CreateReply) -> &'static str {
        create_reply(activity_uuid, input, &worf(), NOW)
            .unwrap_err()
            .code()
    }

    #[test]
    fn replies_until_the_activity_expires() {
        let reply = create_reply(GAREK_POST, input("Tailor? Spy."), &worf(), NOW).unwrap();
        assert_eq!(reply.reply_to_activity_uuid.to_string(), GAREK_POST);
        let activity = &reply.activity;
        assert_eq!(
            (activity.handle.as_str(), activity.display_name.as_str()),
            ("worf", "Worf")
        );
        assert_eq!(activity.message, "Tailor? Spy.");
        assert_eq!(activity.created_at, NOW);
        let store = MemoryStore::seeded(NOW);
        let garek_post = block_on(show_activity(&store, GAREK_POST)).unwrap();
        assert_eq!(activity.expires_at, garek_post.expires_at);
    }

    #[test]
    fn appears_in_the_activitys_replies() {
        let store = MemoryStore::seeded(NOW);
        let reply = block_on(super::create_reply(
            &store,
            GAREK_POST,
            input("Spy."),
            &worf(),
            NOW,
        ))
        .unwrap();
        let garek_post = block_on(show_activity(&store, GAREK_POST)).unwrap();
        assert_eq!(garek_post.replies, std::slice::from_ref(&reply.activity));
        assert_eq!(garek_post.replies_count, 1);
        // Replies to replies work too.
        let again = block_on(super::create_reply(
            &store,
            &reply.activity.uuid.to_string(),
            input("Tailor."),
            &Handle::parse("andrewbrown").unwrap(),
            NOW,
        ))
        .unwrap();
        assert_eq!(again.reply_to_activity_uuid, reply.activity.uuid);
    }

    #[test]
    fn serializes_flat_with_reply_to() {
        let reply = create_reply(GAREK_POST, input("hi"), &worf(), NOW).unwrap();
        let json = serde_json::to_value(&reply).unwrap();
        assert_eq!(json["reply_to_activity_uuid"], GAREK_POST);
        assert_eq!(json["uuid"], reply.activity.uuid.to_string());
        assert_eq!(json["message"], "hi");
        assert!(json.get("activity").is_none());
    }

    #[test]
    fn deserializes_with_missing_message() {
        let body: CreateReply = serde_json::from_str(r#"{"message": "hi"}"#).unwrap();
        assert_eq!(body, input("hi"));
        let body: CreateReply = serde_json::from_str("{}").unwrap();
        assert_eq!(code(GAREK_POST, body), "message_blank");
    }

    #[test]
    fn message_is_1024_characters_at_most() {
        assert!(create_reply(GAREK_POST, input(&"é".repeat(1024)), &worf(), NOW).is_ok());
        let error = create_reply(GAREK_POST, input(&"é".repeat(1025)), &worf(), NOW).unwrap_err();
        assert_eq!(
            error,
            Error::MessageExceedMaxChars {
                max: 1024,
                actual: 1025
            }
        );
    }

    #[test]
    fn validation_codes() {
        assert_eq!(code("nope", input("hi")), "uuid_invalid");
        assert_eq!(code(GAREK_POST, input(" \n")), "message_blank");
        assert_eq!(code(GAREK_POST, CreateReply::default()), "message_blank");
        assert_eq!(
            code(GAREK_POST, input(&"x".repeat(1025))),
            "message_exceed_max_chars"
        );
        // The id is checked before the message.
        assert_eq!(code("nope", CreateReply::default()), "uuid_invalid");
    }

    #[test]
    fn not_found_codes() {
        let error = create_reply(&Uuid::nil().to_string(), input("hi"), &worf(), NOW).unwrap_err();
        assert_eq!((error.code(), error.status()), ("activity_not_found", 404));
        let nobody = Handle::parse("nobody").unwrap();
        let error = create_reply(GAREK_POST, input("hi"), &nobody, NOW).unwrap_err();
        assert_eq!((error.code(), error.status()), ("user_not_registered", 403));
    }
}
