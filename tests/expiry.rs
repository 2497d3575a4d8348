//! Issue 4: idle and absolute timeouts on the Redis key, cheap refresh, one command per read.

mod common;

use std::time::Duration;

use common::{
    bare_client, client, get_session, get_session_with, increment, post, session_cookie, TestApp,
    TestRedis,
};
use sessionboard::sessions::now_ms;

async fn sleep_ms(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// The Redis TTL of the only session and the deadline the app reports agree within a second.
async fn assert_ttl_matches_deadline(redis: &TestRedis, app: &TestApp, http: &reqwest::Client) {
    let view = get_session(app, http).await;
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
    let http = bare_client();
    let res = post(&app, &http, "/api/increment", &[]).await;
    let cookie = session_cookie(&res).expect("a session cookie");
    let key = redis.session_keys().remove(0);
    sleep_ms(1_200).await;
    assert!(redis.pttl(&key) > 0, "still alive before the idle timeout");
    sleep_ms(1_300).await;
    assert_eq!(
        redis.pttl(&key),
        -2,
        "gone from Redis after the idle timeout"
    );
    let view = get_session_with(&app, &http, &cookie)
        .await
        .1
        .expect("a session view");
    assert!(!view.active);
    assert!(view.previous_ended, "the visitor is told the session ended");
    // The old cookie does not bring it back: the next write starts a new session.
    let res = http
        .post(app.url("/api/increment"))
        .header("accept", "application/json")
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
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
    let http = client();
    increment(&app, &http).await;
    let started = now_ms();
    // Reads every 0.5 s keep it alive past the 2 s idle timeout...
    while now_ms() - started < 4_000 {
        sleep_ms(500).await;
        let view = get_session(&app, &http).await;
        assert!(view.active, "active after {} ms", now_ms() - started);
        assert!(view.expires_at <= view.absolute_expires_at);
    }
    assert_ttl_matches_deadline(&redis, &app, &http).await;
    // ...but not past the 5 s absolute limit.
    while now_ms() - started < 5_600 {
        sleep_ms(300).await;
        get_session(&app, &http).await;
    }
    assert!(redis.session_keys().is_empty());
    assert!(!get_session(&app, &http).await.active);
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
    let http = client();
    increment(&app, &http).await; // create
    assert_ttl_matches_deadline(&redis, &app, &http).await; // read
    sleep_ms(1_500).await; // past the 1.2 s threshold: the next read refreshes
    let before = get_session(&app, &http).await;
    sleep_ms(200).await;
    assert_ttl_matches_deadline(&redis, &app, &http).await;
    let after = get_session(&app, &http).await;
    assert!(after.expires_at > before.expires_at - 1_000);
    increment(&app, &http).await; // write
    assert_ttl_matches_deadline(&redis, &app, &http).await;
}

#[tokio::test]
async fn a_read_only_request_costs_one_redis_command() {
    let redis = TestRedis::start();
    // 1 % of an hour: no refresh is due during this test.
    let app = TestApp::spawn(&redis, &[("SESSION_TTL_SECONDS", "3600")]).await;
    let http = client();
    // Twice, so that the scripts are loaded in Redis before counting.
    increment(&app, &http).await;
    increment(&app, &http).await;
    let reads = 20;
    redis.cli(&["CONFIG", "RESETSTAT"]);
    for _ in 0..reads {
        get_session(&app, &http).await;
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
    increment(&app, &http).await;
    let counts = redis.command_counts();
    assert_eq!(counts.get("hgetall"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("evalsha"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("hincrby"), Some(&1), "{counts:?}");
    assert!(
        !counts.contains_key("set") && !counts.contains_key("hset"),
        "a write never rewrites the record: {counts:?}"
    );
}
