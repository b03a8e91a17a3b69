//! Drawing a [`Trace`] as a waterfall: one row per span (name, sources, duration,
//! and a bar placed by its start and end relative to the trace), its annotations
//! and errors below it, and whether X-Ray and OTLP agree.
//!
//! ```text
//! ── trace 1-5759e988-bd862e3fe1be46a994272793 · 2 spans · 4.00 ms · 2023-11-14 22:13:20.000 UTC
//!      span                                    src    duration  timeline (0 to 4.00 ms)
//!      home-activities                         X O     4.00 ms  |████████████████████████████████████████|
//!       ColdStart=true
//!        mock-data / home-activities-mock-data X O     1.00 ms  |          ██████████                    |
//!         app.result_length=3
//!     X-Ray and OTLP agree: 2 spans
//! ```
//!
//! A failed span's row starts with `!` and its error follows on a line of its own;
//! colour (errors red, notes dim) only when [`Style::color`] is set.

use std::fmt::Write as _;

use time::{format_description::FormatItem, macros::format_description, OffsetDateTime};

use crate::model::{plural, Agreement, Span, Trace};

/// Widest name column (longer names are cut with `…`).
const MAX_NAME_WIDTH: usize = 56;
/// Longest annotation value shown.
const MAX_VALUE_CHARS: usize = 60;
const TIME_FORMAT: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:3] UTC");

const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const BOLD: &str = "\x1b[1m";
const DIM: &str = "\x1b[2m";
const RESET: &str = "\x1b[0m";

/// How to draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    /// ANSI colours (only for a terminal).
    pub color: bool,
    /// Width of the timeline, in columns.
    pub bar_width: usize,
    /// Add the line saying whether X-Ray and OTLP agree (the listener sees both;
    /// a query sees only X-Ray).
    pub agreement: bool,
}

impl Default for Style {
    fn default() -> Self {
        Self {
            color: false,
            bar_width: 40,
            agreement: true,
        }
    }
}

impl Style {
    fn paint(&self, colour: &str, text: &str) -> String {
        if self.color {
            format!("{colour}{text}{RESET}")
        } else {
            text.to_owned()
        }
    }
}

/// Milliseconds with two decimals, e.g. `4.00 ms`.
pub fn millis(ns: u64) -> String {
    format!("{:.2} ms", ns as f64 / 1e6)
}

/// A time in nanoseconds since the epoch as `2023-11-14 22:13:20.000 UTC`.
pub fn timestamp(ns: u64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns))
        .ok()
        .and_then(|t| t.format(TIME_FORMAT).ok())
        .unwrap_or_else(|| format!("{ns} ns"))
}

/// Draws `trace`; the text ends with a newline.
pub fn draw(trace: &Trace, style: &Style) -> String {
    let (start, end) = (trace.start_ns(), trace.end_ns());
    let total = end.saturating_sub(start);
    let tree = trace.tree();
    let mut out = String::new();
    let header = format!(
        "── trace {} · {} span{} · {} · {}",
        trace.id.xray(),
        tree.len(),
        plural(tree.len()),
        millis(total),
        timestamp(start)
    );
    let _ = writeln!(out, "{}", style.paint(BOLD, &header));

    let names: Vec<String> = tree
        .iter()
        .map(|(depth, span)| {
            cut(
                &format!("{}{}", "  ".repeat(*depth), span.display_name()),
                MAX_NAME_WIDTH,
            )
        })
        .collect();
    let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0).max(4);
    let _ = writeln!(
        out,
        "     {:<width$} src  {:>10}  timeline (0 to {})",
        "span",
        "duration",
        millis(total)
    );
    for ((depth, span), name) in tree.iter().zip(&names) {
        let error = span.is_error();
        let row = format!(
            "{} {name:<width$} {}  {:>10}  |{}|",
            if error { "!" } else { " " },
            sources(span),
            span.view()
                .duration_ns()
                .map_or_else(|| "running".to_owned(), millis),
            bar(span, start, total, style.bar_width),
        );
        let row = if error { style.paint(RED, &row) } else { row };
        let _ = writeln!(out, "   {row}");
        let pad = " ".repeat(6 + 2 * depth);
        let annotations: Vec<String> = span
            .annotations()
            .into_iter()
            .map(|(key, value)| format!("{key}={}", cut(&value, MAX_VALUE_CHARS)))
            .collect();
        if !annotations.is_empty() {
            let _ = writeln!(out, "{pad}{}", style.paint(DIM, &annotations.join("  ")));
        }
        for error in span.errors() {
            let _ = writeln!(out, "{pad}{}", style.paint(RED, &format!("! {error}")));
        }
    }
    if style.agreement {
        let agreement = trace.agreement();
        let colour = if matches!(agreement, Agreement::Agree(_)) {
            GREEN
        } else {
            YELLOW
        };
        let _ = writeln!(out, "    {}", style.paint(colour, &agreement.to_string()));
    }
    out
}

