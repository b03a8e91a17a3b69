//! The daemon transport: documents as UDP datagrams to the X-Ray daemon, never blocking.

use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};

use crate::{config::Config, model::SpanRecord};

/// A non-blocking UDP socket aimed at the daemon; resolved on first use (on the
/// delivery task, so a slow DNS lookup never delays init or a response).
pub(crate) struct Sender {
    daemon_address: String,
    function_name: String,
    in_lambda: bool,
    target: Option<Option<(UdpSocket, SocketAddr)>>,
}

impl Sender {
    pub fn new(config: &Config) -> Self {
        Self {
            daemon_address: config.xray_daemon_address.clone(),
            function_name: config.function_name.clone(),
            in_lambda: config.in_lambda(),
            target: None,
        }
    }

    /// Sends the sampled spans' documents. Returns how many documents could not be
    /// sent (too large, no daemon address, socket full); failures are never raised.
    pub fn send(&mut self, spans: &[SpanRecord]) -> usize {
        let (datagrams, mut dropped) = super::encode(spans, &self.function_name, self.in_lambda);
        if datagrams.is_empty() {
            return dropped;
        }
        let address = &self.daemon_address;
        let target = self.target.get_or_insert_with(|| connect(address));
        for datagram in datagrams {
            let sent = target
                .as_ref()
                .map(|(socket, daemon)| socket.send_to(&datagram, daemon));
            if !matches!(sent, Some(Ok(_))) {
                dropped += 1;
            }
        }
        dropped
    }
}

fn connect(address: &str) -> Option<(UdpSocket, SocketAddr)> {
    let daemon = match address.to_socket_addrs().map(|mut addrs| addrs.next()) {
        Ok(Some(daemon)) => daemon,
        Ok(None) | Err(_) => {
            eprintln!(
                "[telemetry] X-Ray daemon address {address:?} does not resolve: X-Ray documents are dropped"
            );
            return None;
        }
    };
    let local: SocketAddr = if daemon.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    let socket = UdpSocket::bind(local).and_then(|s| s.set_nonblocking(true).map(|_| s));
    match socket {
        Ok(socket) => Some((socket, daemon)),
        Err(error) => {
            eprintln!("[telemetry] cannot open a UDP socket for X-Ray: {error}");
            None
        }
    }
}
