//! What can stop the console, each said so a user knows what to do next.

use std::net::SocketAddr;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A listening port could not be bound.
    #[error(
        "cannot listen as the {what} on {address}: {source} \
         (is an X-Ray daemon or another trace-console running? choose another port with {flag})"
    )]
    Bind {
        /// Which receiver.
        what: &'static str,
        /// The address tried.
        address: SocketAddr,
        /// The flag that changes its port.
        flag: &'static str,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// No region was given or configured.
    #[error("no AWS region: pass --region or set AWS_REGION (or `region` in your AWS profile)")]
    NoRegion,
    /// The credential chain found nothing usable.
    #[error(
        "no AWS credentials ({0}): set AWS_PROFILE (after `aws sso login` for an SSO profile), \
         or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    )]
    NoCredentials(String),
    /// X-Ray did not answer within the timeout.
    #[error(
        "X-Ray {endpoint} did not answer {operation} within {seconds} s \
         (check --region and AWS_ENDPOINT_URL, or raise --timeout)"
    )]
    Timeout {
        /// Where X-Ray was called: `in region …` or `at <endpoint URL>`.
        endpoint: String,
        /// The X-Ray operation.
        operation: &'static str,
        /// The timeout.
        seconds: u64,
    },
    /// The endpoint could not be reached (connection refused, DNS failure …).
    #[error(
        "cannot reach X-Ray {endpoint} for {operation}, even after {attempts} attempts: {detail} \
         (check --region and AWS_ENDPOINT_URL)"
    )]
    Unreachable {
        /// Where X-Ray was called: `in region …` or `at <endpoint URL>`.
        endpoint: String,
        /// The X-Ray operation.
        operation: &'static str,
        /// How many attempts the SDK made.
        attempts: u32,
        /// The transport's reason.
        detail: String,
    },
    /// X-Ray kept throttling after the SDK's retries.
    #[error(
        "X-Ray throttled {operation} ({code}) and the SDK's {attempts} attempts with backoff did not get through: \
         wait a minute, or narrow --minutes or --filter"
    )]
    Throttled {
        /// The X-Ray operation.
        operation: &'static str,
        /// The error code, e.g. `ThrottledException`.
        code: String,
        /// How many attempts the SDK made.
        attempts: u32,
    },
    /// X-Ray refused the caller.
    #[error(
        "X-Ray refused {operation} ({code}: {message}): are the credentials valid, for this account and \
         region ({region}), and allowed xray:GetTraceSummaries and xray:BatchGetTraces?"
    )]
    Denied {
        /// The X-Ray operation.
        operation: &'static str,
        /// The error code.
        code: String,
        /// The service's message.
        message: String,
        /// The region called.
        region: String,
    },
    /// Any other error X-Ray answered (an invalid filter expression, say).
    #[error("X-Ray {operation} failed: {code}: {message}{note}")]
    Service {
        /// The X-Ray operation.
        operation: &'static str,
        /// The error code.
        code: String,
        /// The service's message.
        message: String,
        /// `" (after N attempts)"` for errors the SDK retries, else empty.
        note: String,
    },
    /// The endpoint answered something that is not an X-Ray answer.
    #[error("X-Ray {endpoint} answered {operation}, but not as X-Ray does: {detail}")]
    BadAnswer {
        /// Where X-Ray was called: `in region …` or `at <endpoint URL>`.
        endpoint: String,
        /// The X-Ray operation.
        operation: &'static str,
        /// What could not be read.
        detail: String,
    },
    /// Anything else the SDK reported.
    #[error("X-Ray {operation} failed: {detail}")]
    Other {
        /// The X-Ray operation.
        operation: &'static str,
        /// The SDK's description.
        detail: String,
    },
    /// `--trace-id` is not a trace id.
    #[error("{0:?} is not a trace id: give 1-XXXXXXXX-YYYYYYYYYYYYYYYYYYYYYYYY (or its 32 hex digits)")]
    BadTraceId(String),
    /// Standard output could not be written.
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
}

/// An error and its sources on one line, `outer: inner: innermost`, without
/// repeating a source whose text the outer one already says.
pub(crate) fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(error) = next {
        let text = one_line(&error.to_string());
        if !parts.last().is_some_and(|last| last.contains(&text)) {
            parts.push(text);
        }
        next = error.source();
    }
    parts.join(": ")
}

/// Multi-line text on one line: `Attempted:` lists become `Attempted: a; b`.
fn one_line(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if !out.is_empty() {
            out.push_str(if out.ends_with(':') { " " } else { "; " });
        }
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("io error")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn chains_are_one_line() {
        let error = Outer(std::io::Error::other("tcp connect error\n  refused:\n  by peer"));
        assert_eq!(chain(&error), "io error: tcp connect error; refused: by peer");
    }
}
