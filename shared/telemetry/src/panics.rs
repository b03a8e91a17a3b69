//! Panics: their backtrace, kept for the error report of the request that panicked.
//!
//! The handler's panic is caught (the process serves the next request), but the
//! backtrace only exists inside the panic hook; the hook keeps it in a thread-local
//! slot for the catcher, which runs on the same thread.

use std::{backtrace::Backtrace, cell::RefCell, sync::Once};

thread_local! {
    static LAST_BACKTRACE: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs the hook once; the previous hook (stderr message) still runs.
pub(crate) fn install_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let backtrace = Backtrace::force_capture().to_string();
            LAST_BACKTRACE.with(|slot| *slot.borrow_mut() = Some(backtrace));
            previous(info);
        }));
    });
}

/// The backtrace of this thread's last panic, if the hook saw one.
pub(crate) fn take_backtrace() -> Option<String> {
    LAST_BACKTRACE.with(|slot| slot.borrow_mut().take())
}

/// One frame of a backtrace, as X-Ray's `cause.exceptions[].stack` wants it.
#[derive(Debug, PartialEq, serde::Serialize)]
pub struct Frame {
    /// The function.
    pub label: String,
    /// Source file, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Line, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
}

/// Parses `std::backtrace` text into frames, skipping the panic machinery, at most `max`.
pub fn frames(backtrace: &str, max: usize) -> Vec<Frame> {
    let mut frames: Vec<Frame> = Vec::new();
    for line in backtrace.lines().map(str::trim) {
        if let Some(location) = line.strip_prefix("at ") {
            if let Some(frame) = frames.last_mut() {
                let mut parts = location.rsplitn(3, ':');
                let (_column, line_no, path) = (parts.next(), parts.next(), parts.next());
                frame.line = line_no.and_then(|l| l.parse().ok());
                frame.path = path.map(str::to_owned);
            }
        } else if let Some((index, label)) = line.split_once(": ") {
            if index.chars().all(|c| c.is_ascii_digit()) {
                frames.push(Frame {
                    label: label.to_owned(),
                    path: None,
                    line: None,
                });
            }
        }
    }
    let machinery = [
        "std::",
        "core::",
        "rust_begin_unwind",
        "__rustc",
        "telemetry::panics",
        "<alloc::boxed::Box",
    ];
    frames.retain(|f| !machinery.iter().any(|m| f.label.starts_with(m)));
    frames.truncate(max);
    frames
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backtrace_text_becomes_frames() {
        let text = "   0: std::backtrace::Backtrace::force_capture\n             at /rustc/x/library/std/src/backtrace.rs:312:13\n   1: my_handler::handler::home\n             at ./src/handler.rs:12:5\n   2: main\n";
        let frames = frames(text, 10);
        assert_eq!(
            frames,
            vec![
                Frame {
                    label: "my_handler::handler::home".into(),
                    path: Some("./src/handler.rs".into()),
                    line: Some(12)
                },
                Frame {
                    label: "main".into(),
                    path: None,
                    line: None
                },
            ]
        );
    }
}
