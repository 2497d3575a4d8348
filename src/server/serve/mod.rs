//! The accept loops: each connection served by hyper with the limits `axum::serve` cannot set —
//! a deadline for a request's headers, an idle keep-alive timeout, a cap on open connections and
//! one per client address — and, like `axum::serve`, the peer address as `ConnectInfo` and a
//! graceful shutdown. A closing connection reads and drops what its client still sends for up
//! to two seconds (`activity::Lingering`), so an answer sent before a request's body was read
//! (a 413) is not lost to a reset.
//!
//! Connections are served by `SERVER_WORKERS` threads, each with a single-threaded runtime and
//! a listening socket of its own on the one address (`SO_REUSEPORT`: the kernel spreads new
//! connections over them). A connection stays on the thread that accepted it, so a request's
//! tasks, timers and socket never move between threads. Measured on the session read, one
//! multi-threaded runtime spent a third of the server's CPU on what that costs: workers waking
//! each other, stealing tasks and sharing the I/O driver. The rest of the process (the Redis
//! pool, background tasks, `/metrics`) stays on the main runtime.
//!
//! With `SERVER_PIN_WORKERS=true` worker `i` is pinned to CPU core `i` and its socket
//! asks for the connections whose packets that core handles (`SO_INCOMING_CPU`): a client's
//! packets, the request and the wake-up of whoever waits for the answer stay on one core,
//! instead of every response interrupting the other core.

mod activity;
mod per_address;

use std::{future::Future, io, net::SocketAddr, sync::Arc, time::Duration};

use axum::{body::Body, extract::ConnectInfo};
use core_affinity::CoreId;
use hyper::{
    body::Incoming,
    header::{HeaderValue, CONNECTION},
    Request, Version,
};
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto::Builder, graceful::GracefulShutdown},
};
use tokio::{
    net::{TcpListener, TcpSocket, TcpStream},
    sync::{oneshot, watch, OwnedSemaphorePermit, Semaphore},
};
use tower::ServiceExt;

use self::{
    activity::{Activity, BodyInFlight, InFlight, Tracked},
    per_address::{AddressSlot, PerAddress},
};
use super::{client_address::TrustedProxies, router::App, state::Draining};

/// Concurrent HTTP/2 streams on one connection.
const MAX_STREAMS_PER_CONNECTION: u32 = 32;

/// Stack of every thread that serves requests: rendering a signed-in page awaits deeply nested
/// futures (middleware, server function, Leptos' renderer) that an unoptimized build keeps on
/// the stack, and tokio's default 2 MiB overflowed, which aborts the whole process.
pub const WORKER_STACK_BYTES: usize = 8 * 1024 * 1024;

/// Pending connections each listening socket queues before the accept loop takes them.
const LISTEN_BACKLOG: u32 = 1024;

/// The connection limits, from the `[server]` settings.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// From the moment a connection is ready for a request until its headers are complete.
    pub header_read: Duration,
    /// A connection with no request in flight is closed after this. On HTTP/1 bytes on the way
    /// count as activity; on HTTP/2 only streams do, so PINGs and other control frames cannot
    /// hold a connection open.
    pub keep_alive: Duration,
    /// Connections served at once, over all workers; more wait in the listen backlog (and one
    /// per worker, accepted, for the next free slot).
    pub max_connections: usize,
    /// Connections one client address (an IPv6 /64) may hold at once; more are closed at once.
    /// Trusted proxies, which carry many clients' connections, are exempt.
    pub max_per_address: usize,
    pub trusted_proxies: TrustedProxies,
    /// Serve HTTP/2 over plain TCP (h2c). Off: HTTP/1 only.
    pub h2c: bool,
    /// How long a stop waits for open connections once the listener is closed.
    pub shutdown_grace: Duration,
}

/// The site's listening sockets, one per worker thread, all bound to one address, each with
/// the core its worker is pinned to (when pinned).
#[derive(Debug)]
pub struct Listeners {
    sockets: Vec<(std::net::TcpListener, Option<CoreId>)>,
    addr: SocketAddr,
}

