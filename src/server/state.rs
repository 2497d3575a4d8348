//! `AppState`: what every handler shares, and axum clones for every request: the Leptos options
//! leptos_axum's handlers take from it (`FromRef`) and one `Arc` of the rest, so a clone is a
//! few reference counts, not a copy of settings, pools and strings.

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

#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    #[from_ref(skip)]
    shared: Arc<Shared>,
}

#[derive(Clone)]
pub struct Shared {
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
    pub fn new(leptos_options: LeptosOptions, shared: Shared) -> Self {
        let shared = Arc::new(shared);
        AppState {
            leptos_options,
            shared,
        }
    }

    /// The same state behind an `Arc` of its own, for one worker's router: a count that two
    /// cores change on every request moves its cache line between them each time.
    pub fn for_worker(&self) -> Self {
        AppState::new(self.leptos_options.clone(), Shared::clone(&self.shared))
    }
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.shared
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
