//! Sending documents to the X-Ray daemon over UDP, never blocking.

use std::{
    net::{SocketAddr, ToSocketAddrs, UdpSocket},
    sync::Arc,
};

use crate::{config::Config, delivery::DeliveryStats, span::SpanRecord};

/// A non-blocking UDP socket aimed at the daemon; resolved on first use (on the
/// delivery thread, so a slow DNS lookup never delays init or a response).
pub(crate) struct Sender {
    daemon_address: String,
    function_name: String,
    in_lambda: bool,
    target: Option<Option<(UdpSocket, SocketAddr)>>,
    stats: Arc<DeliveryStats>,
}

impl Sender {
    pub fn new(config: &Config, stats: Arc<DeliveryStats>) -> Self {
        Self {
            daemon_address: config.xray_daemon_address.clone(),
            function_name: config.function_name.clone(),
            in_lambda: config.in_lambda,
            target: None,
            stats,
        }
    }

    /// Sends the sampled spans' documents; failures are counted, never raised.
    pub fn send(&mut self, spans: &[SpanRecord]) {
        let (datagrams, too_large) = super::encode(spans, &self.function_name, self.in_lambda);
        (0..too_large).for_each(|_| self.stats.drop_xray_document());
        if datagrams.is_empty() {
            return;
        }
        let address = self.daemon_address.clone();
        let target = self.target.get_or_insert_with(|| connect(&address));
        for datagram in datagrams {
            let sent = target
                .as_ref()
                .map(|(socket, daemon)| socket.send_to(&datagram, daemon));
            if !matches!(sent, Some(Ok(_))) {
                self.stats.drop_xray_document();
            }
        }
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
