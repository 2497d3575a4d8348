//! How many sessions one client address may create per minute. Counted where a new record would
//! be stored — whatever the request carried (no cookie, a forged one, one of a session that has
//! ended) — and refused with 429 before anything is written.

use std::{sync::Arc, time::Duration};

use crate::server::{
    client_address::TrustedProxies,
    redis::{KeySpace, WindowCounter},
};

const WINDOW: Duration = Duration::from_secs(60);

/// The limit, shared by every request.
#[derive(Clone)]
pub struct NewSessionLimit {
    counter: WindowCounter,
    keys: KeySpace,
    per_minute: u32,
    proxies: Arc<TrustedProxies>,
}

impl NewSessionLimit {
    pub fn new(
        counter: WindowCounter,
        keys: KeySpace,
        per_minute: u32,
        proxies: TrustedProxies,
    ) -> Self {
        NewSessionLimit {
            counter,
            keys,
            per_minute,
            proxies: Arc::new(proxies),
        }
    }

    /// The gate of one request, from its client's address.
    pub fn gate(self: &Arc<Self>, request: &axum::extract::Request) -> CreationGate {
        CreationGate {
            limit: self.clone(),
            address: self
                .proxies
                .client_address(request.extensions(), request.headers()),
        }
    }
}

/// What a request needs to ask before it creates a session.
pub struct CreationGate {
    limit: Arc<NewSessionLimit>,
    address: String,
}

impl CreationGate {
    /// Counts a new session from this address; `Some(wait)` when it must not be created.
    pub async fn admit(&self) -> Result<Option<Duration>, fred::error::Error> {
        let key = self.limit.keys.new_sessions_for_address(&self.address);
        let counted = self.limit.counter.count(key, WINDOW).await?;
        Ok(counted.over(self.limit.per_minute))
    }
}
