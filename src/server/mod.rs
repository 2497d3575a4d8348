//! Everything that runs only on the server (`ssr`), along the request path:
//! `startup` (process → listener) → `serve` (connections and their limits) → `router` (routes and layers) → `http` (probes, hardening) →
//! `sessions` (cookie → session → Redis) and `accounts` (sign-in, passwords) → `redis` (the
//! pool and the key layout). `config` reads the settings; `state` holds what handlers share;
//! `context` and `error` connect Leptos server functions to all of it;
//! `observability` is what an operator sees: metrics, request ids, the log format.

pub mod accounts;
pub mod allowed_hosts;
pub mod client_address;
pub mod config;
pub mod context;
pub mod device;
pub mod error;
pub mod http;
pub mod observability;
pub mod redis;
pub mod router;
pub mod serve;
pub mod server_fns;
pub mod session_gate;
pub mod sessions;
pub mod startup;
pub mod state;

/// What the binary logs unless `RUST_LOG` says otherwise. tower-sessions logs an ERROR for every
/// request that cannot load its session, and fred a warning per pooled connection: during an
/// outage that floods the log. The session-store breaker (`redis::Breaker`) logs the outage once
/// each way instead. The per-request line (`sessionboard::request`) is off too, so an outage
/// under load still writes a handful of lines; `RUST_LOG=info` (or adding
/// `sessionboard::request=info`) turns it on.
pub const DEFAULT_LOG_FILTER: &str =
    "info,fred=error,tower_sessions_core=off,sessionboard::request=off";
