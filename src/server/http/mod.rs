//! HTTP concerns outside the session: liveness and readiness probes, cross-site refusal, the
//! security headers every response carries, and per-request metrics, logs and `/metrics`.

pub mod health;
pub mod observe;
pub mod security;
