//! Connections: the accept loop of [`serve`], the connection limit (`--max-connections`) and
//! what frees a slot, the time limits of a connection, graceful shutdown, and
//! [`shutdown_signal`]. Each connection is served by hyper's HTTP/1 connection
//! ([`hyper::server::conn::http1`]); [`serve`] says what limits it.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, oneshot, watch};
use tower::ServiceExt;

use super::AppState;
use super::metrics::Metrics;
use super::routes::router;

/// Serves `state` on `listener` until `shutdown` resolves, then stops accepting connections
/// and returns once the requests in flight are answered, or at the latest `config.timeout`
/// after `shutdown` (the longest a request may take), whatever the clients still hold open.
///
/// Limits of the connections (`config` is the state's [`ServeConfig`](super::ServeConfig)):
/// - the head of a request (its request line and headers) must arrive within
///   `config.header_timeout` of the connection's start or of the end of the previous answer on
///   it (hyper's `header_read_timeout`); else the connection is closed, so a client that
///   trickles its head a byte at a time cannot hold it, and neither can an idle keep-alive;
/// - a connection on which nothing is received or sent for `config.timeout` plus one second is
///   closed (a body that stops arriving, an answer the client does not read);
/// - at most `config.max_connections` are open at once. When all slots are taken, a new
///   connection takes the slot of the open connection that has waited longest without a
///   request in flight (a client still sending its head, or an idle keep-alive), which is
///   closed; only when every open connection has a request in flight do new ones wait in the
///   listen backlog. So slow clients holding every slot cannot keep `GET /healthz` out.
///
/// A request head that hyper cannot parse (an unparseable `Content-Length`, a malformed header
/// line, a head over hyper's size limit) is answered by hyper itself, with a 400 (431, 414)
/// without a body, before any handler of the service runs: hyper has no hook to give such an
/// answer a body, and reading heads ourselves would mean writing our own HTTP parser.
///
/// # Errors
/// None at present (the `Result` leaves room for listener errors): an error accepting a
/// connection (too many open files, say) is retried after a pause, as axum's `serve` does.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let config = state.0.config.clone();
    let slots = Arc::new(Slots::new(
        config.max_connections.max(1),
        state.0.metrics.clone(),
    ));
    let limits = Limits {
        header: config.header_timeout,
        // Longer than a request's own limit, so that a slow request gets its 503 (its body
        // arrived before its timer started) rather than a closed connection.
        idle: config.timeout + IDLE_MARGIN,
    };
    let app = router(state);
    // Each connection holds a receiver: `closed` resolves once every connection has ended.
    let (closing_tx, closing_rx) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, slot) = tokio::select! {
            () = &mut shutdown => break,
            accepted = accept(&listener, &slots) => accepted,
        };
        tokio::spawn(serve_connection(
            tcp,
            slot,
            app.clone(),
            limits,
            closing_rx.clone(),
        ));
    }
    drop(listener);
    drop(closing_rx);
    let _ = closing_tx.send(true);
    let _ = tokio::time::timeout(config.timeout, closing_tx.closed()).await;
    Ok(())
}

/// How much longer than the request timeout a connection may stay silent before it is closed.
const IDLE_MARGIN: Duration = Duration::from_secs(1);

/// The time limits of a connection.
#[derive(Clone, Copy)]
struct Limits {
    /// To receive a request's head (hyper's `header_read_timeout`).
    header: Duration,
    /// Without receiving or sending anything ([`IdleTimeout`]).
    idle: Duration,
}

/// Accepts the next connection once it can have a slot (waiting in the listen backlog while
/// every open connection has a request in flight).
async fn accept(listener: &TcpListener, slots: &Arc<Slots>) -> (TcpStream, Slot) {
    loop {
        slots.room().await;
        let tcp = match listener.accept().await {
            Ok((tcp, _)) => tcp,
            // The client left before it was accepted: nothing to do.
            Err(e) if is_connection_error(&e) => continue,
            // Out of file descriptors, say: retry once some may have been closed.
            Err(_) => {
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        loop {
            if let Some(slot) = slots.take() {
                return (tcp, slot);
            }
            // Every connection got a request in flight meanwhile.
            slots.room().await;
        }
    }
}

fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}

/// Serves one connection until it ends, is evicted (its slot given to a new connection), or,
/// after `closing`, has answered the request in flight.
async fn serve_connection(
    tcp: TcpStream,
    slot: Slot,
    app: Router,
    limits: Limits,
    mut closing: watch::Receiver<bool>,
) {
    let Slot {
        id,
        slots,
        mut evicted,
    } = slot;
    let _open = OpenGuard {
        id,
        slots: slots.clone(),
    };
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let in_flight = InFlight::start(&slots, id);
        let app = app.clone();
        async move {
            let response = app
                .oneshot(request.map(Body::new))
                .await
                .unwrap_or_else(|never: Infallible| match never {});
            Ok::<_, Infallible>(response.map(|body| WhileSending {
                body,
                _in_flight: in_flight,
            }))
        }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header);
    let io = TokioIo::new(IdleTimeout::new(tcp, limits.idle));
    let mut conn = std::pin::pin!(builder.serve_connection(io, service));
    tokio::select! {
        _ = conn.as_mut() => return,
        // Dropping the connection closes it.
        _ = &mut evicted => return,
        _ = closing.wait_for(|&c| c) => conn.as_mut().graceful_shutdown(),
    }
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = &mut evicted => {}
    }
}

