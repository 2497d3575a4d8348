//! HTTP concerns outside the session: probes, cross-site refusal and redirects, the JSON answers
//! of requests no handler takes, static files, the page deadline, per-request metrics, logs and
//! `/metrics`.

pub mod health;
pub mod observe;
pub mod page_deadline;
pub mod responses;
pub mod security;
pub mod static_files;
