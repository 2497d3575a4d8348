//! The accept loop: each connection served by hyper with the limits `axum::serve` cannot set — a
//! deadline for a request's headers, an idle keep-alive timeout, a cap on open connections and
//! one per client address — and, like `axum::serve`, the peer address as `ConnectInfo` and a
//! graceful shutdown.

mod activity;
mod per_address;

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use axum::{body::Body, extract::ConnectInfo};
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
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore},
};
use tower::ServiceExt;

use self::{
    activity::{Activity, BodyInFlight, InFlight, Tracked},
    per_address::{AddressSlot, PerAddress},
};
use super::{client_address::TrustedProxies, router::App, state::Draining};

/// Concurrent HTTP/2 streams on one connection.
const MAX_STREAMS_PER_CONNECTION: u32 = 32;

/// The connection limits, from the `[server]` settings.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// From the moment a connection is ready for a request until its headers are complete.
    pub header_read: Duration,
    /// A connection with no request in flight is closed after this. On HTTP/1 bytes on the way
    /// count as activity; on HTTP/2 only streams do, so PINGs and other control frames cannot
    /// hold a connection open.
    pub keep_alive: Duration,
    /// Connections served at once; more wait in the listen backlog.
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

/// Serves `app` on `listener` until `shutdown` completes, then waits for open requests. While
/// `draining` is on, every HTTP/1 response asks its client to close the connection.
pub async fn serve(
    listener: TcpListener,
    app: App,
    limits: ConnectionLimits,
    draining: Draining,
    shutdown: impl Future<Output = ()>,
) {
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
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let per_address = Arc::new(PerAddress::default());
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => permit,
            () = &mut shutdown => break,
        };
        let Ok(permit) = permit else { break };
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
            () = &mut shutdown => break,
        };
        let address_slot = if limits.trusted_proxies.trusts(peer.ip()) {
            None
        } else {
            match per_address.admit(peer.ip(), limits.max_per_address) {
                Some(slot) => Some(slot),
                None => {
                    tracing::debug!("a client address is over its connection limit; closed one");
                    continue;
                }
            }
        };
        let connection = Connection {
            stream,
            peer,
            slots: (permit, address_slot),
        };
        connection.serve(&builder, &graceful, &app, &limits, &draining);
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
    fn serve(
        self,
        builder: &Builder<TokioExecutor>,
        graceful: &GracefulShutdown,
        app: &App,
        limits: &ConnectionLimits,
        draining: &Draining,
    ) {
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
                        // HTTP/2 bytes are not activity: the stream stays in flight until its
                        // body has gone out, however long a slow client takes to read it.
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
