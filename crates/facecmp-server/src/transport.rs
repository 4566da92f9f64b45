//! Accepting connections and speaking HTTP/1.1 on them, with the limits
//! that keep one client from starving the others.
//!
//! `axum::serve` has no header-read timeout, no connection cap and no
//! shutdown deadline, so the service runs its own accept loop over hyper:
//!
//! - a connection must deliver a complete request head within
//!   [`ConnectionLimits::header_read_timeout`] of opening or of its previous
//!   response (hyper's timer also runs while a keep-alive connection idles, so
//!   the same bound closes idle connections);
//! - a request body must arrive whole within
//!   [`ConnectionLimits::body_read_timeout`] of its head (a total, not a gap
//!   between bytes: a byte a second never resets it);
//! - at most [`ConnectionLimits::max_connections`] are open at once, and at
//!   most [`ConnectionLimits::max_connections_per_client`] from one address;
//!   connections over a cap are answered 503 and closed at once, so that the
//!   accept queue keeps moving for everyone else;
//! - on shutdown, no new connection is accepted, requests in flight finish,
//!   and whatever is still open after [`ConnectionLimits::shutdown_grace`] is
//!   dropped.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{Request, Response};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

/// The transport's limits. The defaults suit cameras and operators on a
/// LAN; every one is a `facecmp serve` flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Time for a complete request head, counted from the connection's
    /// opening or its previous response: also the keep-alive idle timeout.
    pub header_read_timeout: Duration,
    /// Time for a whole request body, counted from its head.
    pub body_read_timeout: Duration,
    /// Connections open at once (lowered to fit under the process's
    /// open-file limit, see [`ConnectionLimits::fitted_to_open_file_limit`]).
    pub max_connections: usize,
    /// Connections open at once from one IP address; 0 for no per-address cap.
    pub max_connections_per_client: usize,
    /// How long shutdown waits for open connections before dropping them.
    pub shutdown_grace: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(60),
            max_connections: 1024,
            max_connections_per_client: 64,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// File descriptors kept free for everything that is not a client
/// connection: the listener, the gallery's SQLite files, the models, logs.
const RESERVED_FILE_DESCRIPTORS: u64 = 64;

impl ConnectionLimits {
    /// Lowers `max_connections` so that the connections alone can never use
    /// up the open-file limit: an `accept` that fails with "too many open
    /// files" would otherwise shut out every client, the healthy ones too.
    pub fn fitted_to_open_file_limit(self) -> ConnectionLimits {
        match open_file_limit() {
            Some(limit) => {
                let room = limit.saturating_sub(RESERVED_FILE_DESCRIPTORS).max(1);
                let max_connections = self.max_connections.min(usize::try_from(room).unwrap_or(usize::MAX));
                ConnectionLimits { max_connections, ..self }
            }
            None => self,
        }
    }
}

#[cfg(unix)]
#[allow(unsafe_code)] // libc's getrlimit(); the block below says why it is sound.
fn open_file_limit() -> Option<u64> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes one rlimit into the struct we own.
    let status = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    (status == 0 && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
}

#[cfg(not(unix))]
fn open_file_limit() -> Option<u64> {
    None
}

/// Serves `app` on `listener` within `limits` until `shutdown` completes,
/// then lets open requests finish for at most `limits.shutdown_grace`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = limits.fitted_to_open_file_limit();
    tracing::info!(
        header_read_timeout = ?limits.header_read_timeout,
        body_read_timeout = ?limits.body_read_timeout,
        max_connections = limits.max_connections,
        max_connections_per_client = limits.max_connections_per_client,
        shutdown_grace = ?limits.shutdown_grace,
        "connection limits"
    );
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let per_client = PerClient::new(limits.max_connections_per_client);
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors or a connection reset while
                    // queued: wait a moment rather than spin, then go on.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(permits) = admit(&open, &per_client, &stream, peer) else { continue };
        let connection = http.serve_connection(TokioIo::new(stream), service(app.clone(), peer, limits));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
            drop(permits);
        });
    }
    drop(listener);
    let open_connections = limits.max_connections - open.available_permits();
    tracing::info!(open_connections, grace = ?limits.shutdown_grace, "shutting down: finishing the requests in flight");
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown()).await.is_err() {
        let open_connections = limits.max_connections - open.available_permits();
        tracing::warn!(open_connections, "shutdown grace over; dropping the connections still open");
    }
    Ok(())
}

