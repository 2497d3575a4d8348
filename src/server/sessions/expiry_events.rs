//! `SESSION_EXPIRY_EVENTS`: sessions that simply expire are counted
//! (`sessionboard_sessions_ended_total{reason="expired"}`) and leave their user's index at once,
//! from Redis' `__keyevent@<db>__:expired` notifications. The hash is gone by then, so a
//! signed-in session also has a small owner key (the store's `SessionKeys::session_owner`) that
//! leads to its index entry. Notifications are fire-and-forget and a Cluster would need a
//! subscriber per master; docs/operations.md ("Expiry events") says what that means.

use fred::{
    clients::SubscriberClient,
    prelude::{ClientLike, ConfigInterface, EventInterface, Pool, PubsubInterface},
};

use tokio::sync::broadcast::error::RecvError;

use tower_sessions_fred_store::RedisSessionStore;

use crate::server::{
    config::RedisSettings,
    observability::{EndReason, Metrics},
    redis::{self, RedisError},
};

/// Subscribes and handles events in the background until the returned client quits.
pub async fn subscribe(
    settings: &RedisSettings,
    pool: &Pool,
    store: RedisSessionStore,
    metrics: Metrics,
) -> Result<SubscriberClient, RedisError> {
    let unreachable = |err: fred::error::Error| RedisError::Failed(redis::safe_text(&err));
    enable_notifications(pool).await;
    let channel = format!("__keyevent@{}__:expired", redis::database(settings)?);
    let subscriber = redis::subscriber(settings)?;
    subscriber.init().await.map_err(unreachable)?;
    subscriber
        .subscribe(channel.as_str())
        .await
        .map_err(unreachable)?;
    // After a reconnect the subscription is renewed.
    subscriber.manage_subscriptions();
    // fred parses keyevent messages itself and hands them out as keyspace events.
    let mut events = subscriber.keyspace_event_rx();
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(event) if event.operation == "expired" => {
                    if let Some(key) = event.key.as_str() {
                        expired(&store, &metrics, key).await;
                    }
                }
                Ok(_) => {}
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(
                        missed,
                        "expiry events came faster than they were handled; some were not counted"
                    );
                }
                Err(RecvError::Closed) => break,
            }
        }
    });
    tracing::info!(%channel, "counting expired sessions from keyspace notifications");
    Ok(subscriber)
}

/// Turns on the `E` (keyevent) and `x` (expired) flags, keeping whatever else is configured.
/// Managed Redis services often refuse `CONFIG SET`: then the server must be configured by hand.
async fn enable_notifications(pool: &Pool) {
    let current: Result<Vec<String>, _> = pool.config_get("notify-keyspace-events").await;
    let flags = current.ok().and_then(|pair| pair.into_iter().nth(1));
    let flags = flags.unwrap_or_default();
    // `A` stands for every class of key event, `x` among them.
    let has = |flag: char| flags.contains(flag) || (flag == 'x' && flags.contains('A'));
    let added: String = ['E', 'x'].into_iter().filter(|&f| !has(f)).collect();
    if added.is_empty() {
        return;
    }
    let wanted = format!("{flags}{added}");
    match pool
        .config_set("notify-keyspace-events", wanted.as_str())
        .await
    {
        Ok(()) => {
            tracing::info!(flags = %wanted, "enabled Redis keyspace notifications for expired keys")
        }
        Err(err) => tracing::warn!(
            error = %err.details(),
            "SESSION_EXPIRY_EVENTS is on but Redis refused CONFIG SET: configure the server with \
             `notify-keyspace-events Ex` (or add E and x to its flags), or no expiry is counted"
        ),
    }
}

/// One expired key: counted and pruned when it is a session.
async fn expired(store: &RedisSessionStore, metrics: &Metrics, key: &str) {
    if !store.index().is_session_key(key) {
        return;
    }
    metrics.sessions_ended(EndReason::Expired, 1);
    if let Err(err) = store.index().prune_expired(key).await {
        tracing::debug!(error = %err, "could not prune an expired session's index entry");
    }
}
