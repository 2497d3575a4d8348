//! The HTTP server: hyper-util's auto builder (HTTP/1 and h2c) and graceful shutdown, as
//! `axum::serve` uses them, with what `axum::serve` cannot be told: hyper's header-read deadline
//! and stream limit, HTTP/1 only when h2c is off, a cap on open connections overall and per
//! client address (`per_address.rs`), the keep-alive close (`idle.rs`), a lingering close
//! (`socket.rs`), `Connection: close` while draining, and a bound on the wait at a stop.

mod idle;
mod per_address;
mod socket;

use std::{convert::Infallible, future::Future, net::SocketAddr, sync::Arc, time::Duration};

use axum::{body::Body, extract::ConnectInfo};
use hyper::{body::Incoming, header::CONNECTION, http::HeaderValue, Request, Version};
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto::Builder, graceful::GracefulShutdown},
};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore},
};
use tower::ServiceExt;

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

/// What every connection shares.
struct Server {
    app: App,
    draining: Draining,
    builder: Builder<TokioExecutor>,
    graceful: GracefulShutdown,
    keep_alive: Duration,
}

/// Serves `app` on `listener` until `shutdown` completes, then waits for open connections for
/// up to the request timeout: past the longest a request may take, what is left is cut. While
/// `draining` is on, every HTTP/1 response asks its client to close the connection (HTTP/2
/// gets a GOAWAY at the stop).
pub async fn serve(
    listener: TcpListener,
    app: App,
    settings: &ServerSettings,
    draining: Draining,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(settings.max_connections.max(1)));
    let per_address = Arc::new(PerAddress::default());
    let server = Server {
        app,
        draining,
        builder: http_builder(settings),
        graceful: GracefulShutdown::new(),
        keep_alive: settings.keep_alive_timeout,
    };
    tokio::pin!(shutdown);
    loop {
        let (stream, peer, permit) = tokio::select! {
            accepted = accept(&listener, &slots) => match accepted {
                Some(accepted) => accepted,
                None => continue,
            },
            () = &mut shutdown => break,
        };
        let address_slot = match settings.trusted_proxies.trusts(peer.ip()) {
            true => None,
            false => match per_address.admit(peer.ip(), settings.max_connections_per_address) {
                Some(slot) => Some(slot),
                None => {
                    tracing::debug!("a client address is over its connection limit; closed one");
                    continue;
                }
            },
        };
        server.serve_connection(stream, peer, (permit, address_slot));
    }
    drop(listener);
    let grace = settings.request_timeout;
    if tokio::time::timeout(grace, server.graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the shutdown grace; closed them");
    }
}

/// The next connection, once a slot is free for it: until then it waits in the listen backlog.
async fn accept(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
) -> Option<(TcpStream, SocketAddr, OwnedSemaphorePermit)> {
    let permit = slots.clone().acquire_owned().await.ok()?;
    match listener.accept().await {
        Ok((stream, peer)) => Some((stream, peer, permit)),
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
    /// Serves one connection on a task of its own until it closes, is idle for the keep-alive
    /// time, or the server stops; the slots it holds are given back then.
    fn serve_connection(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        slots: (OwnedSemaphorePermit, Option<AddressSlot>),
    ) {
        let activity = Arc::new(Activity::new());
        let (app, draining) = (self.app.clone(), self.draining.clone());
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
        let connection = self.graceful.watch(connection);
        let keep_alive = self.keep_alive;
        tokio::spawn(async move {
            let _slots = slots;
            tokio::select! {
                _ = connection => {}
                () = activity.idle_for(keep_alive) => {}
            }
        });
    }
}
