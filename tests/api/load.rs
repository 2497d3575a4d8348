//! Bounded concurrent load against a test app, and the app's log lines captured per test.

use std::{
    future::Future,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use reqwest::Client;
use sessionboard::server::{observability::log_filter, DEFAULT_LOG_FILTER};
use tracing::{field::Field, Event, Level, Subscriber};
use tracing_subscriber::{
    layer::{Context, SubscriberExt},
    Layer,
};

use crate::helpers::{eventually, http_client};

/// One request of the load: when it started, how long it took, and what came back (`None`: no
/// answer, and `failure` says why).
#[derive(Debug, Clone)]
pub struct Sample {
    /// Which of the load's connections sent it.
    pub worker: usize,
    pub started: Instant,
    pub latency: Duration,
    pub status: Option<u16>,
    /// Why there is no status: the client's 10 s timeout, a refused connect, or the connection
    /// closed or reset before the answer (with the error chain).
    pub failure: Option<String>,
    pub page: bool,
    /// The page showed the "Session store unavailable" banner.
    pub banner: bool,
    /// The page missed its render deadline and was answered "try again" instead.
    pub past_deadline: bool,
    pub body: String,
}

/// `workers` connections repeating requests with `cookie` until `stop` is set or `limit` has
/// passed: worker 0 renders the page `/`, the others read `/api/session`. Each answer is shared
/// as it comes, so a test can wait for the load to have done something ([`Load::wait_until`]).
pub struct Load {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<Sample>>>,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    pub fn start(base: String, cookie: String, workers: usize, limit: Duration) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let deadline = Instant::now() + limit;
        let workers = (0..workers)
            .map(|worker| {
                let (base, cookie, stop) = (base.clone(), cookie.clone(), stop.clone());
                let samples = samples.clone();
                tokio::spawn(async move {
                    let client = http_client(false);
                    let path = if worker == 0 { "/" } else { "/api/session" };
                    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                        let sample = one(&client, &base, path, &cookie, worker).await;
                        lock(&samples).push(sample);
                    }
                })
            })
            .collect();
        Load {
            stop,
            samples,
            workers,
        }
    }

    /// Waits (for at most `within`) until `enough` holds for the answers so far, in the order
    /// they came; panics with `what` otherwise.
    pub async fn wait_until(
        &self,
        what: &str,
        within: Duration,
        enough: impl Fn(&[Sample]) -> bool,
    ) {
        eventually(what, within, || {
            let seen = enough(&lock(&self.samples));
            async move { seen }
        })
        .await
    }

    /// Waits (for at most `within`) until every connection has been answered 200 to a request it
    /// started at `since` or later.
    pub async fn wait_until_all_answered_since(
        &self,
        what: &str,
        since: Instant,
        within: Duration,
    ) {
        let workers = self.workers.len();
        self.wait_until(what, within, |samples| {
            (0..workers).all(|worker| {
                samples
                    .iter()
                    .any(|s| s.worker == worker && s.started >= since && s.status == Some(200))
            })
        })
        .await
    }

    /// Stops the workers and returns every sample, in order of start.
    pub async fn finish(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        for worker in self.workers {
            worker.await.expect("load worker");
        }
        let mut samples = std::mem::take(&mut *lock(&self.samples));
        samples.sort_by_key(|s| s.started);
        samples
    }
}

