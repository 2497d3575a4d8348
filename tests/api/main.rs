//! Integration tests: the real app on a random loopback port against a `redis-server` each test
//! starts for itself. One binary, so the app and its dependencies link once.

mod accounts;
mod anonymous;
mod connections;
mod degradation;
mod expiry;
mod form_redirects;
mod hardening;
mod helpers;
mod live_count;
mod load;
mod lockout;
mod metrics_exposure;
mod near_cache;
mod observability;
mod outage_logs;
mod outages;
mod page_renders;
mod private_data;
mod probes_and_config;
mod proxies_and_hosts;
mod reauth;
mod security;
mod session_data;
mod sessions;
mod sign_in_lanes;
mod stalled_responses;
mod static_files;
mod timeouts;
mod topologies;
mod user_sessions;