impl Listeners {
    /// Binds `workers` sockets (at least one) to `addr`; with port 0, the port the first one
    /// got. With `pin`, socket `i` takes the connections core `i` handles (cores taken in
    /// turn when there are more workers than cores). Needs a runtime context (the sockets are
    /// made by tokio).
    pub fn bind(addr: SocketAddr, workers: usize, pin: bool) -> io::Result<Listeners> {
        let cores = match pin {
            true => core_affinity::get_core_ids().unwrap_or_default(),
            false => Vec::new(),
        };
        let core = |index: usize| (!cores.is_empty()).then(|| cores[index % cores.len()]);
        let first = listen_shared(addr, core(0))?;
        let addr = first.local_addr()?;
        let mut sockets = vec![(first, core(0))];
        for index in 1..workers.max(1) {
            sockets.push((listen_shared(addr, core(index))?, core(index)));
        }
        Ok(Listeners { sockets, addr })
    }

    /// Where they listen.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// A listening socket that others on the same address share (`SO_REUSEPORT`), preferred for
/// connections that arrive on `core`.
fn listen_shared(addr: SocketAddr, core: Option<CoreId>) -> io::Result<std::net::TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    // As `TcpListener::bind` does: a restarted server can bind while old connections linger.
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(true)?;
    // Elsewhere the kernel has no such preference; the workers are still pinned.
    #[cfg(target_os = "linux")]
    if let Some(core) = core {
        socket2::SockRef::from(&socket).set_cpu_affinity(core.id)?;
    }
    #[cfg(not(target_os = "linux"))]
    let _ = core;
    socket.bind(addr)?;
    // Made by this runtime, served by a worker's: handed over as a plain socket.
    socket.listen(LISTEN_BACKLOG)?.into_std()
}

/// What every worker shares.
struct Serving {
    limits: ConnectionLimits,
    draining: Draining,
    slots: Arc<Semaphore>,
    per_address: Arc<PerAddress>,
    builder: Builder<TokioExecutor>,
}

/// Serves `apps` on `listeners`, a worker thread for each pair, until `shutdown` completes;
/// then each waits for its open requests. The workers log to `log` when given, else to the
/// global subscriber. While `draining` is on, every HTTP/1 response asks its client to
/// close the connection. An error when a worker thread cannot be started.
pub async fn serve(
    listeners: Listeners,
    apps: Vec<App>,
    limits: ConnectionLimits,
    log: Option<tracing::Dispatch>,
    draining: Draining,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let serving = Arc::new(Serving {
        builder: http_builder(&limits),
        slots: Arc::new(Semaphore::new(limits.max_connections.max(1))),
        per_address: Arc::default(),
        limits,
        draining,
    });
    let (stop, stopped) = watch::channel(false);
    let mut workers = Vec::with_capacity(listeners.sockets.len());
    for (index, ((socket, core), app)) in listeners.sockets.into_iter().zip(apps).enumerate() {
        let (serving, stopped) = (serving.clone(), stopped.clone());
        let log = log.clone();
        let worker = Worker {
            index,
            core,
            app,
            log,
        };
        workers.push(worker.start(socket, serving, stopped)?);
    }
    shutdown.await;
    let _ = stop.send(true);
    for finished in workers {
        // A worker that panicked has dropped its sender: nothing left to wait for.
        let _ = finished.await;
    }
    Ok(())
}

fn http_builder(limits: &ConnectionLimits) -> Builder<TokioExecutor> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read);
    // hyper's default of 200 streams a connection would let one address hold 64 × 200 requests
    // open; a browser needs a few, a proxy multiplexing many clients uses HTTP/1 or TLS.
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(MAX_STREAMS_PER_CONNECTION);
    builder
}

/// One thread serving one listening socket with one router.
struct Worker {
    index: usize,
    core: Option<CoreId>,
    app: App,
    log: Option<tracing::Dispatch>,
}

