//! The errors Cruddur's services answer with, each with a stable machine code.
//!
//! Most variants are a validation error (the request is well-formed JSON but its values
//! are wrong: HTTP 422) or a missing resource (HTTP 404); a signed-in caller the store
//! does not know is refused (HTTP 403); the last two are the store
//! failing (HTTP 503 when the database is unavailable, 500 when it answers with an
//! error). The code ([`Error::code`]) is the string the Cruddur backend puts in its
//! `errors` list, so front ends can match on it; the `Display` text is for people and
//! logs, and never carries the database's own words (those are traced where they happen).
//!
//! A body that is not JSON at all is the caller's concern (the function crate), not a
//! domain error.

use uuid::Uuid;

use crate::store::StoreError;

/// Result of a Cruddur service.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a Cruddur service refused a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The message is missing, empty or only whitespace (`message_blank`).
    #[error("message is blank")]
    MessageBlank,
    /// The message has more characters than the route allows (`message_exceed_max_chars`).
    #[error("message has {actual} characters, more than the {max} allowed")]
    MessageExceedMaxChars {
        /// The route's limit, in characters.
        max: usize,
        /// The message's length, in characters.
        actual: usize,
    },
    /// The ttl is missing, empty or only whitespace (`ttl_blank`).
    #[error("ttl is blank")]
    TtlBlank,
    /// The ttl is not one of 30-days, 7-days, 3-days, 1-day, 12-hours, 3-hours, 1-hour (`ttl_invalid`).
    #[error("ttl {0:?} is not one of 30-days, 7-days, 3-days, 1-day, 12-hours, 3-hours, 1-hour")]
    TtlInvalid(String),
    /// The search term is missing, empty or only whitespace (`search_term_blank`).
    #[error("search term is blank")]
    SearchTermBlank,
    /// The handle is missing, empty, only whitespace or a lone `@` (`handle_blank`).
    #[error("handle is blank")]
    HandleBlank,
    /// The handle is not 1-32 characters of `[A-Za-z0-9_]` after an optional `@` (`handle_invalid`).
    #[error("handle {0:?} is not 1-32 characters of letters, digits and underscores")]
    HandleInvalid(String),
    /// The activity id is not a UUID (`uuid_invalid`).
    #[error("{0:?} is not a UUID")]
    UuidInvalid(String),
    /// The message's receiver is missing, empty or only whitespace (`user_receiver_handle_blank`).
    #[error("user receiver handle is blank")]
    UserReceiverHandleBlank,
    /// The message's receiver is not a valid handle (`user_receiver_handle_invalid`).
    #[error("user receiver handle {0:?} is not 1-32 characters of letters, digits and underscores")]
    UserReceiverHandleInvalid(String),
    /// No activity (post or reply) has this id (`activity_not_found`).
    #[error("activity {0} not found")]
    ActivityNotFound(Uuid),
    /// No user has this handle (`user_not_found`).
    #[error("user @{0} not found")]
    UserNotFound(String),
    /// The signed-in caller's handle names no user of the store (`user_not_registered`):
    /// they signed in, but have no Cruddur account to act as.
    #[error("you are signed in as @{0}, but no Cruddur user has that handle: ask for an account")]
    UserNotRegistered(String),
    /// The database cannot be reached or used now; retrying later may work (`database_unavailable`).
    #[error("the database is unavailable: try again later")]
    DatabaseUnavailable,
    /// The database answered with an error (`database_error`).
    #[error("the database failed to answer")]
    DatabaseError,
}

impl From<StoreError> for Error {
    /// [`Error::DatabaseUnavailable`] or [`Error::DatabaseError`], without the store's details.
    fn from(error: StoreError) -> Error {
        match error {
            StoreError::Unavailable(_) => Error::DatabaseUnavailable,
            StoreError::Query(_) => Error::DatabaseError,
        }
    }
}

/// The families of [`Error`], which decide the HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request's values are wrong: 422 Unprocessable Content.
    Validation,
    /// What the request names does not exist: 404 Not Found.
    NotFound,
    /// The caller may not act: 403 Forbidden.
    Forbidden,
    /// The store is unavailable: 503 Service Unavailable.
    Unavailable,
    /// The store failed: 500 Internal Server Error.
    Internal,
}

