//! The near cache's rules, without Redis.

use std::{collections::HashMap, time::Duration};

use tower_sessions::session::Id;

use super::*;
use crate::record::Meta;

fn loaded(n: i128) -> Arc<Loaded> {
    versioned(n, 0)
}

/// Session `n` at `version`.
fn versioned(n: i128, version: u64) -> Arc<Loaded> {
    Arc::new(Loaded {
        stored: Default::default(),
        id: Id(n),
        meta: Meta {
            created_at: 0,
            refreshed_at: 0,
            absolute_deadline: 1_000,
            signed_in: None,
            version,
        },
        data: HashMap::new(),
    })
}

fn cache(max_entries: usize, max_bytes: usize) -> NearCache {
    let cache = NearCache::new(NearCacheSettings {
        max_entries,
        max_bytes,
        max_age: Duration::from_millis(200),
        max_silence: Duration::from_secs(60),
    });
    cache.activate();
    cache.confirm(Instant::now());
    cache
}

#[test]
fn an_answer_sent_before_its_key_was_invalidated_is_not_kept() {
    let cache = cache(10, 1_000);
    let sent = Instant::now();
    cache.invalidate("other");
    cache.insert("k".into(), loaded(1), 1_000, 10, sent);
    assert!(cache.get("k", 0).is_some(), "another key's invalidation");
    cache.invalidate("k");
    cache.insert("k".into(), loaded(1), 1_000, 10, sent);
    assert!(cache.get("k", 0).is_none(), "sent before the invalidation");
    cache.insert("k".into(), loaded(1), 1_000, 10, Instant::now());
    assert!(cache.get("k", 0).is_some());
    assert!(cache.get("k", 1_000).is_none(), "past its deadline");
    assert!(cache.get("k", 0).is_none(), "and gone");
    let before_drop = Instant::now();
    cache.drop_all();
    cache.insert("k".into(), loaded(1), 1_000, 10, before_drop);
    assert!(cache.get("k", 0).is_none(), "sent before the drop");
    let sent = Instant::now();
    cache.insert("k".into(), loaded(1), 1_000, 10, sent);
    std::thread::sleep(Duration::from_millis(210));
    assert!(cache.get("k", 0).is_none(), "older than max_age");
}

#[test]
fn an_older_answer_never_replaces_a_newer_copy() {
    let cache = cache(10, 1_000);
    let (older, newer) = (Instant::now(), Instant::now() + Duration::from_nanos(1));
    cache.insert("k".into(), loaded(2), 1_000, 10, newer);
    cache.insert("k".into(), loaded(1), 1_000, 10, older);
    assert_eq!(cache.get("k", 0).map(|hit| hit.id), Some(Id(2)));
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
            Instant::now(),
        );
    }
    assert!(cache.get("a", 0).is_none());
    assert!(cache.get("b", 0).is_some() && cache.get("c", 0).is_some());
    cache.insert("d".into(), loaded(4), 1_000, 20, Instant::now());
    assert_eq!(
        cache.stats().entries,
        1,
        "20 + 10 bytes would not fit in 25"
    );
    cache.insert("huge".into(), loaded(5), 1_000, 26, Instant::now());
    assert!(cache.get("huge", 0).is_none());
}

#[test]
fn nothing_is_kept_until_every_lost_connection_tracks_again() {
    let cache = cache(10, 1_000);
    cache.insert("k".into(), loaded(1), 1_000, 10, Instant::now());
    cache.tracking_lost();
    cache.tracking_lost();
    assert!(cache.get("k", 0).is_none(), "dropped");
    cache.tracking_back();
    cache.insert("k".into(), loaded(1), 1_000, 10, Instant::now());
    assert!(
        cache.get("k", 0).is_none(),
        "one connection still untracked"
    );
    cache.tracking_back();
    cache.insert("k".into(), loaded(1), 1_000, 10, Instant::now());
    assert!(cache.get("k", 0).is_some());
}

#[test]
fn nothing_is_served_once_the_heartbeats_stop_being_answered() {
    let cache = NearCache::new(NearCacheSettings::default().max_silence(Duration::from_millis(40)));
    cache.activate();
    cache.insert("k".into(), loaded(1), 1_000, 10, Instant::now());
    assert!(cache.get("k", 0).is_none(), "no heartbeat answered yet");
    cache.confirm(Instant::now());
    assert!(cache.get("k", 0).is_some());
    std::thread::sleep(Duration::from_millis(45));
    assert!(
        cache.get("k", 0).is_none(),
        "silent for longer than max_silence"
    );
    cache.confirm(Instant::now());
    assert!(cache.get("k", 0).is_some(), "answered again");
}

#[test]
fn remembering_many_invalidations_stays_bounded() {
    let cache = cache(10, 1_000);
    let sent = Instant::now();
    for n in 0..2_000 {
        cache.invalidate(&format!("k{n}"));
    }
    assert!(cache.state().forgotten.len() <= 1024);
    cache.insert("k5".into(), loaded(1), 1_000, 10, sent);
    assert!(
        cache.get("k5", 0).is_none(),
        "still refused once forgotten in bulk"
    );
}

fn held_version(cache: &NearCache) -> Option<u64> {
    cache.get("k", 0).map(|hit| hit.meta.version)
}

#[test]
fn concurrent_writes_of_this_process_leave_the_newest_version_whatever_order_they_end_in() {
    let cache = cache(10, 1_000);
    let (first, second) = (cache.begin_write(), cache.begin_write());
    cache.end_write("k", first, Some((versioned(1, 1), 1_000, 10)));
    cache.end_write("k", second, Some((versioned(1, 2), 1_000, 10)));
    assert_eq!(held_version(&cache), Some(2), "in order");
    let (third, fourth) = (cache.begin_write(), cache.begin_write());
    cache.end_write("k", fourth, Some((versioned(1, 4), 1_000, 10)));
    cache.end_write("k", third, Some((versioned(1, 3), 1_000, 10)));
    assert_eq!(held_version(&cache), Some(4), "out of order");
}

#[test]
fn a_read_that_may_predate_a_write_is_not_kept() {
    let cache = cache(10, 1_000);
    let read_sent = Instant::now();
    let write = cache.begin_write();
    cache.end_write("k", write, Some((versioned(1, 5), 1_000, 10)));
    cache.invalidate("other");
    remove(&mut cache.state(), "k");
    cache.insert("k".into(), versioned(1, 4), 1_000, 10, read_sent);
    assert_eq!(held_version(&cache), None, "older than the write");
    cache.insert("k".into(), versioned(1, 5), 1_000, 10, read_sent);
    assert_eq!(held_version(&cache), Some(5), "the write's own version");
}

#[test]
fn a_write_without_an_answer_refuses_every_answer_sent_before_it_ended() {
    let cache = cache(10, 1_000);
    let (save, delete) = (cache.begin_write(), cache.begin_write());
    cache.end_write("k", delete, None);
    cache.end_write("k", save, Some((versioned(1, 9), 1_000, 10)));
    assert_eq!(held_version(&cache), None);
}
