//! The HTTP client every export transport shares: plain HTTP for a local collector,
//! TLS only where the endpoint wants it, and a signal that a request's bytes have
//! reached the kernel.
//!
//! Why the signal: after its response an invocation waits (at most the flush budget)
//! until its export is written, because from then on the kernel delivers the bytes
//! even while Lambda keeps the process frozen. "Written" must mean written: hyper
//! takes the body's frame, then flushes it to the socket later in the same poll of
//! the connection. Telling the invocation when the frame is taken lets it ask for the
//! next event, and Lambda freeze the process, before the write happens (seen under a
//! loaded machine). So a request body ([`WrittenBody`]) parks its waiters when its
//! frame is taken, and the connection's socket ([`FlushSignalling`]) releases them
//! once a flush has pushed everything to the kernel. Both run in the connection's
//! task on the delivery task's runtime: hyper takes the frame and
//! writes it in the same poll of that task, so a thread-local carries the waiters from
//! the body to the first write that follows, which keeps them with its own connection
//! (another connection's flush never releases them).
//!
//! A connection's socket reads only when the [`AnswerGate`] lets it: the exports'
//! answers wait for the response (see `answer_gate`).

use std::{
    cell::RefCell,
    future::Future,
    io,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, Waker},
};

use bytes::Bytes;
use hyper::{body::Frame, Request, Uri};
use hyper_util::{
    client::legacy::{
        connect::{Connected, Connection, HttpConnector},
        Client,
    },
    rt::TokioExecutor,
};
use tokio::sync::oneshot;

use crate::answer_gate::{AnswerGate, Doorbell};

thread_local! {
    /// Waiters of bodies taken by a connection and not flushed yet.
    static TAKEN: RefCell<Vec<oneshot::Sender<()>>> = const { RefCell::new(Vec::new()) };
}

/// Plain HTTP for a local collector, TLS only where the endpoint wants it: loading
/// root certificates costs memory a local endpoint does not need.
enum HttpClient {
    Plain(Client<FlushSignalling<HttpConnector>, WrittenBody>),
    Tls(Client<hyper_rustls::HttpsConnector<FlushSignalling<HttpConnector>>, WrittenBody>),
}

impl HttpClient {
    /// A client for `endpoint`'s scheme, its connections' reads behind `answers`.
    fn for_endpoint(endpoint: &Uri, answers: Arc<AnswerGate>) -> Self {
        let builder = Client::builder(TokioExecutor::new());
        let mut tcp = HttpConnector::new();
        let tcp_with = |tcp| FlushSignalling {
            connector: tcp,
            answers,
        };
        if endpoint.scheme_str() == Some("http") {
            return Self::Plain(builder.build(tcp_with(tcp)));
        }
        tcp.enforce_http(false);
        // The provider is named, not taken from the process default: the AWS SDK may
        // bring a second one, and rustls then refuses to guess.
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
            .expect("ring supports the default protocol versions")
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp_with(tcp));
        Self::Tls(builder.build(connector))
    }

    /// Sends one request.
    async fn request(
        &self,
        request: Request<WrittenBody>,
    ) -> Result<hyper::Response<hyper::body::Incoming>, String> {
        match self {
            Self::Plain(client) => client.request(request).await.map_err(|e| e.to_string()),
            Self::Tls(client) => client.request(request).await.map_err(|e| e.to_string()),
        }
    }
}

/// An export endpoint: its URL, and the client for it, built on first use (on the
/// delivery task: loading TLS roots is not init's business).
pub(crate) struct Endpoint {
    uri: Uri,
    client: std::sync::OnceLock<HttpClient>,
    answers: Arc<AnswerGate>,
}

/// The answer to one request: its status, AWS's name for a refusal when it gave one
/// (`x-amzn-errortype`: `InvalidSignatureException`, `AccessDeniedException`), and its body.
pub(crate) struct Answer {
    pub status: hyper::StatusCode,
    pub error_type: Option<String>,
    pub body: Bytes,
}

/// Why a request got no answer: worth trying again either way.
pub(crate) enum NoAnswer {
    /// The connection failed.
    Connection(String),
    /// No answer within this much time awake.
    Timeout(std::time::Duration),
}

impl std::fmt::Display for NoAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Connection(reason) => write!(f, "connection: {reason}"),
            Self::Timeout(timeout) => write!(f, "no answer within {timeout:?}"),
        }
    }
}

impl Endpoint {
    /// `endpoint` if it is an http(s) URL, else `None` (said once on stderr, naming `what`);
    /// its answers are read when `answers` lets them.
    pub fn parse(endpoint: &str, what: &str, answers: &Arc<AnswerGate>) -> Option<Self> {
        match endpoint.parse::<Uri>() {
            Ok(uri) if matches!(uri.scheme_str(), Some("http" | "https")) => Some(Self {
                uri,
                client: std::sync::OnceLock::new(),
                answers: answers.clone(),
            }),
            _ => {
                eprintln!("[telemetry] {what} disabled: endpoint {endpoint:?} is not an http(s) URL");
                None
            }
        }
    }