impl Error {
    /// The stable machine code, as the Cruddur backend spells it (e.g. `message_blank`).
    pub fn code(&self) -> &'static str {
        match self {
            Error::MessageBlank => "message_blank",
            Error::MessageExceedMaxChars { .. } => "message_exceed_max_chars",
            Error::TtlBlank => "ttl_blank",
            Error::TtlInvalid(_) => "ttl_invalid",
            Error::SearchTermBlank => "search_term_blank",
            Error::HandleBlank => "handle_blank",
            Error::HandleInvalid(_) => "handle_invalid",
            Error::UuidInvalid(_) => "uuid_invalid",
            Error::UserReceiverHandleBlank => "user_receiver_handle_blank",
            Error::UserReceiverHandleInvalid(_) => "user_receiver_handle_invalid",
            Error::ActivityNotFound(_) => "activity_not_found",
            Error::UserNotFound(_) => "user_not_found",
            Error::UserNotRegistered(_) => "user_not_registered",
            Error::DatabaseUnavailable => "database_unavailable",
            Error::DatabaseError => "database_error",
        }
    }

    /// Whether this is a validation error, a missing resource or a store failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::ActivityNotFound(_) | Error::UserNotFound(_) => ErrorKind::NotFound,
            Error::UserNotRegistered(_) => ErrorKind::Forbidden,
            Error::DatabaseUnavailable => ErrorKind::Unavailable,
            Error::DatabaseError => ErrorKind::Internal,
            Error::MessageBlank
            | Error::MessageExceedMaxChars { .. }
            | Error::TtlBlank
            | Error::TtlInvalid(_)
            | Error::SearchTermBlank
            | Error::HandleBlank
            | Error::HandleInvalid(_)
            | Error::UuidInvalid(_)
            | Error::UserReceiverHandleBlank
            | Error::UserReceiverHandleInvalid(_) => ErrorKind::Validation,
        }
    }

    /// The HTTP status to answer with: 422 for validation errors, 404 for missing resources,
    /// 403 for a caller the store does not know, 503 for an unavailable store and 500 for a
    /// failed one.
    pub fn status(&self) -> u16 {
        match self.kind() {
            ErrorKind::Validation => 422,
            ErrorKind::NotFound => 404,
            ErrorKind::Forbidden => 403,
            ErrorKind::Unavailable => 503,
            ErrorKind::Internal => 500,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<Error> {
        vec![
            Error::MessageBlank,
            Error::MessageExceedMaxChars {
                max: 280,
                actual: 281,
            },
            Error::TtlBlank,
            Error::TtlInvalid("2-days".into()),
            Error::SearchTermBlank,
            Error::HandleBlank,
            Error::HandleInvalid("a b".into()),
            Error::UuidInvalid("nope".into()),
            Error::UserReceiverHandleBlank,
            Error::UserReceiverHandleInvalid("a-b".into()),
            Error::ActivityNotFound(Uuid::nil()),
            Error::UserNotFound("nobody".into()),
            Error::UserNotRegistered("nobody".into()),
            Error::DatabaseUnavailable,
            Error::DatabaseError,
        ]
    }

    #[test]
    fn codes_are_the_cruddur_ones_and_unique() {
        let codes: Vec<_> = all().iter().map(Error::code).collect();
        assert_eq!(
            codes,
            [
                "message_blank",
                "message_exceed_max_chars",
                "ttl_blank",
                "ttl_invalid",
                "search_term_blank",
                "handle_blank",
                "handle_invalid",
                "uuid_invalid",
                "user_receiver_handle_blank",
                "user_receiver_handle_invalid",
                "activity_not_found",
                "user_not_found",
                "user_not_registered",
                "database_unavailable",
                "database_error",
            ]
        );
    }

    #[test]
    fn not_found_is_404_store_failures_5xx_and_the_rest_422() {
        for error in all() {
            let expected = match error.code() {
                "database_unavailable" => 503,
                "database_error" => 500,
                "user_not_registered" => 403,
                code if code.ends_with("_not_found") => 404,
                _ => 422,
            };
            assert_eq!(error.status(), expected, "{}", error.code());
        }
    }

    #[test]
    fn display_is_for_people() {
        assert_eq!(
            Error::MessageExceedMaxChars {
                max: 280,
                actual: 300
            }
            .to_string(),
            "message has 300 characters, more than the 280 allowed"
        );
        assert_eq!(
            Error::UserNotFound("worf".into()).to_string(),
            "user @worf not found"
        );
    }

    #[test]
    fn store_errors_keep_their_details_out() {
        let error = Error::from(StoreError::Unavailable("connection refused to 10.0.0.1".into()));
        assert_eq!((error.code(), error.status()), ("database_unavailable", 503));
        assert!(!error.to_string().contains("10.0.0.1"));
        let error = Error::from(StoreError::Query("relation does not exist".into()));
        assert_eq!((error.code(), error.status()), ("database_error", 500));
    }
}
