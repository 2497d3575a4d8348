//! A near cache of session records in this process, kept correct by Redis' server-assisted
//! client-side caching (RESP3 `CLIENT TRACKING`): Redis tells a connection when a key it read
//! changes, expires or is evicted, and the entry is dropped before the next read can use it.
//!
//! * A hit costs no Redis command. A miss is the usual `HGETALL`, whose connection then tracks
//!   the key.
//! * Any write to a session — from this process, another instance, Redis' own expiry or
//!   eviction — removes the entry: this process's own writes remove it at once (so a request
//!   reads what the previous one wrote), others' through the invalidation Redis pushes.
//! * A read that raced with an invalidation is not cached (a generation count, bumped by every
//!   invalidation, must be unchanged between the start of the read and the insert).
//! * A lost or re-established connection, a flush, a failover (a reconnection) or an open
//!   breaker drop the whole cache: invalidations may have been missed meanwhile. Nothing is kept
//!   again until every connection tracks again: a key read on one that does not yet would never
//!   be invalidated.
//! * The absolute and idle deadlines are checked locally: an entry past its deadline is a miss.
//! * No entry is older than `max_age` (default 5 s): an invalidation that never arrives — fred
//!   10.1 drops the one Redis sends for `FLUSHALL` / `FLUSHDB` in RESP3 — is outlived by then.
//!
//! Bounded by entries and bytes (the record's field and value lengths); the oldest entries go
//! first.

use std::{
    collections::{HashMap, VecDeque},
    sync::{
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex, MutexGuard,
    },
    time::{Duration, Instant},
};

use crate::record::Loaded;

/// How much the near cache may hold ([`crate::StoreBuilder::near_cache`]).
///
/// ```
/// use std::time::Duration;
/// use tower_sessions_fred_store::NearCacheSettings;
///
/// let settings = NearCacheSettings::default()
///     .max_entries(50_000)
///     .max_bytes(32 << 20)
///     .max_age(Duration::from_secs(2));
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
}