fn lock<T>(shared: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn one(client: &Client, base: &str, path: &str, cookie: &str, worker: usize) -> Sample {
    let started = Instant::now();
    let sent = client
        .get(format!("{base}{path}"))
        .header("cookie", cookie)
        .header("accept", "application/json")
        .send()
        .await;
    let (status, body, failure) = match sent {
        Ok(res) => {
            let status = res.status().as_u16();
            match res.text().await {
                Ok(body) => (Some(status), body, None),
                Err(err) => (Some(status), String::new(), Some(why(&err))),
            }
        }
        Err(err) => (None, String::new(), Some(why(&err))),
    };
    Sample {
        worker,
        started,
        latency: started.elapsed(),
        status,
        failure,
        page: path == "/",
        banner: body.contains("Session store unavailable"),
        past_deadline: body.contains("took too long to prepare"),
        body: if path == "/" { String::new() } else { body },
    }
}

/// What kind of failure, and the whole error chain (hyper's reason is at the bottom of it).
pub fn why(err: &reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timeout"
    } else if err.is_connect() {
        "connect"
    } else if err.is_body() || err.is_decode() {
        "body"
    } else {
        "request"
    };
    let mut chain = format!("{kind}: {err}");
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        chain.push_str(&format!(" <- {cause}"));
        source = cause.source();
    }
    chain
}

/// The latency at quantile `q` (0..=1) of `samples`.
pub fn quantile(samples: &[&Sample], q: f64) -> Duration {
    let mut latencies: Vec<Duration> = samples.iter().map(|s| s.latency).collect();
    latencies.sort();
    if latencies.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len());
    latencies[rank - 1]
}

/// A log line the app wrote, as the binary's default filter lets it through.
#[derive(Debug, Clone)]
pub struct Line {
    pub at: Instant,
    pub level: Level,
    pub target: String,
    pub message: String,
}

#[derive(Clone, Default)]
pub struct Lines(Arc<Mutex<Vec<Line>>>);

impl Lines {
    pub fn between(&self, from: Instant, to: Instant) -> Vec<Line> {
        let lines = self.0.lock().unwrap_or_else(|p| p.into_inner());
        lines
            .iter()
            .filter(|l| l.at >= from && l.at <= to)
            .cloned()
            .collect()
    }
}

struct Capture(Lines);

impl<S: Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
                if self.0.is_empty() || field.name() == "message" {
                    self.0 = format!("{}={value:?}", field.name());
                }
            }
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        let mut lines = (self.0).0.lock().unwrap_or_else(|p| p.into_inner());
        lines.push(Line {
            at: Instant::now(),
            level: *event.metadata().level(),
            target: event.metadata().target().to_string(),
            message: message.0,
        });
    }
}

/// Runs `test` on a runtime of its own (2 workers) whose threads log only into the returned
/// lines, filtered as the binary filters by default. Tests running in parallel use other threads,
/// so they never mix in.
pub fn with_captured_logs<F, Fut>(test: F) -> Lines
where
    F: FnOnce(Lines) -> Fut,
    Fut: Future<Output = ()>,
{
    with_captured_logs_under(None, test)
}

/// As [`with_captured_logs`], filtered as the binary filters with `RUST_LOG=rust_log`.
pub fn with_captured_logs_under<F, Fut>(rust_log: Option<&str>, test: F) -> Lines
where
    F: FnOnce(Lines) -> Fut,
    Fut: Future<Output = ()>,
{
    let lines = Lines::default();
    let subscriber = tracing_subscriber::registry()
        .with(log_filter(rust_log, DEFAULT_LOG_FILTER))
        .with(Capture(lines.clone()));
    on_runtime_logging_to(tracing::Dispatch::new(subscriber), test(lines.clone()));
    lines
}

/// Runs `test` on a runtime of its own (2 workers) whose threads log only to `dispatch`. Tests
/// running in parallel use other threads, so they never mix in.
pub fn on_runtime_logging_to(dispatch: tracing::Dispatch, test: impl Future<Output = ()>) {
    let on_start = dispatch.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .on_thread_start(move || {
            // Kept for the thread's life: the runtime's threads end with the runtime.
            std::mem::forget(tracing::dispatcher::set_default(&on_start));
        })
        .build()
        .expect("a runtime");
    let _guard = tracing::dispatcher::set_default(&dispatch);
    runtime.block_on(test);
    runtime.shutdown_timeout(Duration::from_secs(2));
}
