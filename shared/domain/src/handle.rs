//! User handles: `@andrewbrown` in the UI, `andrewbrown` in the data.

use std::fmt;
use std::str::FromStr;

use crate::{Error, Result};

/// The longest handle, in characters.
pub const HANDLE_MAX_CHARS: usize = 32;

/// A valid user handle, stored without its `@`: 1-32 characters of `[A-Za-z0-9_]`.
///
/// Handles keep the case they were given; lookups compare them ASCII case-insensitively
/// ([`Handle::matches`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Handle(String);

impl Handle {
    /// Parses a handle given with or without a leading `@`.
    ///
    /// Fails with [`Error::HandleBlank`] when `input` is empty, only whitespace or a lone
    /// `@`, and with [`Error::HandleInvalid`] when it is not 1-32 characters of
    /// `[A-Za-z0-9_]` (surrounding whitespace included).
    pub fn parse(input: &str) -> Result<Handle> {
        let bare = input.strip_prefix('@').unwrap_or(input);
        if bare.trim().is_empty() {
            return Err(Error::HandleBlank);
        }
        let valid =
            bare.len() <= HANDLE_MAX_CHARS && bare.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if valid {
            Ok(Handle(bare.to_owned()))
        } else {
            Err(Error::HandleInvalid(input.to_owned()))
        }
    }

    /// The handle without its `@`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `other` (without `@`) names the same user, ignoring ASCII case.
    pub fn matches(&self, other: &str) -> bool {
        self.0.eq_ignore_ascii_case(other)
    }
}

impl FromStr for Handle {
    type Err = Error;

    fn from_str(input: &str) -> Result<Handle> {
        Handle::parse(input)
    }
}

impl fmt::Display for Handle {
    /// Writes the handle without its `@`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Handle {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_with_or_without_at() {
        assert_eq!(Handle::parse("worf").unwrap().as_str(), "worf");
        assert_eq!(Handle::parse("@worf").unwrap().as_str(), "worf");
        assert_eq!(
            Handle::parse("Andrew_Brown_42").unwrap().as_str(),
            "Andrew_Brown_42"
        );
        assert_eq!("@garek".parse::<Handle>().unwrap().to_string(), "garek");
    }

    #[test]
    fn accepts_one_to_thirty_two_characters() {
        assert!(Handle::parse("a").is_ok());
        assert!(Handle::parse(&"a".repeat(32)).is_ok());
        assert!(Handle::parse(&format!("@{}", "a".repeat(32))).is_ok());
        assert_eq!(
            Handle::parse(&"a".repeat(33)),
            Err(Error::HandleInvalid("a".repeat(33)))
        );
    }

    #[test]
    fn blank_is_handle_blank() {
        for input in ["", "   ", "@", "@  ", "\t\n"] {
            let error = Handle::parse(input).unwrap_err();
            assert_eq!(error.code(), "handle_blank", "{input:?}");
        }
    }

    #[test]
    fn other_characters_are_handle_invalid() {
        for input in [
            "andrew brown",
            " worf",
            "worf ",
            "@@worf",
            "wörf",
            "a-b",
            "a.b",
            "worf@",
        ] {
            let error = Handle::parse(input).unwrap_err();
            assert_eq!(error, Error::HandleInvalid(input.to_owned()), "{input:?}");
            assert_eq!(error.code(), "handle_invalid");
        }
    }

    #[test]
    fn matches_ignores_ascii_case() {
        let handle = Handle::parse("AndrewBrown").unwrap();
        assert!(handle.matches("andrewbrown"));
        assert!(!handle.matches("andrew"));
    }
}
