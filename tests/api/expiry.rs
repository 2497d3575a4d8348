//! Idle and absolute timeouts kept on the Redis key itself, "stay signed in", cheap deadline
//! refreshes, and one Redis command per read-only request.

use std::time::Duration;

use sessionboard::shared::clock::now_ms;

use crate::helpers::{
    eventually, eventually_ok, session_cookie, Browser, TestApp, TestRedis, SESSION_KEYS,
};

/// The Redis TTL of the only session and the deadline the app reports agree within a second.
async fn assert_ttl_matches_deadline(redis: &TestRedis, browser: &Browser) {
    let view = browser.session().await;
    assert!(view.active);
    let keys = redis.keys(SESSION_KEYS);
    assert_eq!(keys.len(), 1);
    let redis_deadline = now_ms() + redis.pttl(&keys[0]);
    assert!(
        (redis_deadline - view.expires_at).abs() <= 1_000,
        "Redis deadline {redis_deadline} vs app {}",
        view.expires_at
    );
}

/// A duration in the milliseconds the wall clock is read in.
fn ms(duration: Duration) -> i64 {
    duration.as_millis() as i64
}

#[tokio::test]
async fn an_idle_session_ends_after_the_idle_timeout_and_not_before() {
    const IDLE: Duration = Duration::from_millis(400);
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[("SESSION_TTL_SECONDS", "0.4")]).await;
    // Cookies by hand: a browser would drop the cookie with its Max-Age, and this test wants to
    // see what the server does with a stale one.
    // Times on the wall clock, in milliseconds: the clock Redis and the app count deadlines on
    // (a monotonic clock may run a little faster or slower than it).
    let asked = now_ms();
    let cookie = app.new_session_cookie().await;
    let key = redis.keys(SESSION_KEYS).remove(0);
    // The key ends no sooner than the idle timeout after the session was asked for: its
    // deadline as Redis holds it (PEXPIRETIME: the moment, not the time left).
    let ends_at: i64 = redis.cli(&["PEXPIRETIME", &key]).trim().parse().unwrap();
    assert!(
        ends_at >= asked + ms(IDLE),
        "the key ends {} ms after the session was asked for",
        ends_at - asked
    );
    eventually("the idle session is gone from Redis", IDLE * 5, || async {
        redis.pttl(&key) == -2
    })
    .await;
    let gone_after = now_ms() - asked;
    assert!(
        gone_after >= ms(IDLE),
        "gone from Redis only after the idle timeout, not {gone_after} ms after asking"
    );
    let view = app
        .session_with_cookie(&cookie)
        .await
        .1
        .expect("a session view");
    assert!(!view.active);
    assert!(view.previous_ended, "the visitor is told the session ended");
    // The old cookie does not bring it back: the next write starts a new session.
    let res = app.post_with_cookie("/api/increment", &cookie, &[]).await;
    assert_ne!(
        session_cookie(&res).as_deref(),
        Some(cookie.as_str()),
        "a new id"
    );
    assert_eq!(res.json::<i64>().await.unwrap(), 1);
}

#[tokio::test]
async fn activity_slides_the_idle_deadline_and_the_absolute_limit_still_ends_it() {
    // Reads come every poll (15 ms plus the read): a second of idle timeout leaves room for a
    // read held up by a busy machine.
    const IDLE: Duration = Duration::from_secs(1);
    const ABSOLUTE: Duration = Duration::from_millis(2_500);
    let redis = TestRedis::start();
    let app = TestApp::spawn(
        &redis,
        &[
            ("SESSION_TTL_SECONDS", "1"),
            ("SESSION_ABSOLUTE_TIMEOUT_SECONDS", "2.5"),
        ],
    )
    .await;
    // On the wall clock, as in the idle test.
    let asked = now_ms();
    app.increment().await;
    // Reads keep it alive past twice the idle timeout...
    let read = || async {
        let view = app.session().await;
        assert!(view.active, "active after {} ms", now_ms() - asked);
        assert!(view.expires_at <= view.absolute_expires_at);
        now_ms() - asked > 2 * ms(IDLE)
    };
    eventually(
        "reads keep the session past twice its idle timeout",
        ABSOLUTE,
        read,
    )
    .await;
    assert_ttl_matches_deadline(&redis, &app).await;
    // ...but not past the absolute limit, and not for less.
    eventually(
        "the absolute limit ends the session",
        ABSOLUTE * 2,
        || async { !app.session().await.active },
    )
    .await;
    let ended_after = now_ms() - asked;
    assert!(
        ended_after >= ms(ABSOLUTE),
        "ended at the absolute limit, not {ended_after} ms after it began"
    );
    assert!(redis.keys(SESSION_KEYS).is_empty());
    assert!(!app.session().await.active);
}

#[tokio::test]
async fn the_redis_ttl_equals_the_deadline_after_create_read_refresh_and_write() {
    let redis = TestRedis::start();
    // A 1.2 s refresh threshold, above the 1 s the TTL check allows: a refresh that did not reach
    // Redis would show.
    let app = TestApp::spawn(
        &redis,
        &[
            ("SESSION_TTL_SECONDS", "60"),
            ("SESSION_REFRESH_FRACTION", "0.02"),
        ],
    )
    .await;
    app.increment().await; // create
    assert_ttl_matches_deadline(&redis, &app).await; // read
    let created = app.session().await;
    // Past the threshold, a read refreshes: the first read whose deadline moved.
    let before = eventually_ok(
        "a read refreshes the deadline",
        Duration::from_secs(3),
        || async {
            let view = app.session().await;
            if view.expires_at > created.expires_at {
                Ok(view)
            } else {
                Err(view.expires_at)
            }
        },
    )
    .await;
    assert_ttl_matches_deadline(&redis, &app).await;
    let after = app.session().await;
    assert!(after.expires_at > before.expires_at - 1_000);
    app.increment().await; // write
    assert_ttl_matches_deadline(&redis, &app).await;
}

