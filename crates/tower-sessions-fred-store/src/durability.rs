//! Waiting for replicas: a write that matters (a new session, a sign-in) is acknowledged only
//! once that many replicas hold it, so a master crash right after cannot take back a sign-in the
//! user already saw succeed.

use std::time::Duration;

use fred::{
    clients::Client,
    error::{Error, ErrorKind},
    interfaces::ServerInterface,
    prelude::ClientLike,
    types::{config::Options, ClusterHash},
    util::redis_keyslot,
};

/// How many replicas must acknowledge, and for how long to wait for them.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ReplicaWait {
    /// How many replicas must hold the write; 0 waits for none (the default).
    pub replicas: u32,
    /// How long to wait for them before the write counts as failed.
    pub timeout: Duration,
}

impl ReplicaWait {
    /// `WAIT` on the connection (and, in a cluster, the node) that just wrote `key`. An error
    /// when too few replicas confirmed in time: the write may be lost, so it is not acknowledged.
    pub(crate) async fn after_write(&self, client: &Client, key: &str) -> Result<(), Error> {
        if self.replicas == 0 {
            return Ok(());
        }
        let options = Options {
            cluster_hash: Some(ClusterHash::Custom(redis_keyslot(key.as_bytes()))),
            timeout: Some(self.timeout + Duration::from_millis(250)),
            ..Options::default()
        };
        let millis = i64::try_from(self.timeout.as_millis()).unwrap_or(i64::MAX);
        let acknowledged: i64 = client
            .with_options(&options)
            .wait(i64::from(self.replicas), millis)
            .await?;
        if acknowledged < i64::from(self.replicas) {
            return Err(Error::new(
                ErrorKind::Timeout,
                "NOREPLICAS fewer replicas than required confirmed the write in time",
            ));
        }
        Ok(())
    }
}
