//! What went wrong in an invocation that faulted, as an error tracker wants it.

/// One error of an invocation: an ERROR event with its exception fields.
#[derive(Clone, Debug, PartialEq)]
pub struct Exception {
    /// `exception.type` (`HandlerError`, `Panic`, `DatabaseError`, …).
    pub class: String,
    /// `exception.message`, else the event's message.
    pub message: String,
    /// `exception.stacktrace`: a panic's backtrace, as `std::backtrace` prints it.
    pub stacktrace: Option<String>,
}

/// The request of an invocation, as far as an error report may name it: no query
/// values, no headers, no body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestLine {
    /// `GET`, `POST`, …
    pub method: String,
    /// The API route template (`/api/activities/{activity_uuid}`), never the raw path.
    pub route: String,
    /// The answer's status.
    pub status: u16,
}
