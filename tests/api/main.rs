//! Integration tests: the real app on a random loopback port against a `redis-server` each test
//! starts for itself. One binary, so the app and its dependencies link once.

mod accounts;
mod expiry;
mod helpers;
mod observability;
mod outages;
mod probes_and_config;
mod security;
mod session_data;
mod sessions;
mod user_sessions;
