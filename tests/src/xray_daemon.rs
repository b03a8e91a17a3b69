//! A UDP socket on 127.0.0.1 standing in for the AWS X-Ray daemon.
//!
//! Every datagram must be `{"format": "json", "version": 1}` + `\n` + one segment (or
//! subsegment) document in JSON.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use serde_json::Value;
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

use crate::sync::Shared;

/// Largest datagram the fake daemon reads (the real one's limit is 64 KiB).
pub const MAX_DATAGRAM: usize = 65_536;

/// One datagram as received.
#[derive(Debug, Clone)]
pub struct Datagram {
    /// When it arrived.
    pub received_at: Instant,
    /// Its size in bytes.
    pub raw_len: usize,
    /// Its text (lossy UTF-8), for error messages.
    pub raw: String,
    /// True when the first line parsed as JSON with `format` "json" and `version` 1.
    pub header_ok: bool,
    /// The document after the newline, when it parsed as a JSON object.
    pub document: Option<Value>,
    /// What was wrong, if anything.
    pub error: Option<String>,
}

struct State {
    datagrams: Vec<Datagram>,
}

/// The fake X-Ray daemon. Stops receiving when dropped.
pub struct XrayDaemon {
    shared: Arc<Shared<State>>,
    port: u16,
    task: JoinHandle<()>,
}

impl Drop for XrayDaemon {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl XrayDaemon {
    /// Binds a UDP socket on 127.0.0.1 and a free port and starts receiving.
    ///
    /// Panics if no loopback port can be bound (a broken test machine).
    pub async fn start() -> XrayDaemon {
        let socket = UdpSocket::bind(("127.0.0.1", 0))
            .await
            .expect("bind UDP 127.0.0.1:0 for the X-Ray daemon");
        let port = socket
            .local_addr()
            .expect("local address of the X-Ray socket")
            .port();
        let shared = Arc::new(Shared::new(State {
            datagrams: Vec::new(),
        }));
        let receiver = shared.clone();
        let task = tokio::spawn(async move {
            let mut buffer = vec![0u8; MAX_DATAGRAM];
            loop {
                match socket.recv_from(&mut buffer).await {
                    Ok((len, _)) => {
                        let datagram = parse_datagram(&buffer[..len]);
                        receiver.update(|s| s.datagrams.push(datagram));
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
                }
            }
        });
        XrayDaemon { shared, port, task }
    }

    /// "127.0.0.1:PORT", the `AWS_XRAY_DAEMON_ADDRESS` value.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Every datagram received, good or bad.
    pub fn datagrams(&self) -> Vec<Datagram> {
        self.shared.read(|s| s.datagrams.clone())
    }

    /// The documents of the well-formed datagrams, in arrival order.
    pub fn documents(&self) -> Vec<Value> {
        self.shared.read(|s| good_documents(&s.datagrams))
    }

    /// Waits until at least `n` well-formed documents arrived; returns all of them.
    pub async fn wait_for_documents(&self, n: usize, timeout: Duration) -> anyhow::Result<Vec<Value>> {
        let found = self
            .shared
            .wait_for(Some(timeout), |s| {
                let documents = good_documents(&s.datagrams);
                (documents.len() >= n).then_some(documents)
            })
            .await;
        found.ok_or_else(|| {
            let datagrams = self.datagrams();
            let bad: Vec<String> = datagrams.iter().filter_map(|d| d.error.clone()).collect();
            anyhow!(
                "expected at least {n} X-Ray documents within {timeout:?}, but {} arrived ({} datagrams; errors: {bad:?})",
                good_documents(&datagrams).len(),
                datagrams.len()
            )
        })
    }
}

fn good_documents(datagrams: &[Datagram]) -> Vec<Value> {
    datagrams
        .iter()
        .filter(|d| d.header_ok)
        .filter_map(|d| d.document.clone())
        .collect()
}

/// Parses one datagram the way the daemon would.
pub fn parse_datagram(bytes: &[u8]) -> Datagram {
    let raw = String::from_utf8_lossy(bytes).into_owned();
    let mut datagram = Datagram {
        received_at: Instant::now(),
        raw_len: bytes.len(),
        raw: raw.clone(),
        header_ok: false,
        document: None,
        error: None,
    };
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            datagram.error = Some(format!("datagram is not UTF-8: {e}"));
            return datagram;
        }
    };
    let Some((header, body)) = text.split_once('\n') else {
        datagram.error = Some("no newline after the header line".to_owned());
        return datagram;
    };
    match serde_json::from_str::<Value>(header) {
        Ok(h) => {
            datagram.header_ok = h.get("format").and_then(Value::as_str) == Some("json")
                && h.get("version").and_then(Value::as_i64) == Some(1);
            if !datagram.header_ok {
                datagram.error = Some(format!(
                    "header is not {{\"format\": \"json\", \"version\": 1}}: {header}"
                ));
            }
        }
        Err(e) => datagram.error = Some(format!("header is not JSON ({e}): {header}")),
    }
    match serde_json::from_str::<Value>(body) {
        Ok(document) if document.is_object() => datagram.document = Some(document),
        Ok(_) => {
            datagram
                .error
                .get_or_insert_with(|| "document is not a JSON object".to_owned());
        }
        Err(e) => {
            datagram
                .error
                .get_or_insert_with(|| format!("document is not JSON: {e}"));
        }
    }
    datagram
}

/// The document itself first, then every nested `subsegments` entry, depth first.
pub fn all_subsegments(document: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    walk(document, &mut out);
    out
}

fn walk(node: &Value, out: &mut Vec<Value>) {
    out.push(node.clone());
    if let Some(children) = node.get("subsegments").and_then(Value::as_array) {
        for child in children {
            walk(child, out);
        }
    }
}
