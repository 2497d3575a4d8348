//! HTTP concerns outside the session: liveness and readiness probes, cross-site refusal, the
//! security headers every response carries and the JSON answers of requests no handler takes.

pub mod failover;
pub mod health;
pub mod responses;
pub mod security;