    /// The URL.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// Sends one request and reads its answer (the body too, so the connection can be
    /// reused), within `timeout` of time awake: an answer that came while Lambda kept the
    /// process frozen is read on thaw, not taken for a timeout (which would send it twice).
    pub async fn exchange(
        &self,
        request: Request<WrittenBody>,
        timeout: std::time::Duration,
    ) -> Result<Answer, NoAnswer> {
        use http_body_util::BodyExt;
        let client = self
            .client
            .get_or_init(|| HttpClient::for_endpoint(&self.uri, self.answers.clone()));
        let attempt = async {
            let response = client.request(request).await.map_err(NoAnswer::Connection)?;
            let status = response.status();
            let error_type = response
                .headers()
                .get("x-amzn-errortype")
                .and_then(|v| v.to_str().ok())
                .map(|v| v.split(':').next().unwrap_or(v).to_owned());
            // The status is the answer: a body cut short leaves it empty.
            let body = response
                .into_body()
                .collect()
                .await
                .map(|collected| collected.to_bytes())
                .unwrap_or_default();
            Ok(Answer {
                status,
                error_type,
                body,
            })
        };
        crate::clock::awake_timeout(timeout, attempt)
            .await
            .unwrap_or(Err(NoAnswer::Timeout(timeout)))
    }
}

/// A one-frame request body whose waiters are told once its bytes are in the kernel.
pub(crate) struct WrittenBody {
    data: Option<Bytes>,
    written: Vec<oneshot::Sender<()>>,
}

impl WrittenBody {
    /// A body of `data`; `written` are told once it is flushed to the socket (and
    /// dropped unsent if the attempt fails before that).
    pub fn new(data: Bytes, written: Vec<oneshot::Sender<()>>) -> Self {
        Self {
            data: Some(data),
            written,
        }
    }
}

impl hyper::body::Body for WrittenBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let frame = self.data.take().map(|data| Ok(Frame::data(data)));
        if !self.written.is_empty() {
            let written = std::mem::take(&mut self.written);
            TAKEN.with(|taken| taken.borrow_mut().extend(written));
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        hyper::body::SizeHint::with_exact(self.data.as_ref().map_or(0, |d| d.len() as u64))
    }
}

/// A connector whose connections release the waiters of taken bodies on each
/// completed flush, and read only when the [`AnswerGate`] lets them.
#[derive(Clone)]
pub(crate) struct FlushSignalling<C> {
    connector: C,
    answers: Arc<AnswerGate>,
}

impl<C> tower_service::Service<Uri> for FlushSignalling<C>
where
    C: tower_service::Service<Uri>,
    C::Future: Send + 'static,
{
    type Response = Flushed<C::Response>;
    type Error = C::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.connector.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.connector.call(uri);
        let answers = self.answers.clone();
        Box::pin(async move { connecting.await.map(|io| Flushed::new(io, &answers)) })
    }
}

/// A connection's socket that releases the waiters of the bodies it writes once flushed.
pub(crate) struct Flushed<T> {
    io: T,
    /// Waiters of bodies this connection is writing, told at its next completed flush.
    waiters: Vec<oneshot::Sender<()>>,
    /// Let through the gate, until a read finds nothing more (the next answer waits again).
    reading: bool,
    /// The grace after which a read goes even with the gate shut.
    grace: Option<Pin<Box<tokio::time::Sleep>>>,
    /// What the socket wakes when it is ready to read (and, through it, the answer gate).
    doorbell: Arc<Doorbell>,
    /// The waker the socket is given: the doorbell's.
    doorbell_waker: Waker,
}

impl<T> Flushed<T> {
    fn new(io: T, answers: &Arc<AnswerGate>) -> Self {
        let (doorbell, doorbell_waker) = Doorbell::new(answers);
        Flushed {
            io,
            waiters: Vec::new(),
            reading: false,
            grace: None,
            doorbell,
            doorbell_waker,
        }
    }

    /// Claims the waiters of the body just taken: the write that follows is this
    /// connection's (see the module doc).
    fn claim(&mut self) {
        TAKEN.with(|taken| self.waiters.append(&mut taken.borrow_mut()));
    }
}

impl<T: Connection> Connection for Flushed<T> {
    fn connected(&self) -> Connected {
        self.io.connected()
    }
}

impl<T: hyper::rt::Read + Unpin> hyper::rt::Read for Flushed<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if !this.reading {
            if this.doorbell.gate().poll_open(cx, &mut this.grace).is_pending() {
                return Poll::Pending;
            }
            this.reading = true;
        }
        let read = if this.doorbell.is_needed() {
            // The socket rings the doorbell, not the task: an answer arriving later waits
            // for the gate without polling this connection.
            this.doorbell.listen(cx.waker());
            Pin::new(&mut this.io).poll_read(&mut Context::from_waker(&this.doorbell_waker), buf)
        } else {
            Pin::new(&mut this.io).poll_read(cx, buf)
        };
        if read.is_pending() {
            this.reading = false;
        }
        read
    }
}

