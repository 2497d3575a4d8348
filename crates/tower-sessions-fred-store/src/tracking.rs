//! Turning Redis' client tracking on for every connection of the pool, feeding its
//! invalidations to the near cache, and the heartbeat that proves they still arrive.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Weak,
    },
    time::Instant,
};

use fred::{
    clients::Client,
    error::{Error, ErrorKind},
    interfaces::{ClientLike, EventInterface, KeysInterface, TrackingInterface},
    types::{Expiration, SetOptions},
};
use tokio::sync::broadcast::error::RecvError;

use crate::near_cache::NearCache;

/// `CLIENT TRACKING ON` on each connection (every node's, on a cluster), then listens on each
/// for invalidations, lost connections and reconnections, and starts the heartbeat. The pool
/// must speak RESP3. `epoch_key` holds a token a flush removes (see [`heartbeat`]).
pub(crate) async fn start(
    clients: &[Client],
    cache: &Arc<NearCache>,
    epoch_key: String,
) -> Result<(), Error> {
    for client in clients {
        turn_on(client).await?;
        listen(client, cache.clone());
    }
    let mut epoch = None;
    let sent = Instant::now();
    beat(clients, cache, &epoch_key, &mut epoch).await?;
    cache.activate();
    cache.confirm(sent);
    tokio::spawn(heartbeat(
        clients.to_vec(),
        Arc::downgrade(cache),
        epoch_key,
        epoch,
    ));
    Ok(())
}

async fn turn_on(client: &Client) -> Result<(), Error> {
    // Default mode (not broadcast): Redis remembers which keys this connection read and tells
    // it when one of them changes. NOLOOP: not for this connection's own writes, whose scripts
    // answer with the record they leave, which is cached at once (the store sends every command
    // on one session's key on one connection, so no other connection of ours tracks it).
    client
        .start_tracking(Vec::<String>::new(), false, false, false, true)
        .await
}

/// Every quarter of `max_silence`, each connection is asked to answer; the cache serves only
/// within `max_silence` of the last heartbeat every connection answered. A beat may take up to
/// `max_silence` (a busy machine is slow, not partitioned): past that, or on an error, what a
/// connection should have delivered may be lost, and the cache is dropped. fred 10.1 drops the
/// null invalidation Redis sends on `FLUSHALL` / `FLUSHDB`, so the heartbeat also reads
/// `epoch_key`: a flush removes it, and the next
/// heartbeat drops the cache and writes a new token (the first instance to notice does; the
/// others see the token change and drop theirs). Ends with the store.
async fn heartbeat(
    clients: Vec<Client>,
    cache: Weak<NearCache>,
    epoch_key: String,
    mut epoch: Option<String>,
) {
    let Some((every, silence)) = cache.upgrade().map(|cache| {
        let settings = cache.settings();
        (settings.heartbeat(), settings.max_silence)
    }) else {
        return;
    };
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(cache) = cache.upgrade() else {
            return;
        };
        let sent = Instant::now();
        let beat = tokio::time::timeout(silence, beat(&clients, &cache, &epoch_key, &mut epoch));
        match beat.await {
            Ok(Ok(())) => cache.confirm(sent),
            _ => cache.drop_all(),
        }
    }
}

/// One heartbeat: a `PING` on every connection (every node's, on a cluster) and a read of the
/// flush epoch, adopted (or written, when a flush removed it) in `epoch`.
async fn beat(
    clients: &[Client],
    cache: &NearCache,
    epoch_key: &str,
    epoch: &mut Option<String>,
) -> Result<(), Error> {
    for client in clients {
        ping_every_node(client).await?;
    }
    let Some(client) = clients.first() else {
        return Ok(());
    };
    let mut current: Option<String> = client.get(epoch_key).await?;
    if current.is_none() {
        // Any unique text will do: a session id is 128 random bits.
        let token = tower_sessions::session::Id::default().to_string();
        let _: Option<String> = client
            .set(
                epoch_key,
                token,
                None::<Expiration>,
                Some(SetOptions::NX),
                false,
            )
            .await?;
        current = client.get(epoch_key).await?;
    }
    if epoch.is_some() && *epoch != current {
        // Flushed since the last heartbeat: every copy may be of a record that is gone.
        cache.drop_all();
    }
    *epoch = current;
    Ok(())
}

async fn ping_every_node(client: &Client) -> Result<(), Error> {
    if !client.is_clustered() {
        return client.ping::<()>(None).await;
    }
    let nodes = client.active_connections();
    if nodes.is_empty() {
        return Err(Error::new(ErrorKind::IO, "no connection to any node"));
    }
    for node in nodes {
        client.with_cluster_node(node).ping::<()>(None).await?;
    }
    Ok(())
}

fn listen(client: &Client, cache: Arc<NearCache>) {
    let mut invalidations = client.invalidation_rx();
    let invalidated = cache.clone();
    tokio::spawn(async move {
        loop {
            match invalidations.recv().await {
                // No key: the server was flushed (or tracking's table overflowed).
                Ok(invalidation) if invalidation.keys.is_empty() => invalidated.drop_all(),
                Ok(invalidation) => {
                    for key in &invalidation.keys {
                        match key.as_str() {
                            Some(key) => invalidated.invalidate(key),
                            None => invalidated.drop_all(),
                        }
                    }
                }
                // Invalidations were missed: nothing cached can be trusted.
                Err(RecvError::Lagged(_)) => invalidated.drop_all(),
                Err(RecvError::Closed) => break,
            }
        }
    });
    // A connection lost, then re-established: invalidations sent meanwhile were lost with it,
    // and the new connection tracks nothing until told to. `tracked` counts this connection
    // once in the cache's untracked ones, however many events report its loss.
    let tracked = Arc::new(AtomicBool::new(true));
    let mut errors = client.error_rx();
    let (on_error, error_tracked) = (cache.clone(), tracked.clone());
    tokio::spawn(async move {
        while let Ok(_) | Err(RecvError::Lagged(_)) = errors.recv().await {
            lost(&on_error, &error_tracked);
        }
    });
    let mut reconnects = client.reconnect_rx();
    let client = client.clone();
    tokio::spawn(async move {
        while let Ok(_) | Err(RecvError::Lagged(_)) = reconnects.recv().await {
            lost(&cache, &tracked);
            match turn_on(&client).await {
                Ok(()) => {
                    if !tracked.swap(true, Ordering::AcqRel) {
                        cache.tracking_back();
                    }
                }
                Err(err) => tracing::warn!(
                    error = %crate::fault::safe_text(&err),
                    "could not turn client tracking back on; the session near cache stays off"
                ),
            }
        }
    });
}

/// This connection's tracking is lost: the cache keeps nothing until it is back.
fn lost(cache: &NearCache, tracked: &AtomicBool) {
    if tracked.swap(false, Ordering::AcqRel) {
        cache.tracking_lost();
    } else {
        cache.drop_all();
    }
}
