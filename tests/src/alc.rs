//! Lambda's advanced logging controls (ALC), applied to captured output the way Lambda
//! applies them before anything reaches CloudWatch Logs.
//!
//! With `LoggingConfig.LogFormat: JSON` and an `ApplicationLogLevel`, Lambda filters the
//! application's log lines (AWS Lambda Developer Guide, "Log-level filtering",
//! monitoring-cloudwatchlogs-log-level):
//! - a runtime outside Lambda's own logging libraries (ours: `provided.al2023`) must write
//!   "JSON formatted objects that contain a key value pair with the key `level`";
//!   `{"level": "debug", ...}` is read as DEBUG, so the value's case does not matter;
//! - "If the `level` value field is invalid or missing, Lambda will assign the log output
//!   the level INFO"; the same for a line that is not a JSON object;
//! - "For Lambda to use the timestamp field, you must specify the time in valid RFC 3339
//!   timestamp format. If you don't supply a valid timestamp, Lambda will assign the log
//!   the level INFO": a line's own level counts only beside a valid `timestamp`;
//! - the levels, from most detail: TRACE, DEBUG, INFO, WARN, ERROR, FATAL; Lambda sends
//!   "only logs of a certain detail level or lower", i.e. lines at the application log
//!   level or above it in severity.
//!
//! Lambda passes the configuration to the function as `AWS_LAMBDA_LOG_LEVEL` (the
//! `ApplicationLogLevel`) and `AWS_LAMBDA_LOG_FORMAT` (`JSON`).

use std::fmt;
use std::str::FromStr;

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// One of Lambda's application log levels, least severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// TRACE (most detail).
    Trace,
    /// DEBUG.
    Debug,
    /// INFO.
    Info,
    /// WARN.
    Warn,
    /// ERROR.
    Error,
    /// FATAL (least detail).
    Fatal,
}

impl FromStr for LogLevel {
    type Err = String;

    /// The level's name in any case (`debug`, `DEBUG`, `Debug`).
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name.to_ascii_uppercase().as_str() {
            "TRACE" => Ok(LogLevel::Trace),
            "DEBUG" => Ok(LogLevel::Debug),
            "INFO" => Ok(LogLevel::Info),
            "WARN" => Ok(LogLevel::Warn),
            "ERROR" => Ok(LogLevel::Error),
            "FATAL" => Ok(LogLevel::Fatal),
            _ => Err(format!(
                "{name:?} is not a Lambda log level (TRACE, DEBUG, INFO, WARN, ERROR, FATAL)"
            )),
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            LogLevel::Trace => "TRACE",
            LogLevel::Debug => "DEBUG",
            LogLevel::Info => "INFO",
            LogLevel::Warn => "WARN",
            LogLevel::Error => "ERROR",
            LogLevel::Fatal => "FATAL",
        };
        f.write_str(name)
    }
}

/// The level Lambda reads from one output line: its `level` when the line is a JSON object
/// with a valid level and a valid RFC 3339 `timestamp`, INFO otherwise.
pub fn line_level(line: &str) -> LogLevel {
    let Ok(Value::Object(object)) = serde_json::from_str::<Value>(line) else {
        return LogLevel::Info;
    };
    let timestamp_valid = object
        .get("timestamp")
        .and_then(Value::as_str)
        .is_some_and(|t| OffsetDateTime::parse(t, &Rfc3339).is_ok());
    if !timestamp_valid {
        return LogLevel::Info;
    }
    object
        .get("level")
        .and_then(Value::as_str)
        .and_then(|level| level.parse().ok())
        .unwrap_or(LogLevel::Info)
}

/// True when Lambda sends `line` on under `application_level`.
pub fn passes(line: &str, application_level: LogLevel) -> bool {
    line_level(line) >= application_level
}

/// The lines Lambda sends on to CloudWatch Logs under `application_level`, in order.
pub fn filter(lines: &[String], application_level: LogLevel) -> Vec<String> {
    lines
        .iter()
        .filter(|line| passes(line, application_level))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TS: &str = "2026-11-25T11:48:03.544Z";

    #[test]
    fn levels_are_read_in_any_case_beside_a_valid_timestamp() {
        let line = |level: &str| format!(r#"{{"level":"{level}","timestamp":"{TS}","message":"m"}}"#);
        assert_eq!(line_level(&line("debug")), LogLevel::Debug);
        assert_eq!(line_level(&line("DEBUG")), LogLevel::Debug);
        assert_eq!(line_level(&line("Warn")), LogLevel::Warn);
        assert_eq!(line_level(&line("fatal")), LogLevel::Fatal);
    }

    #[test]
    fn anything_else_is_info() {
        assert_eq!(line_level("plain text"), LogLevel::Info);
        assert_eq!(
            line_level(r#"{"message":"no level","timestamp":"2026-11-25T11:48:03Z"}"#),
            LogLevel::Info
        );
        assert_eq!(
            line_level(&format!(r#"{{"level":"verbose","timestamp":"{TS}"}}"#)),
            LogLevel::Info
        );
        assert_eq!(line_level(r#"{"level":"DEBUG"}"#), LogLevel::Info, "no timestamp");
        assert_eq!(
            line_level(r#"{"level":"DEBUG","timestamp":"yesterday"}"#),
            LogLevel::Info
        );
        assert_eq!(line_level(r#"["level","DEBUG"]"#), LogLevel::Info);
    }

    #[test]
    fn lines_at_or_above_the_application_level_pass() {
        let debug = format!(r#"{{"level":"DEBUG","timestamp":"{TS}"}}"#);
        let error = format!(r#"{{"level":"ERROR","timestamp":"{TS}"}}"#);
        let emf = r#"{"_aws":{"Timestamp":1}}"#.to_owned();
        let lines = vec![debug.clone(), error.clone(), emf.clone()];
        assert_eq!(filter(&lines, LogLevel::Info), vec![error.clone(), emf.clone()]);
        assert_eq!(filter(&lines, LogLevel::Debug), lines);
        assert_eq!(filter(&lines, LogLevel::Warn), vec![error]);
        assert!("info".parse::<LogLevel>().is_ok() && "warning".parse::<LogLevel>().is_err());
    }
}
