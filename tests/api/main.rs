//! Integration tests: the real app on a random loopback port against a `redis-server` each test
//! starts for itself. One binary, so the app and its dependencies link once.

mod accounts;
mod anonymous;
mod degradation;
mod expiry;
mod hardening;
mod helpers;
mod load;
mod lockout;
mod observability;
mod outages;
mod probes_and_config;
mod reauth;
mod redis_topologies;
mod security;
mod session_data;
mod sessions;
mod static_files;
mod timeouts;
mod topologies;
mod user_sessions;
