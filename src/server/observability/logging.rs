//! The process's log subscriber: JSON lines (one object per event, fields at the top level) for
//! log collectors, or the human-readable format for a terminal.

use tracing_subscriber::EnvFilter;

use crate::server::config::LogFormat;

pub fn init_logging(format: LogFormat) {
    // tower-sessions logs an ERROR for every request that cannot load its session, and fred a
    // warning per pooled connection: during an outage that floods the log. The pool's watcher
    // (server::redis) logs the outage once instead. RUST_LOG overrides.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,fred=error,tower_sessions_core=off"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .init(),
        LogFormat::Pretty => builder.init(),
    }
}
