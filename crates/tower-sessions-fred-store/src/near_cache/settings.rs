//! What a near cache may hold and how stale it may be, and what it reports.

use std::time::Duration;

/// How much the near cache may hold, and how stale it may be ([`crate::StoreBuilder::near_cache`]).
///
/// ```
/// use std::time::Duration;
/// use tower_sessions_fred_store::NearCacheSettings;
///
/// let settings = NearCacheSettings::default()
///     .max_entries(50_000)
///     .max_bytes(32 << 20)
///     .max_age(Duration::from_secs(2))
///     .max_silence(Duration::from_millis(500));
/// # let _ = settings;
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct NearCacheSettings {
    /// At most this many sessions (default 10 000).
    pub max_entries: usize,
    /// At most this many bytes of field names and values (default 8 MiB).
    pub max_bytes: usize,
    /// An entry is read from Redis again after this long, however quiet (default 5 s): the
    /// longest a missed invalidation can leave a stale copy.
    pub max_age: Duration,
    /// Nothing is served from memory unless every tracking connection answered a heartbeat
    /// within this long (default 1 s; one is sent every quarter of it, with that as its
    /// deadline). It bounds how long a silent partition, or a flush, leaves copies in use.
    pub max_silence: Duration,
}

impl Default for NearCacheSettings {
    fn default() -> Self {
        NearCacheSettings {
            max_entries: 10_000,
            max_bytes: 8 * 1024 * 1024,
            max_age: Duration::from_secs(5),
            max_silence: Duration::from_secs(1),
        }
    }
}

impl NearCacheSettings {
    /// At most `entries` sessions.
    pub fn max_entries(mut self, entries: usize) -> Self {
        self.max_entries = entries;
        self
    }

    /// At most `bytes` of field names and values.
    pub fn max_bytes(mut self, bytes: usize) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// Read again from Redis after `age`, however quiet.
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = age;
        self
    }

    /// Serve nothing from memory once the tracking connections have been silent for `silence`
    /// (at least 4 ms: heartbeats go every quarter of it).
    pub fn max_silence(mut self, silence: Duration) -> Self {
        self.max_silence = silence.max(Duration::from_millis(4));
        self
    }

    /// How often the tracking connections are sent a heartbeat, and how long each may take.
    pub(crate) fn heartbeat(&self) -> Duration {
        (self.max_silence / 4).max(Duration::from_millis(1))
    }
}

/// What the near cache has done since start ([`crate::RedisSessionStore::near_cache_stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NearCacheStats {
    /// Reads answered from the cache.
    pub hits: u64,
    /// Reads that went to Redis.
    pub misses: u64,
    /// Entries removed by invalidations (this process's writes included).
    pub invalidations: u64,
    /// Times the whole cache was dropped (reconnection, flush, breaker open, missed heartbeat).
    pub dropped: u64,
    /// Entries held now.
    pub entries: u64,
}