/// The connection slots: the open connections, and whether each has a request in flight.
struct Slots {
    max: usize,
    table: Mutex<Table>,
    /// Notified when a connection closes or its last request in flight ends.
    changed: Notify,
    metrics: Arc<Metrics>,
}

#[derive(Default)]
struct Table {
    next_id: u64,
    open: HashMap<u64, Open>,
}

/// An open connection.
struct Open {
    /// Requests received and not yet answered in full.
    in_flight: usize,
    /// Since when it has had no request in flight (its start, or the end of its last answer).
    waiting_since: Instant,
    /// Closes it to give its slot to a new connection.
    evict: oneshot::Sender<()>,
}

impl Table {
    /// Whether a new connection can have a slot: a free one, or that of a connection without a
    /// request in flight.
    fn has_room(&self, max: usize) -> bool {
        self.open.len() < max || self.open.values().any(|c| c.in_flight == 0)
    }
}

/// A new connection's slot.
struct Slot {
    id: u64,
    slots: Arc<Slots>,
    /// Resolves when the connection is to be closed for a new one.
    evicted: oneshot::Receiver<()>,
}

impl Slots {
    fn new(max: usize, metrics: Arc<Metrics>) -> Slots {
        Slots {
            max,
            table: Mutex::new(Table::default()),
            changed: Notify::new(),
            metrics,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        // Nothing panics while holding the lock; a poisoned table is still consistent.
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Resolves once a new connection can have a slot.
    async fn room(&self) {
        loop {
            // Registered before the check, so that a change right after it is not missed.
            let changed = self.changed.notified();
            if self.lock().has_room(self.max) {
                return;
            }
            changed.await;
        }
    }

    /// A slot for a new connection: a free one, else that of the connection that has waited
    /// longest without a request in flight, which is told to close; `None` when every
    /// connection has a request in flight.
    fn take(self: &Arc<Self>) -> Option<Slot> {
        let mut table = self.lock();
        if table.open.len() >= self.max {
            let oldest = table
                .open
                .iter()
                .filter(|(_, c)| c.in_flight == 0)
                .min_by_key(|(id, c)| (c.waiting_since, **id))
                .map(|(id, _)| *id)?;
            if let Some(evicted) = table.open.remove(&oldest) {
                let _ = evicted.evict.send(());
                self.metrics.connection_evicted();
            }
        }
        let id = table.next_id;
        table.next_id += 1;
        let (evict, evicted) = oneshot::channel();
        table.open.insert(
            id,
            Open {
                in_flight: 0,
                waiting_since: Instant::now(),
                evict,
            },
        );
        Some(Slot {
            id,
            slots: self.clone(),
            evicted,
        })
    }
}

/// Frees a connection's slot when its task ends.
struct OpenGuard {
    id: u64,
    slots: Arc<Slots>,
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.slots.lock().open.remove(&self.id);
        self.slots.changed.notify_waiters();
    }
}

/// A request in flight on a connection, from its head until its answer is sent in full (or
/// dropped): while one is, the connection keeps its slot.
struct InFlight {
    id: u64,
    slots: Arc<Slots>,
}

impl InFlight {
    fn start(slots: &Arc<Slots>, id: u64) -> InFlight {
        // An evicted connection is no longer in the table: it is being closed anyway.
        if let Some(c) = slots.lock().open.get_mut(&id) {
            c.in_flight += 1;
        }
        InFlight {
            id,
            slots: slots.clone(),
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut table = self.slots.lock();
        if let Some(c) = table.open.get_mut(&self.id) {
            c.in_flight = c.in_flight.saturating_sub(1);
            if c.in_flight == 0 {
                c.waiting_since = Instant::now();
                drop(table);
                self.slots.changed.notify_waiters();
            }
        }
    }
}

/// An answer's body, which keeps its request in flight until hyper has sent it and drops it.
struct WhileSending {
    body: Body,
    _in_flight: InFlight,
}

impl hyper::body::Body for WhileSending {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A connection whose reads fail with `TimedOut` once nothing has been received or sent for
/// `idle`.
struct IdleTimeout {
    io: TcpStream,
    idle: Duration,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl IdleTimeout {
    fn new(io: TcpStream, idle: Duration) -> IdleTimeout {
        IdleTimeout {
            io,
            idle,
            deadline: Box::pin(tokio::time::sleep(idle)),
        }
    }

    fn touch(&mut self) {
        let next = tokio::time::Instant::now() + self.idle;
        self.deadline.as_mut().reset(next);
    }
}

impl tokio::io::AsyncRead for IdleTimeout {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::task::Poll;
        let before = buf.filled().len();
        match std::pin::Pin::new(&mut self.io).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() > before {
                    self.touch();
                }
                Poll::Ready(result)
            }
            Poll::Pending => match self.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "nothing received within the timeout",
                ))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl tokio::io::AsyncWrite for IdleTimeout {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let result = std::pin::Pin::new(&mut self.io).poll_write(cx, data);
        if matches!(result, std::task::Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        result
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let result = std::pin::Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        if matches!(result, std::task::Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
