//! A runtime per core: `SERVER_WORKERS` threads (one per core by default), each running a
//! single-threaded tokio runtime that accepts on a listening socket of its own, all bound to the
//! site address with `SO_REUSEPORT` so the kernel spreads new connections over them. A
//! connection's tasks, timers and socket never move between threads. Neither hyper-util nor
//! axum serves this way; it is here because one multi-threaded runtime read sessions at about
//! 0.7 of the throughput (docs/benchmarks.md, "A runtime per core"). Redis, background tasks and
//! `/metrics` stay on the main runtime.

use std::{future::Future, io, net::SocketAddr};

use tokio::{
    net::{TcpListener, TcpSocket},
    sync::{oneshot, watch},
};

use super::WORKER_STACK_BYTES;

/// Pending connections each listening socket queues before its worker accepts them.
const LISTEN_BACKLOG: u32 = 1024;

/// The site's listening sockets, one per worker, all on one address.
#[derive(Debug)]
pub struct Listeners {
    sockets: Vec<std::net::TcpListener>,
    addr: SocketAddr,
}

impl Listeners {
    /// Binds `workers` sockets to `addr` (`0`: one per core); with port 0, all on the port the
    /// first one got. Needs a runtime context (tokio makes the sockets).
    pub fn bind(addr: SocketAddr, workers: usize) -> io::Result<Listeners> {
        let workers = match workers {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            workers => workers,
        };
        let first = listen_shared(addr)?;
        let addr = first.local_addr()?;
        let mut sockets = vec![first];
        for _ in 1..workers {
            sockets.push(listen_shared(addr)?);
        }
        Ok(Listeners { sockets, addr })
    }

    /// Where they listen.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

fn listen_shared(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    // As `TcpListener::bind` does: a restarted server binds while old connections linger.
    socket.set_reuseaddr(true)?;
    #[cfg(unix)]
    socket.set_reuseport(true)?;
    socket.bind(addr)?;
    // Made on this runtime, served on a worker's: handed over as a plain socket.
    socket.listen(LISTEN_BACKLOG)?.into_std()
}

/// Runs `serve` for each listener on a worker thread of its own until `stop` completes, and
/// returns once every worker has finished. `serve` hears the stop through its receiver. The
/// workers log to `log` when given (a test's subscriber), else to the global one.
pub async fn run<F, Fut>(
    listeners: Listeners,
    log: Option<tracing::Dispatch>,
    stop: impl Future<Output = ()>,
    serve: F,
) -> io::Result<()>
where
    F: Fn(TcpListener, watch::Receiver<bool>) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()>,
{
    let (stopping, stopped) = watch::channel(false);
    let mut finished = Vec::with_capacity(listeners.sockets.len());
    for (index, socket) in listeners.sockets.into_iter().enumerate() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (serve, stopped, log) = (serve.clone(), stopped.clone(), log.clone());
        let (done, worker_done) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name(format!("http-worker-{index}"))
            .stack_size(WORKER_STACK_BYTES)
            .spawn(move || {
                let _log = log.as_ref().map(tracing::dispatcher::set_default);
                runtime.block_on(async move {
                    match TcpListener::from_std(socket) {
                        Ok(listener) => serve(listener, stopped).await,
                        Err(err) => tracing::error!(error = %err, "a worker could not listen"),
                    }
                });
                drop(done);
            })?;
        finished.push(worker_done);
    }
    stop.await;
    let _ = stopping.send(true);
    for worker in finished {
        // Answers when the worker's thread drops its sender, whether it finished or panicked.
        let _ = worker.await;
    }
    Ok(())
}