#[tokio::test]
async fn staying_signed_in_pushes_the_idle_deadline_that_a_read_would_leave() {
    const IDLE_MS: i64 = 60_000;
    let redis = TestRedis::start();
    // A 30 s refresh threshold: no ordinary read in this test moves the deadline.
    let app = TestApp::spawn(
        &redis,
        &[
            ("SESSION_TTL_SECONDS", "60"),
            ("SESSION_REFRESH_FRACTION", "0.5"),
        ],
    )
    .await;
    app.increment().await;
    let created = app.session().await;
    let refreshed_at = created.idle_expires_at - IDLE_MS;
    // Reads, one every poll, while time passes: each leaves the deadline where it was.
    eventually(
        "reads for 100 ms past the last refresh",
        Duration::from_secs(2),
        || async {
            assert_eq!(
                app.session().await.idle_expires_at,
                created.idle_expires_at,
                "a read within the threshold leaves the deadline"
            );
            now_ms() >= refreshed_at + 100
        },
    )
    .await;

    // Stay moves the deadline to a whole idle timeout from when it was asked (at least 100 ms
    // past the one a read leaves): exact, where a second's sleep left a slack of 100 ms.
    let asked = now_ms();
    let stayed = app.stay().await;
    assert!(stayed.active);
    assert!(
        stayed.idle_expires_at >= asked + IDLE_MS,
        "stay moved the deadline from {} to {}, a whole idle timeout after it was asked at {asked}",
        created.idle_expires_at,
        stayed.idle_expires_at
    );
    assert_eq!(app.session().await.idle_expires_at, stayed.idle_expires_at);
    assert_ttl_matches_deadline(&redis, &app).await;

    // Without a session there is nothing to keep: staying creates none.
    assert!(!app.new_browser().stay().await.active);
    assert_eq!(redis.keys(SESSION_KEYS).len(), 1);
}

/// Commands Redis ran for `requests` of `app` (counted from a `CONFIG RESETSTAT`), without the
/// near cache's heartbeat (a `PING` per connection and a `GET` of its flush epoch, four times a
/// second: they answer no request) and the counting's own `CONFIG`/`INFO`.
async fn commands_for<F: std::future::Future>(
    redis: &TestRedis,
    requests: impl FnOnce() -> F,
) -> std::collections::HashMap<String, u64> {
    redis.cli(&["CONFIG", "RESETSTAT"]);
    requests().await;
    let mut counts = redis.command_counts();
    counts.retain(|name, _| {
        !name.starts_with("config") && !["info", "ping", "get"].contains(&name.as_str())
    });
    counts
}

// 1 % of an hour: no refresh is due during these tests. Metrics off: the live-session count is
// written in the background after each save, so the set-up's last write could land in the
// counted window (the count has its own tests in live_count.rs).
const QUIET: [(&str, &str); 2] = [
    ("SESSION_TTL_SECONDS", "3600"),
    ("METRICS_ENABLED", "false"),
];

#[tokio::test]
async fn a_read_is_answered_from_memory_and_a_write_costs_one_round_trip() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &QUIET).await;
    // Twice, so that the scripts are loaded in Redis before counting.
    app.increment().await;
    app.increment().await;
    let counts = commands_for(&redis, || async {
        for _ in 0..20 {
            app.session().await;
        }
    })
    .await;
    assert!(counts.is_empty(), "every read from memory: {counts:?}");

    let counts = commands_for(&redis, || async {
        assert_eq!(app.increment().await, 3);
        assert_eq!(
            app.session().await.counter,
            3,
            "the write's own answer is kept"
        );
    })
    .await;
    // `INFO commandstats` also counts what the script runs inside Redis: its `HGETALL` answers
    // with the record it leaves, which the cache keeps.
    assert_eq!(counts.get("evalsha"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("hgetall"), Some(&1), "{counts:?}");
    assert!(
        !counts.contains_key("set") && !counts.contains_key("hset"),
        "a write never rewrites the record: {counts:?}"
    );
}

#[tokio::test]
async fn without_the_near_cache_a_read_only_request_costs_one_redis_command() {
    let redis = TestRedis::start();
    let mut settings = QUIET.to_vec();
    settings.push(("SESSION_NEAR_CACHE", "false"));
    let app = TestApp::spawn(&redis, &settings).await;
    app.increment().await;
    app.increment().await;
    let reads = 20;
    let counts = commands_for(&redis, || async {
        for _ in 0..reads {
            app.session().await;
        }
    })
    .await;
    assert_eq!(counts.get("hgetall"), Some(&reads), "{counts:?}");
    assert_eq!(
        counts.values().sum::<u64>(),
        reads,
        "one command per read-only request: {counts:?}"
    );

    let counts = commands_for(&redis, || async {
        app.increment().await;
    })
    .await;
    assert_eq!(counts.get("hgetall"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("evalsha"), Some(&1), "{counts:?}");
    assert_eq!(
        counts.get("hincrby"),
        Some(&2),
        "the counter and the version: {counts:?}"
    );
    assert!(
        !counts.contains_key("set") && !counts.contains_key("hset"),
        "a write never rewrites the record: {counts:?}"
    );
}
