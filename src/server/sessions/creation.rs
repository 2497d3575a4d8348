//! How many sessions one client address may create per minute. Counted where a new record would
//! be stored — whatever the request carried (no cookie, a forged one, one of a session that has
//! ended) — and refused with 429 before anything is written.

use std::{net::IpAddr, sync::Arc, time::Duration};

use async_trait::async_trait;
use axum::http::{Extensions, HeaderMap};
use tower_sessions_fred_store::{NewSessionGate, NewSessionPolicy, StoreError};

use crate::server::{
    client_address::{address_text, TrustedProxies},
    redis::{KeySpace, WindowCounter},
};

const WINDOW: Duration = Duration::from_secs(60);

/// The limit, shared by every request.
pub struct NewSessionLimit(pub Arc<Limit>);

pub struct Limit {
    pub counter: WindowCounter,
    pub keys: KeySpace,
    pub per_minute: u32,
    pub proxies: TrustedProxies,
}

impl NewSessionPolicy for NewSessionLimit {
    fn gate(&self, headers: &HeaderMap, extensions: &Extensions) -> Box<dyn NewSessionGate> {
        Box::new(CreationGate {
            limit: self.0.clone(),
            // Kept as an address, made text only for the rare request that creates a session.
            address: self.0.proxies.client_ip(extensions, headers),
        })
    }
}

/// What a request needs to ask before it creates a session.
struct CreationGate {
    limit: Arc<Limit>,
    address: Option<IpAddr>,
}

#[async_trait]
impl NewSessionGate for CreationGate {
    /// Counts a new session from this address; `Some(wait)` when it must not be created.
    async fn admit(&self) -> Result<Option<Duration>, StoreError> {
        let address = address_text(self.address);
        let key = self.limit.keys.new_sessions_for_address(&address);
        let counted = self.limit.counter.count(key, WINDOW).await?;
        Ok(counted.over(self.limit.per_minute))
    }
}
