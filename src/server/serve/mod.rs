//! The HTTP server: hyper-util's auto builder (HTTP/1 and h2c) and graceful shutdown, as
//! `axum::serve` uses them, with what `axum::serve` cannot be told: hyper's header-read deadline
//! and stream limit, HTTP/1 only when h2c is off, a cap on open connections overall and per
//! client address (`per_address.rs`), the keep-alive close (`idle.rs`), a lingering close
//! (`socket.rs`), `Connection: close` while draining, a bound on the wait at a stop, and a
//! runtime per core (`workers.rs`).

mod idle;
mod per_address;
mod socket;
mod workers;

use std::{convert::Infallible, future::Future, io, net::SocketAddr, sync::Arc, time::Duration};

use axum::{body::Body, extract::ConnectInfo};
use hyper::{body::Incoming, header::CONNECTION, http::HeaderValue, Request, Version};
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto::Builder, graceful::GracefulShutdown},
};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{watch, OwnedSemaphorePermit, Semaphore},
};
use tower::ServiceExt;

pub use self::workers::Listeners;
use self::{
    idle::{Activity, BodyInFlight, InFlight},
    per_address::{AddressSlot, PerAddress},
    socket::Socket,
};
use super::{config::ServerSettings, router::App, state::Draining};

/// Concurrent HTTP/2 streams on one connection. hyper's default of 200 would let one address
/// hold 64 × 200 requests open; a browser needs a few.
const MAX_STREAMS_PER_CONNECTION: u32 = 32;

/// Stack of every thread that serves requests: rendering a signed-in page awaits deeply nested
/// futures (middleware, server function, Leptos' renderer) that an unoptimized build keeps on
/// the stack, and tokio's default 2 MiB overflowed, which aborts the whole process.
pub const WORKER_STACK_BYTES: usize = 8 * 1024 * 1024;

/// What every connection shares, on every worker.
struct Server {
    draining: Draining,
    builder: Builder<TokioExecutor>,
    slots: Arc<Semaphore>,
    per_address: Arc<PerAddress>,
    settings: ServerSettings,
}

/// Serves the router `make_app` makes on each worker (one per listener), so what a request
/// clones or counts is its own thread's, until `shutdown` completes; then each waits for
/// its open connections for up to the request timeout: past the longest a request may take,
/// what is left is cut. While `draining` is on, every HTTP/1 response asks its client to close
/// the connection (HTTP/2 gets a GOAWAY at the stop). Workers log to `log` when given. An
/// error when a worker cannot be started.
pub async fn serve(
    listeners: Listeners,
    make_app: impl Fn() -> App + Clone + Send + 'static,
    settings: &ServerSettings,
    draining: Draining,
    log: Option<tracing::Dispatch>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let server = Arc::new(Server {
        draining,
        builder: http_builder(settings),
        slots: Arc::new(Semaphore::new(settings.max_connections.max(1))),
        per_address: Arc::default(),
        settings: settings.clone(),
    });
    workers::run(listeners, log, shutdown, move |listener, stopped| {
        let (server, app) = (server.clone(), make_app());
        async move { server.accept_until_stopped(listener, app, stopped).await }
    })
    .await
}

/// The next connection, once a slot is free for it. Accepted first: a worker waiting for a slot
/// before it accepts would leave the connections the kernel gave its socket unserved while a
/// slot frees on another worker. So each worker holds at most one connection waiting for a
/// slot; the rest wait in the listen backlog.
async fn accept(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
) -> Option<(TcpStream, SocketAddr, OwnedSemaphorePermit)> {
    match listener.accept().await {
        Ok((stream, peer)) => Some((stream, peer, slots.clone().acquire_owned().await.ok()?)),
        Err(err) => {
            // Out of file descriptors and the like: wait instead of spinning.
            tracing::warn!(error = %err, "could not accept a connection");
            tokio::time::sleep(Duration::from_millis(100)).await;
            None
        }
    }
}

fn http_builder(settings: &ServerSettings) -> Builder<TokioExecutor> {
    let mut builder = Builder::new(TokioExecutor::new());
    if !settings.h2c {
        builder = builder.http1_only();
    }
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(MAX_STREAMS_PER_CONNECTION);
    builder
}

impl Server {
    async fn accept_until_stopped(
        &self,
        listener: TcpListener,
        app: App,
        mut stopped: watch::Receiver<bool>,
    ) {
        let graceful = GracefulShutdown::new();
        let settings = &self.settings;
        loop {
            let (stream, peer, permit) = tokio::select! {
                accepted = accept(&listener, &self.slots) => match accepted {
                    Some(accepted) => accepted,
                    None => continue,
                },
                _ = stopped.wait_for(|stopped| *stopped) => break,
            };
            let address_slot = match settings.trusted_proxies.trusts(peer.ip()) {
                true => None,
                false => {
                    let max = settings.max_connections_per_address;
                    match self.per_address.admit(peer.ip(), max) {
                        Some(slot) => Some(slot),
                        None => {
                            tracing::debug!("a client address is over its connection limit");
                            continue;
                        }
                    }
                }
            };
            self.serve_connection(&graceful, &app, stream, peer, (permit, address_slot));
        }
        drop(listener);
        let grace = settings.request_timeout;
        if tokio::time::timeout(grace, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("connections still open after the shutdown grace; closed them");
        }
    }

    /// Serves one connection on a task of its own until it closes, is idle for the keep-alive
    /// time, or the server stops; the slots it holds are given back then.
    fn serve_connection(
        &self,
        graceful: &GracefulShutdown,
        app: &App,
        stream: TcpStream,
        peer: SocketAddr,
        slots: (OwnedSemaphorePermit, Option<AddressSlot>),
    ) {
        let activity = Arc::new(Activity::new());
        let (app, draining) = (app.clone(), self.draining.clone());
        let connection_activity = activity.clone();
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            let http1 = request.version() < Version::HTTP_2;
            let response = app.clone().oneshot(request.map(Body::new));
            let (activity, draining) = (connection_activity.clone(), draining.clone());
            async move {
                // From the first poll: hyper reads a pipelined HTTP/1 request while the answer
                // before it is still being written, but starts it only once that is out.
                let in_flight = InFlight::start(activity);
                let mut response = response.await?;
                if !http1 {
                    return Ok(response.map(|body| Body::new(BodyInFlight::new(body, in_flight))));
                }
                if draining.is_on() {
                    let close = HeaderValue::from_static("close");
                    response.headers_mut().insert(CONNECTION, close);
                }
                Ok::<_, Infallible>(response)
            }
        });
        let io = TokioIo::new(Socket::new(stream, activity.clone()));
        let connection = self.builder.serve_connection(io, service).into_owned();
        let connection = graceful.watch(connection);
        let keep_alive = self.settings.keep_alive_timeout;
        tokio::spawn(async move {
            let _slots = slots;
            tokio::select! {
                _ = connection => {}
                () = activity.idle_for(keep_alive) => {}
            }
        });
    }
}
