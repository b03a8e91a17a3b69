//! A TCP proxy on 127.0.0.1 that adds latency: a stand-in for an AWS endpoint that is
//! some milliseconds away (SSM across a region is about 25 ms), in front of moto.
//!
//! Every chunk the client sends reaches the upstream `delay` later, so each request
//! costs one `delay` more, as a far endpoint's round trip would. It records when it
//! forwarded each answer, so a test can tell what happened before a read completed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::sync::Shared;

#[derive(Default)]
struct State {
    /// When each chunk of an answer was handed back to a client.
    answered: Vec<Instant>,
    connections: usize,
}

/// The proxy. Stops accepting when dropped (open connections end with their task).
pub struct LatencyProxy {
    shared: Arc<Shared<State>>,
    port: u16,
    task: JoinHandle<()>,
}

impl Drop for LatencyProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl LatencyProxy {
    /// Proxies 127.0.0.1:<free port> to `upstream_port` on 127.0.0.1, adding `delay` to
    /// every chunk the client sends.
    pub async fn start(upstream_port: u16, delay: Duration) -> anyhow::Result<LatencyProxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared::new(State::default()));
        let state = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                state.update(|s| s.connections += 1);
                let state = state.clone();
                tokio::spawn(async move {
                    let Ok(upstream) = TcpStream::connect(("127.0.0.1", upstream_port)).await else {
                        return;
                    };
                    let (mut client_read, mut client_write) = client.into_split();
                    let (mut upstream_read, mut upstream_write) = upstream.into_split();
                    let up = async move {
                        let mut buffer = vec![0u8; 64 * 1024];
                        while let Ok(n) = client_read.read(&mut buffer).await {
                            if n == 0 {
                                break;
                            }
                            tokio::time::sleep(delay).await;
                            if upstream_write.write_all(&buffer[..n]).await.is_err() {
                                break;
                            }
                        }
                    };
                    let down = async move {
                        let mut buffer = vec![0u8; 64 * 1024];
                        while let Ok(n) = upstream_read.read(&mut buffer).await {
                            if n == 0 || client_write.write_all(&buffer[..n]).await.is_err() {
                                break;
                            }
                            state.update(|s| s.answered.push(Instant::now()));
                        }
                    };
                    tokio::join!(up, down);
                });
            }
        });
        Ok(LatencyProxy { shared, port, task })
    }

    /// `http://127.0.0.1:PORT`, an `AWS_ENDPOINT_URL` value.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// When the first answer went back to a client, if one did.
    pub fn first_answer_at(&self) -> Option<Instant> {
        self.shared.read(|s| s.answered.first().copied())
    }

    /// How many connections it accepted.
    pub fn connections(&self) -> usize {
        self.shared.read(|s| s.connections)
    }
}
