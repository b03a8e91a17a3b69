//! The log stream transport: Lambda ships the process's stdout to CloudWatch Logs.

use std::io::Write;

/// Writes one line (logs and EMF share Lambda's log stream).
///
/// The line is written with one `write_all` on the locked handle, so lines from
/// several threads never interleave; errors are ignored (nowhere to report them).
pub(crate) fn write_line(line: &[u8]) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(line);
    let _ = out.flush();
}
