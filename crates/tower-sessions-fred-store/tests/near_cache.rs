//! The near cache: two instances (two stores, each with its own RESP3 pool) on one Redis.
//! Figures (the freshness delay) are printed; run with `--nocapture` to see them.

mod common;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use common::{TestRedis, PREFIX};
use fred::{
    interfaces::{ClientLike, EventInterface, KeysInterface},
    prelude::{Builder, Config, Pool, ReconnectPolicy},
    types::RespVersion,
};
use serde_json::json;
use tower_sessions::{
    session::{Id, Record},
    SessionStore,
};
use tower_sessions_fred_store::{NearCacheSettings, RedisSessionStore};

/// An instance: a store on a pool of its own that speaks RESP3 and reconnects, near cache on.
async fn instance(redis: &TestRedis) -> RedisSessionStore {
    instance_with(redis, NearCacheSettings::default().max_age).await
}

/// [`instance`] whose cached copies live at most `max_age`.
async fn instance_with(redis: &TestRedis, max_age: Duration) -> RedisSessionStore {
    let mut config = Config::from_url(&redis.url).expect("a valid URL");
    config.version = RespVersion::RESP3;
    let mut builder = Builder::from_config(config);
    builder.set_policy(ReconnectPolicy::new_constant(0, 50));
    let pool: Pool = builder.build_pool(2).expect("a pool");
    tokio::time::timeout(Duration::from_secs(10), pool.init())
        .await
        .expect("connects within 10 s")
        .expect("connects");
    let store = RedisSessionStore::builder(pool)
        .key_prefix(PREFIX)
        .near_cache(NearCacheSettings::default().max_age(max_age))
        .build();
    store.start_near_cache().await.expect("tracking turns on");
    store
}

fn record(data: serde_json::Value) -> Record {
    Record {
        id: Id::default(),
        data: serde_json::from_value(data).unwrap(),
        expiry_date: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
    }
}

async fn value_on(store: &RedisSessionStore, id: &Id, key: &str) -> Option<serde_json::Value> {
    store
        .load(id)
        .await
        .expect("Redis answers")
        .and_then(|loaded| loaded.data.get(key).cloned())
}

/// Polls `store` (at most 2 s) until `key` of session `id` reads `expected`; how long it took.
async fn seen_within(
    store: &RedisSessionStore,
    id: &Id,
    key: &str,
    expected: &Option<serde_json::Value>,
) -> Duration {
    let started = Instant::now();
    while &value_on(store, id, key).await != expected {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "never saw {expected:?}"
        );
        tokio::task::yield_now().await;
    }
    started.elapsed()
}

#[tokio::test]
async fn a_read_of_an_unchanged_session_sends_no_command() {
    let redis = TestRedis::start().await;
    let (a, b) = (instance(&redis).await, instance(&redis).await);
    let mut session = record(json!({"note": "hello"}));
    SessionStore::create(&a, &mut session).await.unwrap();

    assert_eq!(
        value_on(&b, &session.id, "note").await,
        Some(json!("hello"))
    );
    let before = redis.command_counts().await;
    for _ in 0..50 {
        assert_eq!(
            value_on(&b, &session.id, "note").await,
            Some(json!("hello"))
        );
    }
    let after = redis.command_counts().await;
    assert_eq!(before.get("hgetall"), after.get("hgetall"), "{after:?}");
    let stats = b.near_cache_stats().unwrap();
    assert_eq!((stats.hits, stats.misses, stats.entries), (50, 1, 1));
}

#[tokio::test]
async fn a_write_on_one_instance_is_seen_on_the_other() {
    let redis = TestRedis::start().await;
    let (a, b) = (instance(&redis).await, instance(&redis).await);
    let mut session = record(json!({"n": 0}));
    SessionStore::create(&a, &mut session).await.unwrap();
    let mut delays = Vec::with_capacity(300);
    for n in 1..=300 {
        // B holds the old value, A changes it: B must read the change.
        assert_eq!(value_on(&b, &session.id, "n").await, Some(json!(n - 1)));
        session.data.insert("n".into(), json!(n));
        SessionStore::save(&a, &session).await.unwrap();
        delays.push(seen_within(&b, &session.id, "n", &Some(json!(n))).await);
        // A reads its own write at once, whatever the invalidation.
        assert_eq!(value_on(&a, &session.id, "n").await, Some(json!(n)));
    }
    delays.sort();
    eprintln!(
        "near cache freshness over {} writes: p50 {:?}, p99 {:?}, max {:?}",
        delays.len(),
        delays[delays.len() / 2],
        delays[delays.len() * 99 / 100],
        delays[delays.len() - 1]
    );
}

