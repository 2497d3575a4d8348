//! `AppState`: what every handler shares. One `Arc`: handing it to a request costs one atomic
//! increment, not a copy of settings, pools and strings.

use std::{ops::Deref, sync::Arc};

use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;

use super::{
    accounts::Accounts, config::Settings, observability::Metrics, redis::RedisPool,
    sessions::RedisSessionStore,
};

#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub settings: Settings,
    pub leptos_options: LeptosOptions,
    pub redis: RedisPool,
    pub sessions: RedisSessionStore,
    pub accounts: Accounts,
    pub metrics: Metrics,
}

impl AppState {
    pub fn new(shared: Shared) -> Self {
        AppState(Arc::new(shared))
    }
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
