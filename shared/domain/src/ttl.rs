//! How long a new activity lives before it expires.

use std::fmt;
use std::str::FromStr;

use time::Duration;

use crate::{Error, Result};

/// A new activity's time to live: one of the choices the Cruddur front end offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ttl {
    /// `30-days`.
    ThirtyDays,
    /// `7-days`.
    SevenDays,
    /// `3-days`.
    ThreeDays,
    /// `1-day`.
    OneDay,
    /// `12-hours`.
    TwelveHours,
    /// `3-hours`.
    ThreeHours,
    /// `1-hour`.
    OneHour,
}

impl Ttl {
    /// Every ttl, longest first.
    pub const ALL: [Ttl; 7] = [
        Ttl::ThirtyDays,
        Ttl::SevenDays,
        Ttl::ThreeDays,
        Ttl::OneDay,
        Ttl::TwelveHours,
        Ttl::ThreeHours,
        Ttl::OneHour,
    ];

    /// Parses the wire form (`30-days`, ..., `1-hour`), ignoring surrounding whitespace.
    ///
    /// Fails with [`Error::TtlBlank`] when `input` is empty or only whitespace, and with
    /// [`Error::TtlInvalid`] when it is not one of the seven choices.
    pub fn parse(input: &str) -> Result<Ttl> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(Error::TtlBlank);
        }
        Ttl::ALL
            .into_iter()
            .find(|ttl| ttl.as_str() == trimmed)
            .ok_or_else(|| Error::TtlInvalid(input.to_owned()))
    }

    /// The wire form, e.g. `7-days`.
    pub fn as_str(self) -> &'static str {
        match self {
            Ttl::ThirtyDays => "30-days",
            Ttl::SevenDays => "7-days",
            Ttl::ThreeDays => "3-days",
            Ttl::OneDay => "1-day",
            Ttl::TwelveHours => "12-hours",
            Ttl::ThreeHours => "3-hours",
            Ttl::OneHour => "1-hour",
        }
    }

    /// How long it is.
    pub fn duration(self) -> Duration {
        match self {
            Ttl::ThirtyDays => Duration::days(30),
            Ttl::SevenDays => Duration::days(7),
            Ttl::ThreeDays => Duration::days(3),
            Ttl::OneDay => Duration::days(1),
            Ttl::TwelveHours => Duration::hours(12),
            Ttl::ThreeHours => Duration::hours(3),
            Ttl::OneHour => Duration::hours(1),
        }
    }
}

impl FromStr for Ttl {
    type Err = Error;

    fn from_str(input: &str) -> Result<Ttl> {
        Ttl::parse(input)
    }
}

impl fmt::Display for Ttl {
    /// Writes the wire form, e.g. `7-days`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_wire_form() {
        let parsed: Vec<_> = [
            "30-days", "7-days", "3-days", "1-day", "12-hours", "3-hours", "1-hour",
        ]
        .into_iter()
        .map(|s| Ttl::parse(s).unwrap())
        .collect();
        assert_eq!(parsed, Ttl::ALL);
        assert_eq!(" 1-day ".parse::<Ttl>(), Ok(Ttl::OneDay));
    }

    #[test]
    fn round_trips_and_durations() {
        for ttl in Ttl::ALL {
            assert_eq!(Ttl::parse(&ttl.to_string()), Ok(ttl));
        }
        assert_eq!(Ttl::ThirtyDays.duration(), Duration::days(30));
        assert_eq!(Ttl::TwelveHours.duration(), Duration::hours(12));
        assert_eq!(Ttl::OneHour.duration(), Duration::hours(1));
    }

    #[test]
    fn blank_is_ttl_blank() {
        for input in ["", " ", "\t"] {
            assert_eq!(Ttl::parse(input).unwrap_err().code(), "ttl_blank");
        }
    }

    #[test]
    fn unknown_is_ttl_invalid() {
        for input in ["2-days", "7 days", "7-Days", "1-days", "forever"] {
            let error = Ttl::parse(input).unwrap_err();
            assert_eq!(error, Error::TtlInvalid(input.to_owned()));
            assert_eq!(error.code(), "ttl_invalid");
        }
    }
}