impl Default for NearCacheSettings {
    fn default() -> Self {
        NearCacheSettings {
            max_entries: 10_000,
            max_bytes: 8 * 1024 * 1024,
            max_age: Duration::from_secs(5),
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
    /// Times the whole cache was dropped (reconnection, flush, breaker open).
    pub dropped: u64,
    /// Entries held now.
    pub entries: u64,
}

pub(crate) struct NearCache {
    settings: NearCacheSettings,
    /// Off until tracking is on for every connection.
    started: AtomicBool,
    /// Connections whose tracking was lost and is not back yet: nothing is kept meanwhile.
    untracked: AtomicUsize,
    generation: AtomicU64,
    state: Mutex<State>,
    hits: AtomicU64,
    misses: AtomicU64,
    invalidations: AtomicU64,
    dropped: AtomicU64,
}

#[derive(Default)]
struct State {
    entries: HashMap<String, Entry>,
    /// Keys in insertion order, for eviction (a key may appear again after re-insertion; stale
    /// positions are skipped).
    order: VecDeque<(String, u64)>,
    bytes: usize,
    next_stamp: u64,
}

struct Entry {
    /// Shared with the requests that read it: a hit holds the lock for a reference count and
    /// copies no record (every worker thread reads through this one lock).
    loaded: Arc<Loaded>,
    deadline: i64,
    stored_at: Instant,
    bytes: usize,
    stamp: u64,
}

impl NearCache {
    pub(crate) fn new(settings: NearCacheSettings) -> Self {
        NearCache {
            settings,
            started: AtomicBool::new(false),
            untracked: AtomicUsize::new(0),
            generation: AtomicU64::new(0),
            state: Mutex::new(State::default()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            invalidations: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every update leaves the maps consistent before it can panic.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn is_active(&self) -> bool {
        self.started.load(Ordering::Acquire) && self.untracked.load(Ordering::Acquire) == 0
    }

    /// Tracking is on for every connection: entries may be kept.
    pub(crate) fn activate(&self) {
        self.started.store(true, Ordering::Release);
    }

    /// One connection's tracking is lost (invalidations sent to it are gone): keep nothing
    /// until [`NearCache::tracking_back`].
    pub(crate) fn tracking_lost(&self) {
        self.untracked.fetch_add(1, Ordering::AcqRel);
        self.drop_all();
    }

    /// That connection tracks again.
    pub(crate) fn tracking_back(&self) {
        self.untracked.fetch_sub(1, Ordering::AcqRel);
    }

    /// The generation a read starts in; its result is cached only if no invalidation came since.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The record under `key`, if cached and not past its deadline at `now`.
    pub(crate) fn get(&self, key: &str, now: i64) -> Option<Arc<Loaded>> {
        if !self.is_active() {
            return None;
        }
        let mut state = self.state();
        let found = match state.entries.get(key) {
            Some(entry)
                if now < entry.deadline && entry.stored_at.elapsed() < self.settings.max_age =>
            {
                Some(Arc::clone(&entry.loaded))
            }
            Some(_) => {
                remove(&mut state, key);
                None
            }
            None => None,
        };
        drop(state);
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Keeps `loaded` (read in `generation`, `bytes` long, ending at `deadline`) unless an
    /// invalidation came meanwhile.
    pub(crate) fn insert(
        &self,
        key: String,
        loaded: Arc<Loaded>,
        deadline: i64,
        bytes: usize,
        generation: u64,
    ) {
        if !self.is_active() || bytes > self.settings.max_bytes || self.settings.max_entries == 0 {
            return;
        }
        let mut state = self.state();
        // Checked under the lock: an invalidation bumps the generation before it takes the lock.
        if self.generation() != generation {
            return;
        }
        remove(&mut state, &key);
        while state.entries.len() >= self.settings.max_entries
            || state.bytes + bytes > self.settings.max_bytes
        {
            let Some((oldest, stamp)) = state.order.pop_front() else {
                break;
            };
            if state.entries.get(&oldest).is_some_and(|e| e.stamp == stamp) {
                remove(&mut state, &oldest);
            }
        }
        state.next_stamp += 1;
        let stamp = state.next_stamp;
        state.order.push_back((key.clone(), stamp));
        state.bytes += bytes;
        let entry = Entry {
            loaded,
            deadline,
            stored_at: Instant::now(),
            bytes,
            stamp,
        };
        state.entries.insert(key, entry);
        // Positions of removed entries are dropped when they pile up.
        if state.order.len() > 2 * state.entries.len() + 64 {
            let State { entries, order, .. } = &mut *state;
            order.retain(|(key, stamp)| entries.get(key).is_some_and(|e| e.stamp == *stamp));
        }
    }

    /// `key` changed (or may have): forget it, and keep no read that was under way.
    pub(crate) fn invalidate(&self, key: &str) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        if remove(&mut self.state(), key) {
            self.invalidations.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Forgets everything (a flush, a reconnection, an open breaker).
    pub(crate) fn drop_all(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        let mut state = self.state();
        if !state.entries.is_empty() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        *state = State::default();
    }

    pub(crate) fn stats(&self) -> NearCacheStats {
        NearCacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            invalidations: self.invalidations.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            entries: self.state().entries.len() as u64,
        }
    }
}

/// Removes `key`; whether it was there.
fn remove(state: &mut State, key: &str) -> bool {
    match state.entries.remove(key) {
        Some(entry) => {
            state.bytes -= entry.bytes;
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use tower_sessions::session::Id;

    use super::*;
    use crate::record::Meta;

    fn loaded(n: i128) -> Arc<Loaded> {
        Arc::new(Loaded {
            stored: Default::default(),
            id: Id(n),
            meta: Meta {
                created_at: 0,
                refreshed_at: 0,
                absolute_deadline: 1_000,
                signed_in: None,
            },
            data: HashMap::new(),
        })
    }

    fn cache(max_entries: usize, max_bytes: usize) -> NearCache {
        let cache = NearCache::new(NearCacheSettings {
            max_entries,
            max_bytes,
            max_age: Duration::from_millis(50),
        });
        cache.activate();
        cache
    }

    #[test]
    fn a_read_that_raced_with_an_invalidation_is_not_kept() {
        let cache = cache(10, 1_000);
        let generation = cache.generation();
        cache.invalidate("other");
        cache.insert("k".into(), loaded(1), 1_000, 10, generation);
        assert!(cache.get("k", 0).is_none());
        cache.insert("k".into(), loaded(1), 1_000, 10, cache.generation());
        assert!(cache.get("k", 0).is_some());
        assert!(cache.get("k", 1_000).is_none(), "past its deadline");
        assert!(cache.get("k", 0).is_none(), "and gone");
        cache.insert("k".into(), loaded(1), 1_000, 10, cache.generation());
        std::thread::sleep(Duration::from_millis(60));
        assert!(cache.get("k", 0).is_none(), "older than max_age");
    }

    #[test]
    fn it_stays_within_its_entries_and_bytes_oldest_out_first() {
        let cache = cache(2, 25);
        for (n, key) in ["a", "b", "c"].iter().enumerate() {
            cache.insert(
                key.to_string(),
                loaded(n as i128),
                1_000,
                10,
                cache.generation(),
            );
        }
        assert!(cache.get("a", 0).is_none());
        assert!(cache.get("b", 0).is_some() && cache.get("c", 0).is_some());
        cache.insert("d".into(), loaded(4), 1_000, 20, cache.generation());
        assert_eq!(
            cache.stats().entries,
            1,
            "20 + 10 bytes would not fit in 25"
        );
        cache.insert("huge".into(), loaded(5), 1_000, 26, cache.generation());
        assert!(cache.get("huge", 0).is_none());
    }

    #[test]
    fn nothing_is_kept_until_every_lost_connection_tracks_again() {
        let cache = cache(10, 1_000);
        cache.insert("k".into(), loaded(1), 1_000, 10, cache.generation());
        cache.tracking_lost();
        cache.tracking_lost();
        assert!(cache.get("k", 0).is_none(), "dropped");
        cache.tracking_back();
        cache.insert("k".into(), loaded(1), 1_000, 10, cache.generation());
        assert!(
            cache.get("k", 0).is_none(),
            "one connection still untracked"
        );
        cache.tracking_back();
        cache.insert("k".into(), loaded(1), 1_000, 10, cache.generation());
        assert!(cache.get("k", 0).is_some());
    }
}
