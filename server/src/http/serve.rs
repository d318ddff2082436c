//! Serving connections with hyper: what `axum::serve` does (TCP_NODELAY, the peer's
//! address for `ConnectInfo`, upgrades, a graceful shutdown that lets every answer
//! finish, streams included), and what it does not: a connection slow to send its request
//! head, or idle between requests, is closed, and only so many are open at once.
//!
//! The two timeouts are kept here rather than by hyper: hyper's `header_read_timeout`
//! starts as soon as a connection falls idle, so it cannot tell a keep-alive connection
//! that is merely idle from one trickling a request head, and those deserve different
//! bounds.

use crate::config::Config;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt;

/// How long a connection may take and how many may be open (`TOLLGATE_HEADER_READ_TIMEOUT_MS`,
/// `TOLLGATE_IDLE_TIMEOUT_MS`, `TOLLGATE_MAX_CONNECTIONS`).
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub header_read: Duration,
    pub idle: Duration,
    pub max_open: NonZeroU32,
}

impl ConnectionLimits {
    pub fn of(config: &Config) -> ConnectionLimits {
        ConnectionLimits {
            header_read: Duration::from_millis(config.header_read_timeout_ms),
            idle: Duration::from_millis(config.idle_timeout_ms),
            max_open: config.max_connections,
        }
    }
}

/// Serves `router` until `shutdown` completes, then stops accepting and waits until every
/// open connection has finished what it was answering.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let open = Arc::new(Semaphore::new(limits.max_open.get() as usize));
    let (stop, stopping) = watch::channel(());
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    pause_after(err).await;
                    continue;
                }
            },
        };
        // Refusing at once, rather than leaving the connection in the kernel's queue, lets a
        // client (or its load balancer) try elsewhere.
        let Ok(permit) = open.clone().try_acquire_owned() else {
            metrics::counter!(REFUSED_METRIC).increment(1);
            tracing::debug!(%peer, "connection closed: the open-connection limit is reached");
            continue;
        };
        tokio::spawn(serve_connection(stream, peer, router.clone(), limits, stopping.clone(), permit));
    }
    drop(listener);
    // Dropping the sender is the signal: every connection's `changed()` returns.
    drop(stop);
    // Each connection holds a permit until it ends: when all are back, all have ended.
    let _all_closed = open.acquire_many(limits.max_open.get()).await;
}

const REFUSED_METRIC: &str = "tollgate_connections_refused_total";
const TIMED_OUT_METRIC: &str = "tollgate_connections_timed_out_total";

/// Some accept errors concern one connection (try the next one at once); others, like
/// running out of file descriptors, would repeat in a busy loop: wait a little.
async fn pause_after(err: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(err.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset) {
        return;
    }
    tracing::error!(error = %err, "accepting a connection failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: ConnectionLimits,
    mut stopping: watch::Receiver<()>,
    _permit: OwnedSemaphorePermit,
) {
    // Nagle's algorithm would hold small responses back for the client's delayed ACK.
    if let Err(err) = stream.set_nodelay(true) {
        tracing::debug!(error = %err, "could not set TCP_NODELAY");
    }
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched { stream, activity: activity.clone() });
    let service = {
        let activity = activity.clone();
        service_fn(move |request| answer(router.clone(), peer, activity.clone(), request))
    };
    let mut builder = Builder::new(TokioExecutor::new());
    // No timer is given to hyper, and its own header timeout is off: see the module's note.
    builder.http1().header_read_timeout(None);
    let connection = builder.serve_connection_with_upgrades(io, service);
    tokio::pin!(connection);
    let expired = activity.expired(limits);
    tokio::pin!(expired);
    let mut draining = false;
    loop {
        tokio::select! {
            served = connection.as_mut() => {
                if let Err(err) = served {
                    tracing::trace!(error = %err, %peer, "connection ended with an error");
                }
                break;
            }
            _ = stopping.changed(), if !draining => {
                draining = true;
                connection.as_mut().graceful_shutdown();
            }
            timeout = &mut expired => {
                metrics::counter!(TIMED_OUT_METRIC, "timeout" => timeout.label()).increment(1);
                tracing::debug!(%peer, timeout = timeout.label(), "connection closed: it timed out");
                break;
            }
        }
    }
}

