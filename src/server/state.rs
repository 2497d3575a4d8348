//! `AppState`: what every handler shares, and axum clones for every request: one `Arc`, so a
//! clone is one reference count, not a copy of settings, pools and strings.

use std::{
    ops::Deref,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
};

use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;

use super::{
    accounts::{Accounts, DeviceCookies},
    config::Settings,
    observability::Metrics,
    redis::RedisPool,
    sessions::{LiveSessions, RedisSessionStore},
};

/// One `Arc`, which axum clones for every request: one count, where a struct of the Leptos
/// options beside it would be a dozen, each a cache line the workers' cores pass back and forth
/// (docs/benchmarks.md, "A runtime per core"). Hence `FromRef` by hand, for leptos_axum.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

#[derive(Clone)]
pub struct Shared {
    pub leptos_options: LeptosOptions,
    pub settings: Settings,
    pub redis: RedisPool,
    pub sessions: RedisSessionStore,
    /// The count behind the live-session gauge.
    pub live_sessions: LiveSessions,
    pub accounts: Accounts,
    pub metrics: Metrics,
    /// Reads and issues the device cookies of browsers that signed in before.
    pub devices: DeviceCookies,
    pub draining: Draining,
}

impl AppState {
    pub fn new(shared: Shared) -> Self {
        AppState(Arc::new(shared))
    }

    /// The same state behind an `Arc` of its own, for one worker's router.
    pub fn for_worker(&self) -> Self {
        AppState::new(Shared::clone(&self.0))
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// Set once the process has been asked to stop. Until the drain time has passed, `/readyz`
/// answers 503 and every response closes its connection, so a load balancer moves traffic to
/// other instances before the listener closes: nobody's request lands on a closing socket.
#[derive(Clone, Default)]
pub struct Draining(Arc<AtomicBool>);

impl Draining {
    pub fn start(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn is_on(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}
