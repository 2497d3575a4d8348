//! The process's log subscriber: JSON lines (one object per event, fields at the top level) for
//! log collectors, or the human-readable format for a terminal.

use tracing::{Level, Metadata, Subscriber};
use tracing_subscriber::{
    filter::{filter_fn, LevelFilter},
    fmt::MakeWriter,
    layer::SubscriberExt,
    registry::LookupSpan,
    util::SubscriberInitExt,
    EnvFilter, Layer,
};

use crate::server::config::LogFormat;

/// `default_filter` applies unless RUST_LOG is set.
pub fn init_logging(format: LogFormat, default_filter: &str) {
    let rust_log = std::env::var("RUST_LOG").ok();
    let registry =
        tracing_subscriber::registry().with(log_filter(rust_log.as_deref(), default_filter));
    match format {
        LogFormat::Json => registry.with(json_lines(std::io::stdout)).init(),
        LogFormat::Pretty => registry.with(tracing_subscriber::fmt::layer()).init(),
    }
}

/// What the process logs: `rust_log`'s directives (or `default_filter` when unset or invalid),
/// less the per-request failures that [`reported_elsewhere`] names, whatever the directives say.
pub fn log_filter<S: Subscriber>(rust_log: Option<&str>, default_filter: &str) -> impl Layer<S> {
    let directives = rust_log
        .and_then(|directives| EnvFilter::try_new(directives).ok())
        .unwrap_or_else(|| EnvFilter::new(default_filter));
    // Naming a library in RUST_LOG asks for its lines, repeats and all (to chase a cause).
    let named = |target: &str| rust_log.is_some_and(|directives| directives.contains(target));
    let (keep_sessions, keep_fred) = (named("tower_sessions_core"), named("fred"));
    // The directives' most verbose level, said again: without it the combined filter has no
    // level hint, and every `log` record (fred logs through `log`) was offered to the subscriber.
    let most_verbose = directives.max_level_hint().unwrap_or(LevelFilter::TRACE);
    let dropped = filter_fn(move |metadata| {
        *metadata.level() <= most_verbose && !reported_elsewhere(metadata, keep_sessions, keep_fred)
    })
    .with_max_level_hint(most_verbose);
    directives.and_then(dropped)
}

/// Lines that repeat, once per request or per connection, what the app reports once:
/// - tower-sessions logs every failed store call of a `Session` method at ERROR (its
///   `#[instrument(err)]`) and every cookie whose record is gone at WARN: one line per request,
///   hundreds a second while Redis is away or an old cookie is replayed. The session layer
///   answers each of them and counts them in metrics;
/// - fred warns of a lost connection once per pooled connection ("Broadcasting error … from").
///
/// The breaker logs an outage once each way, so these never reach the log under a general
/// filter such as `RUST_LOG=warn`; a filter that names the library keeps them.
fn reported_elsewhere(metadata: &Metadata<'_>, keep_sessions: bool, keep_fred: bool) -> bool {
    let target = metadata.target();
    let level = *metadata.level();
    (!keep_sessions && target.starts_with("tower_sessions_core") && level <= Level::WARN)
        || (!keep_fred && target == "fred::router::responses" && level == Level::WARN)
}

/// The JSON format, writing to `writer` (stdout in the app; a buffer in tests).
pub fn json_lines<S, W>(writer: W) -> impl Layer<S> + Send + Sync
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_writer(writer)
}

#[cfg(test)]
mod tests {
    use std::sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    };

    use tracing::{Event, Subscriber};
    use tracing_subscriber::{layer::Context, layer::SubscriberExt, Layer};

    use super::log_filter;

    struct Count(Arc<AtomicUsize>);

    impl<S: Subscriber> Layer<S> for Count {
        fn on_event(&self, _event: &Event<'_>, _ctx: Context<'_, S>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// How many of a refused session call's library lines get through `RUST_LOG=rust_log`.
    fn library_repeats_logged(rust_log: &str) -> usize {
        let count = Arc::new(AtomicUsize::new(0));
        let subscriber = tracing_subscriber::registry()
            .with(log_filter(Some(rust_log), "info"))
            .with(Count(count.clone()));
        tracing::subscriber::with_default(subscriber, || {
            tracing::error!(target: "tower_sessions_core::session", "breaker open");
            tracing::warn!(target: "tower_sessions_core::session", "record not found");
            tracing::warn!(target: "fred::router::responses", "Broadcasting error");
        });
        count.load(Ordering::Relaxed)
    }

    #[test]
    fn library_repeats_stay_out_under_general_filters_and_come_back_when_named() {
        assert_eq!(library_repeats_logged("warn"), 0);
        assert_eq!(library_repeats_logged("info"), 0);
        assert_eq!(library_repeats_logged("warn,tower_sessions_core=warn"), 2);
        assert_eq!(library_repeats_logged("warn,fred=warn"), 1);
    }
}