impl Worker {
    /// A thread running `socket`'s accept loop on a runtime of its own; the receiver hears
    /// when it has stopped and its connections are done.
    fn start(
        self,
        socket: std::net::TcpListener,
        serving: Arc<Serving>,
        stopped: watch::Receiver<bool>,
    ) -> io::Result<oneshot::Receiver<()>> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (finished, done) = oneshot::channel();
        let Worker {
            index,
            core,
            app,
            log,
        } = self;
        std::thread::Builder::new()
            .name(format!("http-worker-{index}"))
            .stack_size(WORKER_STACK_BYTES)
            .spawn(move || {
                let _log = log.as_ref().map(tracing::dispatcher::set_default);
                if let Some(core) = core {
                    if !core_affinity::set_for_current(core) {
                        tracing::warn!(core = core.id, "could not pin a worker to its core");
                    }
                }
                runtime.block_on(async move {
                    match TcpListener::from_std(socket) {
                        Ok(listener) => {
                            accept_until_stopped(listener, &app, &serving, stopped).await
                        }
                        Err(err) => tracing::error!(error = %err, "a worker could not listen"),
                    }
                });
                let _ = finished.send(());
            })?;
        Ok(done)
    }
}

/// One worker's accept loop, then its share of the graceful shutdown.
async fn accept_until_stopped(
    listener: TcpListener,
    app: &App,
    serving: &Serving,
    mut stopped: watch::Receiver<bool>,
) {
    let limits = &serving.limits;
    let graceful = GracefulShutdown::new();
    let stop = stopped.wait_for(|stopped| *stopped);
    tokio::pin!(stop);
    loop {
        // Accepted first, then held until a slot is free: a slot taken before accepting would
        // sit idle on this socket while a connection waits on another worker's.
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %err, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        let address_slot = if limits.trusted_proxies.trusts(peer.ip()) {
            None
        } else {
            match serving.per_address.admit(peer.ip(), limits.max_per_address) {
                Some(slot) => Some(slot),
                None => {
                    tracing::debug!("a client address is over its connection limit; closed one");
                    continue;
                }
            }
        };
        let permit = tokio::select! {
            permit = serving.slots.clone().acquire_owned() => permit,
            _ = &mut stop => break,
        };
        let Ok(permit) = permit else { break };
        let connection = Connection {
            stream,
            peer,
            slots: (permit, address_slot),
        };
        connection.serve(app, serving, &graceful);
    }
    drop(listener);
    // A client reading its answer a byte at a time must not hold the process forever: past the
    // longest a request may take, what is left is cut.
    let finished = tokio::time::timeout(limits.shutdown_grace, graceful.shutdown()).await;
    if finished.is_err() {
        tracing::warn!("connections still open after the shutdown grace; closed them");
    }
}

/// An accepted connection and the slots it holds until it closes.
struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    slots: (OwnedSemaphorePermit, Option<AddressSlot>),
}

impl Connection {
    /// Serves it on a task of its own until it closes, is idle for the keep-alive time, or the
    /// server shuts down.
    fn serve(self, app: &App, serving: &Serving, graceful: &GracefulShutdown) {
        let Serving {
            limits,
            draining,
            builder,
            ..
        } = serving;
        let Connection {
            stream,
            peer,
            slots,
        } = self;
        let activity = Arc::new(Activity::new());
        let service = hyper::service::service_fn({
            let app = app.clone();
            let activity = activity.clone();
            let draining = draining.clone();
            move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                // HTTP/2 has no `Connection` header; its graceful shutdown sends GOAWAY instead.
                let http1 = request.version() < Version::HTTP_2;
                let in_flight = InFlight::start(activity.clone());
                let response = app.clone().oneshot(request.map(Body::new));
                let draining = draining.clone();
                async move {
                    let mut response = response.await;
                    if !http1 {
                        // HTTP/2 bytes are not activity (PINGs are bytes too): the stream is in
                        // flight while its body is being produced, not while it waits on a
                        // client that opens no window for it.
                        return response.map(|response| {
                            response.map(|body| Body::new(BodyInFlight::new(body, in_flight)))
                        });
                    }
                    if draining.is_on() {
                        if let Ok(response) = response.as_mut() {
                            response
                                .headers_mut()
                                .insert(CONNECTION, HeaderValue::from_static("close"));
                        }
                    }
                    drop(in_flight);
                    response
                }
            }
        });
        let io = TokioIo::new(Tracked::new(stream, activity.clone(), limits.h2c));
        let connection = builder
            .serve_connection_with_upgrades(io, service)
            .into_owned();
        let connection = graceful.watch(connection);
        let keep_alive = limits.keep_alive;
        tokio::spawn(async move {
            let _slots = slots;
            tokio::select! {
                _ = connection => {}
                () = activity.idle_for(keep_alive) => {}
            }
        });
    }
}