/// Takes a place for the connection under both caps, or answers 503 and
/// drops it.
fn admit(
    open: &Arc<Semaphore>,
    per_client: &PerClient,
    stream: &TcpStream,
    peer: SocketAddr,
) -> Option<(OwnedSemaphorePermit, ClientSlot)> {
    let refuse = |why: &'static str| {
        tracing::warn!(%peer, why, "connection refused");
        // Best effort and never blocking: the socket is new, its send
        // buffer empty.
        let _ = stream.try_write(
            b"HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\nretry-after: 1\r\ncontent-length: 0\r\n\r\n",
        );
    };
    let Ok(open_permit) = open.clone().try_acquire_owned() else {
        refuse("too many open connections");
        return None;
    };
    let Some(slot) = per_client.admit(peer.ip()) else {
        refuse("too many open connections from this address");
        return None;
    };
    Some((open_permit, slot))
}

/// The per-address connection counts.
#[derive(Clone)]
struct PerClient {
    max: usize,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One connection's place in its address's count; freed on drop.
struct ClientSlot {
    address: IpAddr,
    open: Option<Arc<Mutex<HashMap<IpAddr, usize>>>>,
}

impl PerClient {
    fn new(max: usize) -> PerClient {
        PerClient { max, open: Arc::default() }
    }

    fn admit(&self, address: IpAddr) -> Option<ClientSlot> {
        if self.max == 0 {
            return Some(ClientSlot { address, open: None });
        }
        let mut open = self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = open.entry(address).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(ClientSlot { address, open: Some(self.open.clone()) })
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let Some(open) = &self.open else { return };
        let mut open = open.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = open.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.address);
            }
        }
    }
}

/// The router as a hyper service for one connection: every request body
/// gets its deadline, and handlers may extract the peer's address.
fn service(
    app: Router,
    peer: SocketAddr,
    limits: ConnectionLimits,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = Response<Body>,
    Error = Infallible,
    Future = impl Future<Output = Result<Response<Body>, Infallible>> + Send,
> + Clone {
    hyper::service::service_fn(move |request: Request<Incoming>| {
        let mut request = request.map(|body| Body::new(DeadlineBody::new(body, limits.body_read_timeout)));
        request.extensions_mut().insert(ConnectInfo(peer));
        app.clone().oneshot(request)
    })
}

/// The error a request body ends with when it was not all sent in time.
#[derive(Debug, thiserror::Error)]
#[error("the request body was not received within {0:?}")]
pub struct BodyTimedOut(pub Duration);

/// A request body that fails once its deadline passes, however steadily
/// its bytes trickle in.
struct DeadlineBody {
    inner: Incoming,
    allowed: Duration,
    deadline: Instant,
    /// Armed on the first wait, so bodies that arrive at once cost no timer.
    timer: Option<Pin<Box<Sleep>>>,
}

impl DeadlineBody {
    fn new(inner: Incoming, allowed: Duration) -> DeadlineBody {
        DeadlineBody { inner, allowed, deadline: Instant::now() + allowed, timer: None }
    }
}

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
        }
        let deadline = this.deadline;
        let timer = this.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimedOut(this.allowed))))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Whether a body-reading error (from any extractor) was the body deadline.
pub fn is_body_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if error.is::<BodyTimedOut>() {
            return true;
        }
        cause = error.source();
    }
    false
}
