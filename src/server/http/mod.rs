//! HTTP concerns outside the session: liveness and readiness probes, cross-site refusal and the
//! security headers every response carries, compression and caching of static files.

pub mod health;
pub mod security;
pub mod static_files;
