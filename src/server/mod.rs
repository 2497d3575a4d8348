//! Everything that runs only on the server (`ssr`), along the request path:
//! `startup` (process → listener) → `router` (routes and layers) → `http` (probes, hardening) →
//! `sessions` (cookie → session → Redis) and `accounts` (sign-in, passwords) → `redis` (the
//! pool and the key layout). `config` reads the settings; `state` holds what handlers share;
//! `context` and `error` connect Leptos server functions to all of it;
//! `observability` is what an operator sees: metrics, request ids, the log format.

pub mod accounts;
pub mod config;
pub mod context;
pub mod error;
pub mod http;
pub mod observability;
pub mod redis;
pub mod router;
pub mod sessions;
pub mod startup;
pub mod state;