impl<T: hyper::rt::Write + Unpin> hyper::rt::Write for Flushed<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.claim();
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.claim();
        let flushed = Pin::new(&mut self.io).poll_flush(cx);
        if let Poll::Ready(Ok(())) = flushed {
            for waiter in self.waiters.drain(..) {
                let _ = waiter.send(());
            }
        }
        flushed
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.claim();
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answer_gate::ANSWER_GRACE;
    use hyper_util::rt::TokioIo;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::time::Instant;

    /// A connection's socket behind `answers`, read the way tokio code reads, and the other end.
    fn connection(
        answers: &Arc<AnswerGate>,
    ) -> (
        TokioIo<Flushed<TokioIo<tokio::io::DuplexStream>>>,
        tokio::io::DuplexStream,
    ) {
        let (ours, theirs) = tokio::io::duplex(1024);
        let socket = Flushed::new(TokioIo::new(ours), answers);
        (TokioIo::new(socket), theirs)
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_waits_for_the_response_or_the_grace() {
        let answers = AnswerGate::new();
        answers.enable();
        let (mut socket, mut collector) = connection(&answers);
        let mut buf = [0u8; 16];

        // Shut (a handler runs): the answer in the socket waits out the grace.
        collector.write_all(b"200 OK").await.unwrap();
        let started = Instant::now();
        assert_eq!(socket.read(&mut buf).await.unwrap(), 6);
        assert!(
            started.elapsed() >= ANSWER_GRACE,
            "read after {:?}",
            started.elapsed()
        );

        // A response posted: the waiting read goes at once, long before the grace.
        collector.write_all(b"200 OK").await.unwrap();
        let started = Instant::now();
        let read = tokio::spawn(async move { socket.read(&mut buf).await.map(|n| (n, socket)) });
        tokio::time::sleep(ANSWER_GRACE / 4).await;
        assert!(answers.open(), "the read was parked");
        let (n, mut socket) = read.await.unwrap().unwrap();
        assert_eq!(n, 6);
        assert!(
            started.elapsed() < ANSWER_GRACE,
            "read after {:?}",
            started.elapsed()
        );

        // Open (the flush): reads go at once.
        collector.write_all(b"200 OK").await.unwrap();
        let started = Instant::now();
        assert_eq!(socket.read(&mut buf).await.unwrap(), 6);
        assert_eq!(started.elapsed(), Duration::ZERO);
        answers.shut();
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_arriving_with_the_gate_shut_does_not_poll_the_connection() {
        // A read waits in the socket from the flush (the export just written); the answer
        // comes while the process is frozen, or while the next handler runs.
        let answers = AnswerGate::new();
        answers.enable();
        answers.open();
        let (mut socket, mut collector) = connection(&answers);
        let polls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = polls.clone();
        let mut read = Box::pin(async move {
            let mut buf = [0u8; 16];
            socket.read(&mut buf).await
        });
        let reader = tokio::spawn(std::future::poll_fn(move |cx| {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            read.as_mut().poll(cx)
        }));
        tokio::task::yield_now().await;
        answers.shut();
        let polled = polls.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(polled, 1, "the read is waiting in the socket");

        collector.write_all(b"200 OK").await.unwrap();
        tokio::time::sleep(ANSWER_GRACE * 4).await;
        assert_eq!(
            polls.load(std::sync::atomic::Ordering::SeqCst),
            polled,
            "the answer woke the connection while the handler ran"
        );
        assert!(!reader.is_finished());

        // The response is posted: the answer is read then.
        assert!(answers.open(), "the read was parked");
        assert_eq!(reader.await.unwrap().unwrap(), 6);
    }

    #[tokio::test(start_paused = true)]
    async fn a_flush_ending_after_shutdown_began_leaves_reads_free() {
        let answers = AnswerGate::new();
        answers.enable();
        answers.open(); // the last invocation's flush
        answers.open_for_good(); // SIGTERM meanwhile
        answers.shut(); // that flush ends
        let (mut socket, mut collector) = connection(&answers);
        collector.write_all(b"200 OK").await.unwrap();
        let started = Instant::now();
        let mut buf = [0u8; 16];
        assert_eq!(socket.read(&mut buf).await.unwrap(), 6);
        assert_eq!(started.elapsed(), Duration::ZERO, "the answer waited");
    }

    #[tokio::test(start_paused = true)]
    async fn off_the_gate_lets_every_read_go() {
        // Managed Instances, or delivery on a thread of its own: never enabled.
        let answers = AnswerGate::new();
        let (mut socket, mut collector) = connection(&answers);
        collector.write_all(b"200 OK").await.unwrap();
        let started = Instant::now();
        let mut buf = [0u8; 16];
        assert_eq!(socket.read(&mut buf).await.unwrap(), 6);
        assert_eq!(started.elapsed(), Duration::ZERO);
        assert!(!answers.open(), "nothing was parked");
    }
}