/// One request: the peer's address for `ConnectInfo`, and the request counted as in flight
/// until its response body has been sent or dropped.
async fn answer(
    router: Router,
    peer: SocketAddr,
    activity: Arc<Activity>,
    mut request: hyper::Request<Incoming>,
) -> Result<hyper::Response<Tracked>, Infallible> {
    let in_flight = InFlight::start(activity);
    request.extensions_mut().insert(ConnectInfo(peer));
    let response = router.oneshot(request).await?;
    Ok(response.map(|body| Tracked { body, _in_flight: in_flight }))
}

/// What a connection is doing, as its watchdog reads it. Times are milliseconds since
/// `born`, so they fit in atomics.
struct Activity {
    born: Instant,
    /// Requests being answered (one at a time on HTTP/1.1, many on HTTP/2).
    in_flight: AtomicU32,
    /// When the connection last had nothing to answer.
    idle_since: AtomicU64,
    /// When the first byte of the next request arrived; [`NOT_YET`] before it. A new
    /// connection's clock starts when it is accepted.
    head_since: AtomicU64,
    /// Wakes the watchdog when a deadline moves: a request head begins or an answer ends.
    changed: Notify,
}

const NOT_YET: u64 = u64::MAX;

#[derive(Debug, Clone, Copy)]
enum Timeout {
    HeaderRead,
    Idle,
}

impl Timeout {
    fn label(self) -> &'static str {
        match self {
            Timeout::HeaderRead => "header_read",
            Timeout::Idle => "idle",
        }
    }
}

impl Activity {
    fn new() -> Activity {
        Activity {
            born: Instant::now(),
            in_flight: AtomicU32::new(0),
            idle_since: AtomicU64::new(0),
            head_since: AtomicU64::new(0),
            changed: Notify::new(),
        }
    }

    fn now(&self) -> u64 {
        self.born.elapsed().as_millis() as u64
    }

    /// Bytes arrived: the first ones while nothing is in flight begin a request head.
    fn read(&self) {
        if self.head_since.load(Ordering::Acquire) == NOT_YET && self.in_flight.load(Ordering::Acquire) == 0 {
            self.head_since.store(self.now(), Ordering::Release);
            self.changed.notify_one();
        }
    }

    /// When the connection times out if nothing changes; none while a request is answered.
    fn deadline(&self, limits: ConnectionLimits) -> Option<(Instant, Timeout)> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let at = |since: u64, limit: Duration| self.born + Duration::from_millis(since) + limit;
        match self.head_since.load(Ordering::Acquire) {
            NOT_YET => Some((at(self.idle_since.load(Ordering::Acquire), limits.idle), Timeout::Idle)),
            since => Some((at(since, limits.header_read), Timeout::HeaderRead)),
        }
    }

    /// Completes when a deadline passes.
    async fn expired(&self, limits: ConnectionLimits) -> Timeout {
        loop {
            let changed = self.changed.notified();
            match self.deadline(limits) {
                None => changed.await,
                Some((deadline, timeout)) if deadline <= Instant::now() => return timeout,
                Some((deadline, _)) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(deadline.into()) => {}
                        () = changed => {}
                    }
                }
            }
        }
    }
}

/// A request in flight on its connection; when it ends the connection is idle again.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn start(activity: Arc<Activity>) -> InFlight {
        activity.head_since.store(NOT_YET, Ordering::Release);
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(activity)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let activity = &self.0;
        activity.idle_since.store(activity.now(), Ordering::Release);
        activity.in_flight.fetch_sub(1, Ordering::AcqRel);
        activity.changed.notify_one();
    }
}

/// A response body that keeps its request in flight until hyper has sent it whole (or
/// dropped it, when the client went away).
struct Tracked {
    body: Body,
    _in_flight: InFlight,
}

impl hyper::body::Body for Tracked {
    type Data = <Body as hyper::body::Body>::Data;
    type Error = <Body as hyper::body::Body>::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The socket, telling the watchdog when a request's first bytes arrive.
struct Watched {
    stream: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, data)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, data)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
