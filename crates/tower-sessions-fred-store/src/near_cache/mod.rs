//! A near cache of session records in this process, kept correct by Redis' server-assisted
//! client-side caching (RESP3 `CLIENT TRACKING`): Redis tells a connection when a key it read
//! changes, expires or is evicted, and the entry is dropped before the next read can use it.
//!
//! * A hit costs no Redis command. A miss is the usual `HGETALL`, whose connection then tracks
//!   the key. A write's script answers with the record as it left it (and reads it, so the
//!   connection tracks it again): the entry holds the new version at once.
//! * A copy is refused when an invalidation of its key or a drop came after its command was sent
//!   (the answer may predate it), when this process wrote a later version, or a newer is held.
//! * A lost or re-established connection, a flush, a failover (a reconnection), an open breaker
//!   or a missed heartbeat drop the whole cache: invalidations may have been missed meanwhile.
//!   Nothing is kept again until every connection tracks again: a key read on one that does not
//!   yet would never be invalidated.
//! * Nothing is served unless every tracking connection answered a heartbeat within
//!   `max_silence` (default 1 s): a connection that silently stops delivering (a partition, a
//!   stalled proxy) cannot leave a copy in use for longer.
//! * The absolute and idle deadlines are checked locally: an entry past its deadline is a miss.
//! * No entry is older than `max_age` (default 5 s), the bound for any invalidation that never
//!   arrives.
//!
//! Bounded by entries and bytes (the record's field and value lengths); the oldest entries go
//! first.

use std::{
    collections::{HashMap, VecDeque},
    sync::{
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex, MutexGuard,
    },
    time::Instant,
};

use crate::record::Loaded;

mod settings;

pub use settings::{NearCacheSettings, NearCacheStats};

pub(crate) struct NearCache {
    settings: NearCacheSettings,
    /// Off until tracking is on for every connection.
    started: AtomicBool,
    /// Connections whose tracking was lost and is not back yet: nothing is kept meanwhile.
    untracked: AtomicUsize,
    /// The clock of `confirmed`.
    origin: Instant,
    /// When the last heartbeat that every connection answered was sent (ns since `origin`, 0 =
    /// never).
    confirmed: AtomicU64,
    state: Mutex<State>,
    hits: AtomicU64,
    misses: AtomicU64,
    invalidations: AtomicU64,
    dropped: AtomicU64,
}

struct State {
    entries: HashMap<String, Entry>,
    /// Keys in insertion order, for eviction (a key may appear again after re-insertion; stale
    /// positions are skipped).
    order: VecDeque<(String, u64)>,
    bytes: usize,
    next_stamp: u64,
    /// What is known of each recently changed key, to refuse answers that may predate a change.
    forgotten: HashMap<String, Mark>,
    /// When the whole cache was last dropped: a copy whose command was sent before is refused.
    dropped_at: Instant,
}

/// A write of this process on one key, between [`NearCache::begin_write`] and
/// [`NearCache::end_write`].
pub(crate) struct WriteTicket {
    sent: Instant,
}

/// A recent change of one key.
#[derive(Clone, Copy)]
struct Mark {
    /// When it last changed in a way no version tells apart (an invalidation, a delete, a write
    /// whose answer was not kept): an answer to a command sent before is refused.
    changed: Option<Instant>,
    /// The version the last kept write of this process left: an older answer is refused,
    /// whenever it was sent (concurrent writes of this process each keep theirs, newest last).
    written: u64,
    /// When either was last set (an answer sent before a mark older than `max_age` is too old).
    at: Instant,
}

impl State {
    fn new() -> Self {
        State {
            entries: HashMap::new(),
            order: VecDeque::new(),
            bytes: 0,
            next_stamp: 0,
            forgotten: HashMap::new(),
            dropped_at: Instant::now(),
        }
    }
}

struct Entry {
    /// Shared with the requests that read it: a hit holds the lock for a reference count and
    /// copies no record (every worker thread reads through this one lock).
    loaded: Arc<Loaded>,
    deadline: i64,
    /// When the command that produced this copy was sent.
    sent: Instant,
    bytes: usize,
    stamp: u64,
}

