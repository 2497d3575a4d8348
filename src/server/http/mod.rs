//! HTTP concerns outside the session: liveness and readiness probes, cross-site refusal, the
//! security headers every response carries, the JSON answers of requests no handler takes, and
//! per-request metrics, logs and `/metrics`.

pub mod failover;
pub mod health;
pub mod observe;
pub mod responses;
pub mod security;
