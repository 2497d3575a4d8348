//! HTTP concerns outside the session: liveness and readiness probes, cross-site refusal and the
//! security headers every response carries.

pub mod failover;
pub mod health;
pub mod security;
