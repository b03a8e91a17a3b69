//! `trace-console listen`: be the X-Ray daemon and an OTLP/HTTP receiver at once,
//! join what arrives by trace id, and draw each trace once it has been quiet for
//! a moment (more spans arriving later draw it again).

use std::collections::HashMap;
use std::future::Future;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use telemetry::ids::TraceId;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;

use crate::error::Error;
use crate::model::{self, plural, Source, Trace};
use crate::receive::{self, otlp::TRACES_PATH, Arrival};
use crate::waterfall::{self, Style};

/// Traces waiting at once; past it the oldest is drawn early and forgotten.
const MAX_TRACES: usize = 10_000;
/// Spans kept per trace; later ones are counted, not kept.
const MAX_SPANS_PER_TRACE: usize = 10_000;
/// How long a drawn trace is remembered, so late spans redraw it whole.
const KEEP_DRAWN: Duration = Duration::from_secs(120);
/// Arrivals buffered between the receivers and the console.
const CHANNEL_CAPACITY: usize = 1024;

/// Where to listen and how to draw.
#[derive(Debug, Clone)]
pub struct ListenOptions {
    /// Address to bind both receivers to.
    pub bind: IpAddr,
    /// UDP port of the X-Ray daemon (0: any free port).
    pub xray_port: u16,
    /// TCP port of the OTLP/HTTP receiver (0: any free port).
    pub otlp_port: u16,
    /// How long a trace must be quiet before it is drawn.
    pub quiet: Duration,
    /// How to draw.
    pub style: Style,
}

/// Counts of what arrived, reported at the end.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams received on the X-Ray port.
    pub datagrams: u64,
    /// Datagrams that were not a header line and a readable segment document.
    pub malformed_datagrams: u64,
    /// HTTP requests received on the OTLP port.
    pub otlp_requests: u64,
    /// Requests that were not a readable OTLP/HTTP protobuf export.
    pub malformed_requests: u64,
    /// Spans refused inside otherwise readable exports (bad ids), or over the per-trace cap.
    pub refused_spans: u64,
    /// Waterfalls drawn (a trace drawn again counts again).
    pub drawn: u64,
}

/// The bound sockets, ready to [`run`](Listener::run).
pub struct Listener {
    xray: UdpSocket,
    otlp: TcpListener,
    options: ListenOptions,
}

impl Listener {
    /// Binds the X-Ray UDP socket and the OTLP TCP listener.
    pub async fn bind(options: ListenOptions) -> Result<Self, Error> {
        let xray_address = SocketAddr::new(options.bind, options.xray_port);
        let xray = UdpSocket::bind(xray_address)
            .await
            .map_err(|source| Error::Bind {
                what: "X-Ray daemon (UDP)",
                address: xray_address,
                flag: "--xray-port",
                source,
            })?;
        let otlp_address = SocketAddr::new(options.bind, options.otlp_port);
        let otlp = TcpListener::bind(otlp_address)
            .await
            .map_err(|source| Error::Bind {
                what: "OTLP/HTTP receiver (TCP)",
                address: otlp_address,
                flag: "--otlp-port",
                source,
            })?;
        Ok(Self { xray, otlp, options })
    }

    /// The X-Ray daemon's address (`AWS_XRAY_DAEMON_ADDRESS`).
    pub fn xray_address(&self) -> SocketAddr {
        self.xray.local_addr().expect("a bound UDP socket has an address")
    }

    /// The OTLP receiver's address (`OTEL_EXPORTER_OTLP_ENDPOINT` is `http://` + it).
    pub fn otlp_address(&self) -> SocketAddr {
        self.otlp
            .local_addr()
            .expect("a bound TCP listener has an address")
    }