#[tokio::test]
async fn a_session_ended_on_one_instance_ends_on_the_other() {
    let redis = TestRedis::start().await;
    let (a, b) = (instance(&redis).await, instance(&redis).await);
    let mut session = record(json!({"note": "x"}));
    SessionStore::create(&a, &mut session).await.unwrap();
    assert!(b.load(&session.id).await.unwrap().is_some());
    SessionStore::delete(&a, &session.id).await.unwrap();
    assert!(a.load(&session.id).await.unwrap().is_none(), "at once here");
    let took = seen_within(&b, &session.id, "note", &None).await;
    eprintln!("a deleted session was gone on the other instance after {took:?}");
    // Nor is it re-created by an increment (a script's "no such session" through RESP3).
    assert_eq!(b.increment(&session.id, "n", 1).await.unwrap(), None);
    assert!(
        !redis
            .exists(&format!("{PREFIX}session:{{{}}}", session.id))
            .await
    );
}

#[tokio::test]
async fn a_counter_incremented_on_both_instances_stays_exact() {
    let redis = TestRedis::start().await;
    let (a, b) = (
        Arc::new(instance(&redis).await),
        Arc::new(instance(&redis).await),
    );
    let mut session = record(json!({"counter": 0}));
    SessionStore::create(&*a, &mut session).await.unwrap();
    let id = session.id;
    let mut tasks = Vec::new();
    for store in [a.clone(), b.clone()] {
        tasks.push(tokio::spawn(async move {
            for _ in 0..100 {
                // A read between increments keeps the record cached on both.
                store.load(&id).await.unwrap();
                store.increment(&id, "counter", 1).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    for store in [&a, &b] {
        let seen = seen_within(store, &id, "counter", &Some(json!(200))).await;
        assert!(seen < Duration::from_secs(2));
    }
}

#[tokio::test]
async fn a_flush_or_a_lost_connection_drops_the_cache() {
    let redis = TestRedis::start().await;
    let b = instance(&redis).await;
    let a = instance(&redis).await;
    let mut session = record(json!({"note": "x"}));
    SessionStore::create(&a, &mut session).await.unwrap();
    assert!(b.load(&session.id).await.unwrap().is_some());
    assert_eq!(b.near_cache_stats().unwrap().entries, 1);

    // Every client connection is cut (as a Redis restart or failover would): B reconnects,
    // turns tracking back on, and keeps nothing it cached before.
    let mut reconnects: Vec<_> = b
        .pool()
        .clients()
        .iter()
        .map(|c| c.reconnect_rx())
        .collect();
    let _: fred::types::Value = redis
        .pool
        .custom(
            fred::types::CustomCommand::new_static("CLIENT", None, false),
            vec!["KILL", "TYPE", "normal"],
        )
        .await
        .unwrap_or(fred::types::Value::Null);
    // Each of B's connections notices its loss in its own time: wait for every one to be back.
    for reconnected in &mut reconnects {
        tokio::time::timeout(Duration::from_secs(5), reconnected.recv())
            .await
            .expect("B reconnects within 5 s")
            .expect("a reconnection");
    }
    assert_eq!(b.near_cache_stats().unwrap().entries, 0, "cache kept");
    // Back in service: the breaker, opened while a connection was down, lets a probe through.
    let started = Instant::now();
    while !matches!(b.load(&session.id).await, Ok(Some(_))) {
        assert!(started.elapsed() < Duration::from_secs(5), "never back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // FLUSHALL (sent by the other instance: the inspecting pool does not reconnect). Redis
    // sends every tracking connection a null invalidation, which fred 10.1 drops in RESP3: the
    // flushed session goes at the next heartbeat, which finds the flush epoch gone (within
    // `max_silence`, 1 s, long before `max_age`, 5 s).
    assert!(
        matches!(b.load(&session.id).await, Ok(Some(_))),
        "cached again"
    );
    let _: () = a.pool().flushall(false).await.unwrap();
    let took = seen_within(&b, &session.id, "note", &None).await;
    eprintln!("a flush reached the other instance's cache after {took:?}");
}

#[tokio::test]
async fn a_write_costs_one_round_trip_and_leaves_its_version_cached() {
    let redis = TestRedis::start().await;
    let a = instance(&redis).await;
    let mut session = record(json!({"n": 0}));
    SessionStore::create(&a, &mut session).await.unwrap();
    // The first use of the script loads it into Redis.
    a.increment(&session.id, "n", 1).await.unwrap();
    assert_eq!(value_on(&a, &session.id, "n").await, Some(json!(1)));

    let misses = a.near_cache_stats().unwrap().misses;
    let before = redis.command_counts().await;
    for n in 2..=21 {
        assert_eq!(a.increment(&session.id, "n", 1).await.unwrap(), Some(n));
        assert_eq!(value_on(&a, &session.id, "n").await, Some(json!(n)));
    }
    let after = redis.command_counts().await;
    let sent = |name: &str| after.get(name).unwrap_or(&0) - before.get(name).unwrap_or(&0);
    // The heartbeat's PING and GET aside; `INFO commandstats` counts the `HGETALL` each script
    // runs inside Redis too, so a read that went to Redis would make it more than 20.
    assert_eq!((sent("evalsha"), sent("hgetall")), (20, 20), "{after:?}");
    assert_eq!(
        a.near_cache_stats().unwrap().misses,
        misses,
        "every read a hit"
    );
}

#[tokio::test]
async fn a_silent_redis_stops_the_cache_serving_within_max_silence() {
    let redis = TestRedis::start().await;
    let a = instance(&redis).await;
    let mut session = record(json!({"note": "x"}));
    SessionStore::create(&a, &mut session).await.unwrap();
    assert!(matches!(a.load(&session.id).await, Ok(Some(_))));
    assert!(matches!(a.load(&session.id).await, Ok(Some(_))), "a hit");

    // No connection closes: only the missing heartbeat answers tell. Without them the copy
    // would be served until `max_age` (5 s).
    redis.pause(true);
    let paused = Instant::now();
    let mut served_for = Duration::ZERO;
    while paused.elapsed() < Duration::from_secs(3) {
        let started = Instant::now();
        match a.load(&session.id).await {
            Ok(Some(_)) => served_for = paused.elapsed(),
            _ => break,
        }
        // A hit answers at once; a read that went to the silent Redis does not.
        assert!(
            started.elapsed() < Duration::from_millis(100),
            "a hit waited"
        );
        tokio::task::yield_now().await;
    }
    redis.pause(false);
    eprintln!("a silent Redis: copies served for {served_for:?} after it went quiet");
    assert!(
        served_for <= NearCacheSettings::default().max_silence,
        "served for {served_for:?}"
    );
}

#[tokio::test]
async fn a_session_past_its_deadline_is_not_served_from_the_cache() {
    let redis = TestRedis::start().await;
    let mut config = Config::from_url(&redis.url).unwrap();
    config.version = RespVersion::RESP3;
    let pool: Pool = Builder::from_config(config).build_pool(1).unwrap();
    pool.init().await.unwrap();
    let store = RedisSessionStore::builder(pool)
        .key_prefix(PREFIX)
        .absolute_timeout(Duration::from_millis(300))
        .near_cache(NearCacheSettings::default())
        .build();
    store.start_near_cache().await.unwrap();
    let mut session = record(json!({"note": "short"}));
    SessionStore::create(&store, &mut session).await.unwrap();
    assert!(store.load(&session.id).await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert!(store.load(&session.id).await.unwrap().is_none());
}

#[tokio::test]
async fn a_session_evicted_by_redis_is_dropped_from_the_cache() {
    let redis = TestRedis::start().await;
    let (a, b) = (instance(&redis).await, instance(&redis).await);
    let mut session = record(json!({"note": "evict me"}));
    SessionStore::create(&a, &mut session).await.unwrap();
    assert!(b.load(&session.id).await.unwrap().is_some());

    // Memory so short that the next write evicts every key (the write itself may be refused).
    let config = |args: Vec<&'static str>| {
        redis.pool.custom::<fred::types::Value, _>(
            fred::types::CustomCommand::new_static("CONFIG", None, false),
            args,
        )
    };
    config(vec!["SET", "maxmemory-policy", "allkeys-random"])
        .await
        .unwrap();
    config(vec!["SET", "maxmemory", "1"]).await.unwrap();
    let _: Result<(), _> = redis.pool.set("filler", "x", None, None, false).await;
    config(vec!["SET", "maxmemory", "0"]).await.unwrap();
    let took = seen_within(&b, &session.id, "note", &None).await;
    eprintln!("an eviction reached the other instance's cache after {took:?}");
}
