//! Checks the services share: message text and activity ids.

use uuid::Uuid;

use crate::{Error, Result};

/// The longest activity (post) message, in characters.
pub const ACTIVITY_MAX_CHARS: usize = 280;

/// The longest reply message, in characters.
pub const REPLY_MAX_CHARS: usize = 1024;

/// The longest direct message, in characters.
pub const MESSAGE_MAX_CHARS: usize = 1024;

/// Whether `text` is empty or only whitespace.
pub(crate) fn is_blank(text: &str) -> bool {
    text.trim().is_empty()
}

/// Checks a message body: present, not blank, at most `max` characters (not bytes).
///
/// Returns the message as given (not trimmed).
pub(crate) fn message(message: Option<String>, max: usize) -> Result<String> {
    let message = message.filter(|m| !is_blank(m)).ok_or(Error::MessageBlank)?;
    let actual = message.chars().count();
    if actual > max {
        return Err(Error::MessageExceedMaxChars { max, actual });
    }
    Ok(message)
}

/// Parses an activity id from a path (hyphenated, simple or braced UUID forms).
pub(crate) fn activity_uuid(input: &str) -> Result<Uuid> {
    Uuid::parse_str(input.trim()).map_err(|_| Error::UuidInvalid(input.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_is_returned_as_given() {
        assert_eq!(message(Some(" hi ".into()), 10), Ok(" hi ".to_owned()));
    }

    #[test]
    fn missing_empty_or_whitespace_message_is_blank() {
        for input in [None, Some(""), Some("   "), Some("\n\t")] {
            let error = message(input.map(str::to_owned), 10).unwrap_err();
            assert_eq!(error.code(), "message_blank");
        }
    }

    #[test]
    fn limit_counts_characters_not_bytes() {
        // 280 two-byte characters: 560 bytes, still within an activity's limit.
        assert!(message(Some("é".repeat(280)), ACTIVITY_MAX_CHARS).is_ok());
        let error = message(Some("é".repeat(281)), ACTIVITY_MAX_CHARS).unwrap_err();
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
    fn uuid_parses_or_is_uuid_invalid() {
        let id = "68f126b0-1ceb-4a33-88be-d90fa7109eee";
        assert_eq!(activity_uuid(id).unwrap().to_string(), id);
        for input in ["", "nope", "68f126b0-1ceb-4a33-88be-d90fa7109ee"] {
            let error = activity_uuid(input).unwrap_err();
            assert_eq!(error, Error::UuidInvalid(input.to_owned()));
            assert_eq!(error.code(), "uuid_invalid");
        }
    }
}