/// `X O`: seen in X-Ray, in OTLP, or both (`-` for a source that did not).
fn sources(span: &Span) -> &'static str {
    match span.sources() {
        (true, true) => "X O",
        (true, false) => "X -",
        (false, true) => "- O",
        (false, false) => "- -",
    }
}

/// The span's bar: `█` from its start to its end, relative to the trace's `total`
/// nanoseconds from `start`; at least one column; `░` to the end while running.
fn bar(span: &Span, start: u64, total: u64, width: usize) -> String {
    let view = span.view();
    let column = |ns: u64, round_up: bool| -> usize {
        if total == 0 {
            return if round_up { width } else { 0 };
        }
        let scaled = u128::from(ns.saturating_sub(start)) * width as u128;
        let total = u128::from(total);
        let col = if round_up {
            scaled.div_ceil(total)
        } else {
            scaled / total
        };
        (col as usize).min(width)
    };
    let from = column(view.start_ns, false).min(width.saturating_sub(1));
    let (to, fill) = match view.end_ns {
        Some(end) => (column(end, true).max(from + 1), '█'),
        None => (width, '░'),
    };
    let to = to.min(width);
    let mut bar = String::with_capacity(width * 3);
    bar.extend(std::iter::repeat_n(' ', from));
    bar.extend(std::iter::repeat_n(fill, to - from));
    bar.extend(std::iter::repeat_n(' ', width - to));
    bar
}

/// `text` cut to `max` characters, the last one `…` when cut.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Source, SpanView};
    use telemetry::ids::TraceId;

    const T0: u64 = 1_700_000_000_000_000_000;

    fn view(name: &str, parent: Option<&str>, start_ms: u64, end_ms: Option<u64>) -> SpanView {
        SpanView {
            name: name.into(),
            parent_id: parent.map(str::to_owned),
            start_ns: T0 + start_ms * 1_000_000,
            end_ns: end_ms.map(|e| T0 + e * 1_000_000),
            annotations: vec![],
            error: None,
            origin: None,
        }
    }

    fn trace() -> Trace {
        let mut trace = Trace::new(TraceId::from_xray("1-5759e988-bd862e3fe1be46a994272793").unwrap());
        let root = view("home-activities", Some("53995c3f42cd8ad8"), 0, Some(4));
        let mut mock = view("mock-data", Some("00000000000000a1"), 1, Some(2));
        mock.annotations = vec![("app_result_length".into(), "3".into())];
        trace.add(Source::Xray, "00000000000000a1".into(), root.clone());
        trace.add(Source::Xray, "00000000000000b2".into(), mock.clone());
        trace.add(Source::Otlp, "00000000000000a1".into(), root);
        mock.name = "home-activities-mock-data".into();
        mock.annotations = vec![("app.result_length".into(), "3".into())];
        trace.add(Source::Otlp, "00000000000000b2".into(), mock);
        trace
    }

    #[test]
    fn rows_bars_annotations_and_agreement() {
        let style = Style {
            bar_width: 8,
            ..Style::default()
        };
        let text = draw(&trace(), &style);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "── trace 1-5759e988-bd862e3fe1be46a994272793 · 2 spans · 4.00 ms · 2023-11-14 22:13:20.000 UTC"
        );
        assert!(lines[2].contains("home-activities "), "{text}");
        assert!(lines[2].ends_with("X O     4.00 ms  |████████|"), "{text}");
        assert!(
            lines[3].ends_with("  mock-data / home-activities-mock-data X O     1.00 ms  |  ██    |"),
            "{text}"
        );
        assert_eq!(lines[4].trim(), "app.result_length=3");
        assert_eq!(lines[5].trim(), "X-Ray and OTLP agree: 2 spans");
        assert!(!text.contains('\x1b'));
    }

    #[test]
    fn errors_are_marked_and_coloured_only_for_a_terminal() {
        let mut trace = trace();
        let mut failed = view("failing", Some("00000000000000a1"), 3, None);
        failed.error = Some("fault (Panic: boom)".into());
        trace.add(Source::Xray, "00000000000000c3".into(), failed);
        let plain = draw(&trace, &Style::default());
        let row = plain.lines().find(|l| l.contains("failing")).unwrap();
        assert!(row.trim_start().starts_with("! "), "{plain}");
        assert!(
            row.contains("X -") && row.contains("running") && row.contains('░'),
            "{plain}"
        );
        assert!(plain.contains("! fault (Panic: boom)"));
        assert!(plain.contains("X-Ray and OTLP disagree: 00000000000000c3 `failing` only in X-Ray"));
        let coloured = draw(
            &trace,
            &Style {
                color: true,
                ..Style::default()
            },
        );
        assert!(coloured.contains(&format!("{RED}! fault (Panic: boom){RESET}")));
    }

    #[test]
    fn long_names_are_cut() {
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("abc", 4), "abc");
    }
}