impl NearCache {
    pub(crate) fn new(settings: NearCacheSettings) -> Self {
        NearCache {
            settings,
            started: AtomicBool::new(false),
            untracked: AtomicUsize::new(0),
            origin: Instant::now(),
            confirmed: AtomicU64::new(0),
            state: Mutex::new(State::new()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            invalidations: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    pub(crate) fn settings(&self) -> &NearCacheSettings {
        &self.settings
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every update leaves the maps consistent before it can panic.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether copies may be kept: tracking is on for every connection.
    pub(crate) fn is_active(&self) -> bool {
        self.started.load(Ordering::Acquire) && self.untracked.load(Ordering::Acquire) == 0
    }

    /// Whether copies may be served: kept, and every connection answered a heartbeat lately.
    fn is_serving(&self) -> bool {
        let confirmed = self.confirmed.load(Ordering::Acquire);
        let silent = (self.origin.elapsed().as_nanos() as u64).saturating_sub(confirmed);
        self.is_active() && confirmed != 0 && silent < self.settings.max_silence.as_nanos() as u64
    }

    /// Tracking is on for every connection: entries may be kept.
    pub(crate) fn activate(&self) {
        self.started.store(true, Ordering::Release);
    }

    /// A heartbeat sent at `sent` was answered on every connection.
    pub(crate) fn confirm(&self, sent: Instant) {
        let at = sent.duration_since(self.origin).as_nanos().max(1) as u64;
        self.confirmed.fetch_max(at, Ordering::AcqRel);
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

    /// The record under `key`, if cached and not past its deadline at `now`.
    pub(crate) fn get(&self, key: &str, now: i64) -> Option<Arc<Loaded>> {
        if !self.is_serving() {
            self.misses.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let mut state = self.state();
        let found = match state.entries.get(key) {
            Some(entry) if now < entry.deadline && entry.sent.elapsed() < self.settings.max_age => {
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

    /// Keeps `loaded` (`bytes` long, ending at `deadline`), the answer to a command sent at
    /// `sent`, unless its key changed or the cache was dropped since, or a newer copy is held.
    pub(crate) fn insert(
        &self,
        key: String,
        loaded: Arc<Loaded>,
        deadline: i64,
        bytes: usize,
        sent: Instant,
    ) {
        if !self.may_keep(bytes) || sent.elapsed() >= self.settings.max_age {
            return;
        }
        let mut state = self.state();
        if !refused(&state, &key, sent, &loaded) && newer(&state, &key, &loaded) {
            keep(
                &mut state,
                &self.settings,
                key,
                (loaded, deadline, bytes),
                sent,
            );
        }
    }

    /// Whether a copy `bytes` long may be kept at all.
    fn may_keep(&self, bytes: usize) -> bool {
        self.is_active() && bytes <= self.settings.max_bytes && self.settings.max_entries > 0
    }

    /// This process is about to write `key` (on the one connection that carries that key's
    /// commands, which is not told of its own writes).
    pub(crate) fn begin_write(&self) -> WriteTicket {
        WriteTicket {
            sent: Instant::now(),
        }
    }

    /// The write of `ticket` is answered: with the record it left (`answer`: the record, its
    /// deadline and length) that is kept, unless a newer version is held, or an invalidation of
    /// the key or a drop came since the write was sent; no older answer is kept after it. An
    /// answer older than a write already kept changes nothing. Without an answer to keep, the
    /// copy goes and no answer to a command sent before now is kept.
    pub(crate) fn end_write(&self, key: &str, ticket: WriteTicket, answer: Option<Answer>) {
        let mut state = self.state();
        let now = Instant::now();
        let written = state.forgotten.get(key).map_or(0, |mark| mark.written);
        match answer {
            Some(answer) if answer.0.meta.version < written => {}
            Some(answer)
                if self.may_keep(answer.2) && !refused(&state, key, ticket.sent, &answer.0) =>
            {
                let version = answer.0.meta.version;
                if newer(&state, key, &answer.0) {
                    keep(&mut state, &self.settings, key.to_owned(), answer, now);
                }
                mark(&mut state, &self.settings, key, now, Some(version));
            }
            _ => {
                remove(&mut state, key);
                mark(&mut state, &self.settings, key, now, None);
            }
        }
    }

    /// `key` changed (or may have): forget it, and keep no answer to a command sent before now.
    pub(crate) fn invalidate(&self, key: &str) {
        let mut state = self.state();
        mark(&mut state, &self.settings, key, Instant::now(), None);
        if remove(&mut state, key) {
            self.invalidations.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Forgets everything (a flush, a reconnection, an open breaker, a missed heartbeat).
    pub(crate) fn drop_all(&self) {
        let mut state = self.state();
        if !state.entries.is_empty() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        *state = State::new();
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

/// Whether `loaded` is a later version of `key` than the copy held, if any (every write
/// increments the record's version in the script that makes it).
fn newer(state: &State, key: &str, loaded: &Loaded) -> bool {
    state
        .entries
        .get(key)
        .is_none_or(|held| held.loaded.meta.version < loaded.meta.version)
}

/// Whether `loaded`, the answer to a command on `key` sent at `sent`, may predate a change: the
/// key was invalidated, or the cache dropped, since it was sent, or this process wrote a later
/// version.
fn refused(state: &State, key: &str, sent: Instant, loaded: &Loaded) -> bool {
    sent <= state.dropped_at
        || state.forgotten.get(key).is_some_and(|mark| {
            mark.changed.is_some_and(|at| sent <= at) || loaded.meta.version < mark.written
        })
}

/// A record as the near cache keeps it: the record, its deadline (ms) and its length.
pub(crate) type Answer = (Arc<Loaded>, i64, usize);

/// Keeps a copy, evicting the oldest ones to make room.
fn keep(
    state: &mut State,
    settings: &NearCacheSettings,
    key: String,
    (loaded, deadline, bytes): Answer,
    sent: Instant,
) {
    remove(state, &key);
    while state.entries.len() >= settings.max_entries || state.bytes + bytes > settings.max_bytes {
        let Some((oldest, stamp)) = state.order.pop_front() else {
            break;
        };
        if state.entries.get(&oldest).is_some_and(|e| e.stamp == stamp) {
            remove(state, &oldest);
        }
    }
    state.next_stamp += 1;
    let stamp = state.next_stamp;
    state.order.push_back((key.clone(), stamp));
    state.bytes += bytes;
    let entry = Entry {
        loaded,
        deadline,
        sent,
        bytes,
        stamp,
    };
    state.entries.insert(key, entry);
    // Positions of removed entries are dropped when they pile up.
    if state.order.len() > 2 * state.entries.len() + 64 {
        let State { entries, order, .. } = state;
        order.retain(|(key, stamp)| entries.get(key).is_some_and(|e| e.stamp == *stamp));
    }
}

/// Marks `key` written by this process at `version`, or (`None`) changed in a way no version
/// tells apart, within bounds: older marks no longer matter (an answer sent before them is past
/// `max_age`), and when too many are recent, every answer sent before now is refused instead.
fn mark(
    state: &mut State,
    settings: &NearCacheSettings,
    key: &str,
    now: Instant,
    written: Option<u64>,
) {
    let mark = state.forgotten.entry(key.to_owned()).or_insert(Mark {
        changed: None,
        written: 0,
        at: now,
    });
    match written {
        Some(version) => mark.written = mark.written.max(version),
        None => mark.changed = Some(now),
    }
    mark.at = now;
    let bound = settings.max_entries.max(1024);
    if state.forgotten.len() > bound {
        state
            .forgotten
            .retain(|_, mark| now - mark.at < settings.max_age);
        if state.forgotten.len() > bound {
            state.forgotten.clear();
            state.dropped_at = now;
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
mod tests;
