//! The live-session count behind the `sessionboard_sessions_live` gauge, without scanning the
//! keyspace: one sorted set (`KeySpace::live_sessions`) of session handle → deadline, written in
//! the background when a session is created, its deadline moves or it is deleted, and trimmed of
//! passed deadlines at every write and scrape. A write lost to an outage leaves the count off by
//! one until that session's deadline: a gauge, not a ledger (docs/operations.md). With metrics
//! off nothing is written.

use std::{sync::Arc, time::Duration};

use fred::{
    prelude::{Pool, SortedSetsInterface},
    types::scripts::Script,
};

use tower_sessions_fred_store::SessionHandle;

use crate::{
    server::{
        observability::{Metrics, RedisOperation},
        redis::KeySpace,
    },
    shared::clock::now_ms,
};

#[derive(Clone, Debug)]
pub struct LiveSessions {
    pool: Pool,
    key: Arc<str>,
    /// `None`: metrics are off, and the set is not kept.
    record: Option<Script>,
    /// The longest a session lives: the set outlives every member it holds by no more.
    absolute_ms: i64,
}

impl LiveSessions {
    pub fn new(pool: Pool, keys: &KeySpace, absolute_timeout: Duration, metrics: &Metrics) -> Self {
        let script = || Script::from_lua(include_str!("scripts/live_record.lua"));
        LiveSessions {
            pool,
            key: keys.live_sessions().into(),
            record: metrics.enabled().then(script),
            absolute_ms: absolute_timeout.as_millis() as i64,
        }
    }

    /// Records `handle` as live until `deadline`. `later_only` keeps a later deadline written by
    /// a concurrent request (a refresh); without it the deadline may move earlier (a cap).
    pub fn record(&self, handle: &SessionHandle, deadline: i64, later_only: bool) {
        let Some(record) = self.record.clone() else {
            return;
        };
        let (pool, key) = (self.pool.clone(), self.key.clone());
        let args = vec![
            deadline.to_string(),
            handle.to_string(),
            if later_only { "GT" } else { "" }.to_string(),
            now_ms().to_string(),
            self.absolute_ms.max(1).to_string(),
        ];
        tokio::spawn(async move {
            let outcome: Result<i64, _> =
                record.evalsha_with_reload(pool.next(), &*key, args).await;
            if let Err(err) = outcome {
                tracing::debug!(error = %err.details(), "could not record a live session");
            }
        });
    }

    /// Removes ended sessions (by handle) from the count, in the background.
    pub fn remove(&self, handles: &[SessionHandle]) {
        if handles.is_empty() || self.record.is_none() {
            return;
        }
        let handles: Vec<String> = handles.iter().map(SessionHandle::to_string).collect();
        let (pool, key) = (self.pool.clone(), self.key.clone());
        tokio::spawn(async move {
            let outcome: Result<i64, _> = pool.zrem(&*key, handles).await;
            if let Err(err) = outcome {
                tracing::debug!(error = %err.details(), "could not remove an ended session");
            }
        });
    }

    /// Drops the sessions whose deadline has passed and counts the rest: one round trip.
    pub async fn count(&self, now: i64, metrics: &Metrics) -> Result<u64, fred::error::Error> {
        metrics
            .redis(RedisOperation::LiveSessionsCount, async {
                let pipeline = self.pool.next().pipeline();
                let _: () = pipeline
                    .zremrangebyscore(&*self.key, f64::NEG_INFINITY, now as f64)
                    .await?;
                let _: () = pipeline.zcard(&*self.key).await?;
                let (_, live): (i64, u64) = pipeline.all().await?;
                Ok(live)
            })
            .await
    }
}
