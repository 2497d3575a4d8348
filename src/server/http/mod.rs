//! HTTP concerns outside the session: liveness and readiness probes, hosts this site is not,
//! cross-site refusal, the security headers every response carries, the JSON answers of requests
//! no handler takes, and compression and caching of static files, per-request metrics, logs and
//! `/metrics`.

pub mod failover;
pub mod health;
pub mod hosts;
pub mod observe;
pub mod page_deadline;
pub mod responses;
pub mod security;
pub mod static_files;
