//! Idle and absolute timeouts kept on the Redis key itself, "stay signed in", cheap deadline
//! refreshes, and one Redis command per read-only request.

use std::time::Duration;

use sessionboard::shared::clock::now_ms;

use crate::helpers::{session_cookie, Browser, TestApp, TestRedis};

async fn sleep_ms(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// The Redis TTL of the only session and the deadline the app reports agree within a second.
async fn assert_ttl_matches_deadline(redis: &TestRedis, browser: &Browser) {
    let view = browser.session().await;
    assert!(view.active);
    let keys = redis.session_keys();
    assert_eq!(keys.len(), 1);
    let redis_deadline = now_ms() + redis.pttl(&keys[0]);
    assert!(
        (redis_deadline - view.expires_at).abs() <= 1_000,
        "Redis deadline {redis_deadline} vs app {}",
        view.expires_at
    );
}

#[tokio::test]
async fn an_idle_session_ends_after_the_idle_timeout_and_not_before() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[("SESSION_TTL_SECONDS", "2")]).await;
    // Cookies by hand: a browser would drop the cookie with its Max-Age, and this test wants to
    // see what the server does with a stale one.
    let cookie = app.new_session_cookie().await;
    let key = redis.session_keys().remove(0);
    sleep_ms(1_200).await;
    assert!(redis.pttl(&key) > 0, "still alive before the idle timeout");
    sleep_ms(1_300).await;
    assert_eq!(
        redis.pttl(&key),
        -2,
        "gone from Redis after the idle timeout"
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
    let redis = TestRedis::start();
    let app = TestApp::spawn(
        &redis,
        &[
            ("SESSION_TTL_SECONDS", "2"),
            ("SESSION_ABSOLUTE_TIMEOUT_SECONDS", "5"),
        ],
    )
    .await;
    app.increment().await;
    let started = now_ms();
    // Reads every 0.5 s keep it alive past the 2 s idle timeout...
    while now_ms() - started < 4_000 {
        sleep_ms(500).await;
        let view = app.session().await;
        assert!(view.active, "active after {} ms", now_ms() - started);
        assert!(view.expires_at <= view.absolute_expires_at);
    }
    assert_ttl_matches_deadline(&redis, &app).await;
    // ...but not past the 5 s absolute limit.
    while now_ms() - started < 5_600 {
        sleep_ms(300).await;
        app.session().await;
    }
    assert!(redis.session_keys().is_empty());
    assert!(!app.session().await.active);
}

#[tokio::test]
async fn the_redis_ttl_equals_the_deadline_after_create_read_refresh_and_write() {
    let redis = TestRedis::start();
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
    sleep_ms(1_500).await; // past the 1.2 s threshold: the next read refreshes
    let before = app.session().await;
    sleep_ms(200).await;
    assert_ttl_matches_deadline(&redis, &app).await;
    let after = app.session().await;
    assert!(after.expires_at > before.expires_at - 1_000);
    app.increment().await; // write
    assert_ttl_matches_deadline(&redis, &app).await;
}

#[tokio::test]
async fn staying_signed_in_pushes_the_idle_deadline_that_a_read_would_leave() {
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
    sleep_ms(1_100).await;
    assert_eq!(
        app.session().await.idle_expires_at,
        created.idle_expires_at,
        "a read within the threshold leaves the deadline"
    );

    let stayed = app.stay().await;
    assert!(stayed.active);
    assert!(
        stayed.idle_expires_at >= created.idle_expires_at + 1_000,
        "stay moved the deadline from {} to {}",
        created.idle_expires_at,
        stayed.idle_expires_at
    );
    assert_eq!(app.session().await.idle_expires_at, stayed.idle_expires_at);
    assert_ttl_matches_deadline(&redis, &app).await;

    // Without a session there is nothing to keep: staying creates none.
    assert!(!app.new_browser().stay().await.active);
    assert_eq!(redis.session_keys().len(), 1);
}

#[tokio::test]
async fn a_read_only_request_costs_one_redis_command() {
    let redis = TestRedis::start();
    // 1 % of an hour: no refresh is due during this test. Metrics off: the live-session count
    // is written in the background after each save, so the set-up's last write could land in
    // the counted window (the count has its own tests in live_count.rs).
    let app = TestApp::spawn(
        &redis,
        &[
            ("SESSION_TTL_SECONDS", "3600"),
            ("METRICS_ENABLED", "false"),
        ],
    )
    .await;
    // Twice, so that the scripts are loaded in Redis before counting.
    app.increment().await;
    app.increment().await;
    let reads = 20;
    redis.cli(&["CONFIG", "RESETSTAT"]);
    for _ in 0..reads {
        app.session().await;
    }
    let counts = redis.command_counts();
    let session_commands: u64 = counts
        .iter()
        .filter(|(name, _)| !name.starts_with("config") && name.as_str() != "info")
        .map(|(_, calls)| calls)
        .sum();
    assert_eq!(counts.get("hgetall"), Some(&reads), "{counts:?}");
    assert_eq!(
        session_commands, reads,
        "one command per read-only request: {counts:?}"
    );

    redis.cli(&["CONFIG", "RESETSTAT"]);
    app.increment().await;
    let counts = redis.command_counts();
    assert_eq!(counts.get("hgetall"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("evalsha"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("hincrby"), Some(&1), "{counts:?}");
    assert!(
        !counts.contains_key("set") && !counts.contains_key("hset"),
        "a write never rewrites the record: {counts:?}"
    );
}