    /// Receives and draws until `shutdown` completes (or `out` cannot be written),
    /// then draws what is still waiting and a summary. Returns the counts.
    pub async fn run(self, mut out: impl Write, shutdown: impl Future<Output = ()>) -> Stats {
        let (xray_address, otlp_address) = (self.xray_address(), self.otlp_address());
        let (sender, mut arrivals) = mpsc::channel(CHANNEL_CAPACITY);
        let xray = tokio::spawn(receive::xray::serve(self.xray, sender.clone()));
        let otlp = tokio::spawn(receive::otlp::serve(self.otlp, sender));
        let mut console = Console::new(self.options.style, self.options.quiet);
        console.say(
            &mut out,
            &format!(
                "trace-console: X-Ray daemon on udp {xray_address}, OTLP/HTTP on http://{otlp_address}{TRACES_PATH}\n\
                 trace-console: point functions here with AWS_XRAY_DAEMON_ADDRESS={xray_address} \
                 OTEL_EXPORTER_OTLP_ENDPOINT=http://{otlp_address}\n"
            ),
        );
        let mut tick = tokio::time::interval((self.options.quiet / 4).max(Duration::from_millis(10)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        while console.writable {
            tokio::select! {
                arrival = arrivals.recv() => match arrival {
                    Some(arrival) => console.take(arrival, &mut out),
                    None => break,
                },
                _ = tick.tick() => console.draw_quiet(Instant::now(), &mut out),
                _ = &mut shutdown => break,
            }
        }
        xray.abort();
        otlp.abort();
        // What was already received still counts.
        while let Ok(arrival) = arrivals.try_recv() {
            console.take(arrival, &mut out);
        }
        console.draw_all(&mut out);
        let stats = console.stats;
        console.say(&mut out, &summary(&stats));
        stats
    }
}

/// The closing line: what was drawn and what was malformed.
pub fn summary(stats: &Stats) -> String {
    format!(
        "trace-console: {} waterfall{} drawn; {} X-Ray datagram{} ({} malformed); {} OTLP request{} ({} malformed); {} span{} refused\n",
        stats.drawn,
        plural(stats.drawn as usize),
        stats.datagrams,
        plural(stats.datagrams as usize),
        stats.malformed_datagrams,
        stats.otlp_requests,
        plural(stats.otlp_requests as usize),
        stats.malformed_requests,
        stats.refused_spans,
        plural(stats.refused_spans as usize),
    )
}

/// A trace being collected.
struct Pending {
    trace: Trace,
    changed_at: Instant,
    /// Changed since last drawn (or never drawn).
    dirty: bool,
    /// Drawn at least once.
    drawn: bool,
}

/// The console's state: traces by id, counts, and where it writes.
struct Console {
    traces: HashMap<TraceId, Pending>,
    stats: Stats,
    style: Style,
    quiet: Duration,
    writable: bool,
}

impl Console {
    fn new(style: Style, quiet: Duration) -> Self {
        Self {
            traces: HashMap::new(),
            stats: Stats::default(),
            style,
            quiet,
            writable: true,
        }
    }

    /// Writes `text` and flushes; a failure stops the console (nobody is reading).
    fn say(&mut self, out: &mut impl Write, text: &str) {
        if out.write_all(text.as_bytes()).and_then(|_| out.flush()).is_err() {
            self.writable = false;
        }
    }

    fn report(&mut self, out: &mut impl Write, text: &str) {
        let line = if self.style.color {
            format!("\x1b[33m! {text}\x1b[0m\n")
        } else {
            format!("! {text}\n")
        };
        self.say(out, &line);
    }

    fn take(&mut self, arrival: Arrival, out: &mut impl Write) {
        match arrival {
            Arrival::XrayDocument(document) => {
                self.stats.datagrams += 1;
                match model::xray_document(&document) {
                    Ok((trace_id, spans)) => {
                        for (id, view) in spans {
                            self.add(trace_id, Source::Xray, id, view);
                        }
                    }
                    Err(error) => {
                        self.stats.malformed_datagrams += 1;
                        let n = self.stats.malformed_datagrams;
                        self.report(out, &format!("malformed X-Ray datagram ({n} so far): {error}"));
                    }
                }
            }
            Arrival::XrayMalformed { from, reason } => {
                self.stats.datagrams += 1;
                self.stats.malformed_datagrams += 1;
                let n = self.stats.malformed_datagrams;
                self.report(
                    out,
                    &format!("malformed X-Ray datagram from {from} ({n} so far): {reason}"),
                );
            }
            Arrival::OtlpExport(export) => {
                self.stats.otlp_requests += 1;
                let (spans, errors) = model::otlp_spans(&export);
                for (trace_id, id, view) in spans {
                    self.add(trace_id, Source::Otlp, id, view);
                }
                for error in errors {
                    self.stats.refused_spans += 1;
                    self.report(out, &format!("OTLP span refused: {error}"));
                }
            }
            Arrival::OtlpMalformed { reason } => {
                self.stats.otlp_requests += 1;
                self.stats.malformed_requests += 1;
                let n = self.stats.malformed_requests;
                self.report(out, &format!("malformed OTLP request ({n} so far): {reason}"));
            }
        }
        if self.traces.len() > MAX_TRACES {
            let oldest = self
                .traces
                .iter()
                .min_by_key(|(_, p)| p.changed_at)
                .map(|(id, _)| *id);
            if let Some(pending) = oldest.and_then(|id| self.traces.remove(&id)) {
                if pending.dirty {
                    self.draw(&pending.trace, pending.drawn, out);
                }
            }
        }
    }

    fn add(&mut self, trace_id: TraceId, source: Source, id: String, view: model::SpanView) {
        let pending = self.traces.entry(trace_id).or_insert_with(|| Pending {
            trace: Trace::new(trace_id),
            changed_at: Instant::now(),
            dirty: true,
            drawn: false,
        });
        if pending.trace.spans.len() >= MAX_SPANS_PER_TRACE && !pending.trace.spans.contains_key(&id) {
            self.stats.refused_spans += 1;
            return;
        }
        pending.trace.add(source, id, view);
        pending.changed_at = Instant::now();
        pending.dirty = true;
    }

    /// Draws every changed trace quiet since `quiet`; forgets long-drawn ones.
    fn draw_quiet(&mut self, now: Instant, out: &mut impl Write) {
        let mut ready: Vec<(Instant, TraceId)> = self
            .traces
            .iter()
            .filter(|(_, p)| p.dirty && now.duration_since(p.changed_at) >= self.quiet)
            .map(|(id, p)| (p.changed_at, *id))
            .collect();
        ready.sort_by_key(|(at, id)| (*at, id.0));
        for (_, id) in ready {
            if let Some(pending) = self.traces.get_mut(&id) {
                pending.dirty = false;
                let again = std::mem::replace(&mut pending.drawn, true);
                let trace = pending.trace.clone();
                self.draw(&trace, again, out);
            }
        }
        self.traces
            .retain(|_, p| p.dirty || now.duration_since(p.changed_at) < KEEP_DRAWN);
    }

    /// Draws everything not yet drawn as it is now (at shutdown).
    fn draw_all(&mut self, out: &mut impl Write) {
        let mut pending: Vec<Pending> = self.traces.drain().map(|(_, p)| p).filter(|p| p.dirty).collect();
        pending.sort_by_key(|p| p.changed_at);
        for p in pending {
            self.draw(&p.trace, p.drawn, out);
        }
    }

    fn draw(&mut self, trace: &Trace, again: bool, out: &mut impl Write) {
        self.stats.drawn += 1;
        let mut text = String::from("\n");
        if again {
            text.push_str(&format!(
                "(more spans arrived for {}: drawn again)\n",
                trace.id.xray()
            ));
        }
        text.push_str(&waterfall::draw(trace, &self.style));
        self.say(out, &text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn document(id: &str, parent: Option<&str>) -> Arrival {
        let mut doc = json!({
            "trace_id": "1-5759e988-bd862e3fe1be46a994272793", "id": id, "name": format!("span-{id}"),
            "start_time": 1_700_000_000.0, "end_time": 1_700_000_000.001,
        });
        if let Some(parent) = parent {
            doc["parent_id"] = json!(parent);
            doc["type"] = json!("subsegment");
        }
        Arrival::XrayDocument(doc)
    }

    #[test]
    fn a_trace_is_drawn_once_quiet_and_again_when_more_arrives() {
        let mut console = Console::new(Style::default(), Duration::from_millis(300));
        let mut out = Vec::new();
        console.take(document("00000000000000a1", None), &mut out);
        console.take(
            Arrival::XrayMalformed {
                from: "127.0.0.1:9".parse().unwrap(),
                reason: "no header line".into(),
            },
            &mut out,
        );
        let start = Instant::now();
        console.draw_quiet(start, &mut out);
        assert_eq!(console.stats.drawn, 0, "not quiet yet");
        console.draw_quiet(start + Duration::from_millis(400), &mut out);
        assert_eq!(console.stats.drawn, 1);
        console.draw_quiet(start + Duration::from_millis(800), &mut out);
        assert_eq!(console.stats.drawn, 1, "drawn once");
        // A separate subsegment document for the same trace: drawn again, whole.
        console.take(document("00000000000000b2", Some("00000000000000a1")), &mut out);
        console.draw_all(&mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("! malformed X-Ray datagram from 127.0.0.1:9 (1 so far): no header line"));
        assert!(text.contains("(more spans arrived for 1-5759e988-bd862e3fe1be46a994272793: drawn again)"));
        assert!(
            text.contains("only X-Ray saw this trace (2 spans, no OTLP)"),
            "{text}"
        );
        assert_eq!(
            console.stats,
            Stats {
                datagrams: 3,
                malformed_datagrams: 1,
                drawn: 2,
                ..Stats::default()
            }
        );
    }
}
