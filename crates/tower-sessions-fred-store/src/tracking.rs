//! Turning Redis' client tracking on for every connection of the pool and feeding its
//! invalidations to the near cache.

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc,
};

use fred::{
    clients::Client,
    error::Error,
    interfaces::{EventInterface, TrackingInterface},
};
use tokio::sync::broadcast::error::RecvError;

use crate::near_cache::NearCache;

/// `CLIENT TRACKING ON` on each connection (every node's, on a cluster), then listens on each
/// for invalidations, lost connections and reconnections. The pool must speak RESP3.
pub(crate) async fn start(clients: &[Client], cache: &Arc<NearCache>) -> Result<(), Error> {
    for client in clients {
        turn_on(client).await?;
        listen(client, cache.clone());
    }
    cache.activate();
    Ok(())
}

async fn turn_on(client: &Client) -> Result<(), Error> {
    // Default mode (not broadcast): Redis remembers which keys this connection read and tells
    // it when one of them changes; without NOLOOP, this connection's own writes too.
    client
        .start_tracking(Vec::<String>::new(), false, false, false, false)
        .await
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
