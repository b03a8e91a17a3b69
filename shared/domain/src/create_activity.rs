//! Posting a new activity (`POST /api/activities`).

use serde::Deserialize;
use time::OffsetDateTime;
use tracing::{field::Empty, Instrument};
use uuid::Uuid;

use crate::read;
use crate::store::{NewActivity, Store};
use crate::validate::{self, ACTIVITY_MAX_CHARS};
use crate::{Activity, Handle, Result, Ttl};

/// The body of `POST /api/activities`.
///
/// Both fields are optional in the JSON so that a missing one is reported as
/// `message_blank` or `ttl_blank` rather than as a deserialization error.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct CreateActivity {
    /// The text: not blank, at most 280 characters.
    pub message: Option<String>,
    /// How long the activity lives: `30-days`, `7-days`, `3-days`, `1-day`, `12-hours`,
    /// `3-hours` or `1-hour`.
    pub ttl: Option<String>,
}

/// Creates and stores the signed-in caller `user_handle`'s new activity at `now`, expiring
/// at `now + ttl`.
///
/// Checks, in order: the message (`message_blank`, `message_exceed_max_chars`), the ttl
/// (`ttl_blank`, `ttl_invalid`), all 422, then that the author is a user
/// (`user_not_registered`, 403). The activity gets a fresh id. A failing store answers `database_unavailable`
/// (503) or `database_error` (500).
///
/// Traced as a span `new-activity` (Honeycomb: `create-activity-new-activity`) with
/// `app.user_handle`, `app.message_length` (characters), `app.ttl`, `app.activity_uuid`
/// (or `app.error_code`), and one `CreateActivity` event. The text itself is not traced.
pub async fn create_activity(
    store: &dyn Store,
    input: CreateActivity,
    user_handle: &Handle,
    now: OffsetDateTime,
) -> Result<Activity> {
    let span = tracing::info_span!(
        "new-activity",
        otel.name = "create-activity-new-activity",
        app.user_handle = user_handle.as_str(),
        app.message_length = input.message.as_deref().map(|m| m.chars().count()),
        app.ttl = input.ttl.as_deref(),
        app.now = %now,
        app.activity_uuid = Empty,
        app.error_code = Empty,
    );
    let result = create(store, input, user_handle, now)
        .instrument(span.clone())
        .await;
    span.in_scope(|| match &result {
        Ok(activity) => {
            span.record("app.activity_uuid", tracing::field::display(activity.uuid));
            tracing::info!(activity_uuid = %activity.uuid, "CreateActivity");
        }
        Err(error) => {
            span.record("app.error_code", error.code());
            tracing::info!(error_code = error.code(), "CreateActivity");
        }
    });
    result
}

async fn create(
    store: &dyn Store,
    input: CreateActivity,
    user_handle: &Handle,
    now: OffsetDateTime,
) -> Result<Activity> {
    let message = validate::message(input.message, ACTIVITY_MAX_CHARS)?;
    let ttl = Ttl::parse(input.ttl.as_deref().unwrap_or_default())?;
    let user = read::caller(store, user_handle).await?;
    let activity = NewActivity {
        uuid: Uuid::new_v4(),
        user_uuid: user.uuid,
        message,
        created_at: now,
        expires_at: now + ttl.duration(),
        reply_to_activity_uuid: None,
    };
    Ok(store.insert_activity(&activity).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{block_on, Error, MemoryStore};
    use time::Duration;

    const NOW: OffsetDateTime = OffsetDateTime::UNIX_EPOCH;

    fn create_activity(input: CreateActivity, user_handle: &Handle, now: OffsetDateTime) -> Result<Activity> {
        block_on(super::create_activity(
            &MemoryStore::seeded(now),
            input,
            user_handle,
            now,
        ))
    }

    fn input(message: &str, ttl: &str) -> CreateActivity {
        CreateActivity {
            message: Some(message.into()),
            ttl: Some(ttl.into()),
        }
    }

    fn andrew() -> Handle {
        Handle::parse("andrewbrown").unwrap()
    }

    fn code(input: CreateActivity) -> &'static str {
        create_activity(input, &andrew(), NOW).unwrap_err().code()
    }

    #[test]
    fn creates_an_activity_expiring_after_the_ttl() {
        let activity = create_activity(input("Rust is fun!", "7-days"), &andrew(), NOW).unwrap();
        assert_eq!(activity.handle, "andrewbrown");
        assert_eq!(activity.display_name, "Andrew Brown");
        assert_eq!(activity.message, "Rust is fun!");
        assert_eq!(activity.created_at, NOW);
        assert_eq!(activity.expires_at, NOW + Duration::days(7));
        assert_eq!(
            (
                activity.likes_count,
                activity.replies_count,
                activity.reposts_count
            ),
            (0, 0, 0)
        );
        assert!(activity.replies.is_empty());
        assert_ne!(activity.uuid, Uuid::nil());
        for ttl in Ttl::ALL {
            let activity = create_activity(input("hi", ttl.as_str()), &andrew(), NOW).unwrap();
            assert_eq!(activity.expires_at, NOW + ttl.duration());
        }
    }

    #[test]
    fn stores_it() {
        let store = MemoryStore::seeded(NOW);
        let activity = block_on(super::create_activity(
            &store,
            input("Rust is fun!", "1-day"),
            &andrew(),
            NOW,
        ))
        .unwrap();
        let home = block_on(store.home_feed(crate::seed::ANDREW, NOW)).unwrap();
        assert_eq!(home[0], activity);
    }

    #[test]
    fn deserializes_with_missing_fields() {
        let body: CreateActivity = serde_json::from_str(r#"{"message": "hi", "ttl": "1-hour"}"#).unwrap();
        assert_eq!(body, input("hi", "1-hour"));
        let body: CreateActivity = serde_json::from_str("{}").unwrap();
        assert_eq!(body, CreateActivity::default());
        assert_eq!(code(body), "message_blank");
    }

    #[test]
    fn message_is_280_characters_at_most() {
        assert!(create_activity(input(&"é".repeat(280), "1-day"), &andrew(), NOW).is_ok());
        let error = create_activity(input(&"é".repeat(281), "1-day"), &andrew(), NOW).unwrap_err();
        assert_eq!(
            error,
            Error::MessageExceedMaxChars {
                max: 280,
                actual: 281
            }
        );
        assert_eq!(error.code(), "message_exceed_max_chars");
    }

    #[test]
    fn validation_codes() {
        assert_eq!(code(input("  ", "1-day")), "message_blank");
        assert_eq!(
            code(CreateActivity {
                message: None,
                ttl: Some("1-day".into())
            }),
            "message_blank"
        );
        assert_eq!(code(input("hi", "")), "ttl_blank");
        assert_eq!(
            code(CreateActivity {
                message: Some("hi".into()),
                ttl: None
            }),
            "ttl_blank"
        );
        assert_eq!(code(input("hi", "2-days")), "ttl_invalid");
        // The message is checked first, as the Cruddur backend reports it.
        assert_eq!(code(CreateActivity::default()), "message_blank");
        assert!(
            create_activity(input(" ", "x"), &andrew(), NOW)
                .unwrap_err()
                .status()
                == 422
        );
    }

    #[test]
    fn unknown_author_is_not_registered() {
        let nobody = Handle::parse("nobody").unwrap();
        let error = create_activity(input("hi", "1-day"), &nobody, NOW).unwrap_err();
        assert_eq!((error.code(), error.status()), ("user_not_registered", 403));
    }
}
