//! Issue 2: the app on a real Redis — connect, create, store with TTL, read back, persist.

mod common;

use std::time::{Duration, Instant};

use common::{client, get_session, increment, post, settings, TestApp, TestRedis};
use sessionboard::{configuration::RedisSettings, redis::RedisPool};

#[tokio::test]
async fn probes_answer_and_healthz_never_needs_redis() {
    let mut redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[]).await;
    let http = client();
    assert_eq!(
        http.get(app.url("/healthz")).send().await.unwrap().status(),
        200
    );
    assert_eq!(
        http.get(app.url("/readyz")).send().await.unwrap().status(),
        200
    );

    redis.stop();
    assert_eq!(
        http.get(app.url("/healthz")).send().await.unwrap().status(),
        200
    );
    let ready = http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert!(body["reason"].as_str().unwrap().contains("Redis"), "{body}");
}

#[tokio::test]
async fn a_session_is_created_in_redis_with_the_configured_ttl_and_read_back() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[]).await;
    let http = client();

    let before = get_session(&app, &http).await;
    assert!(!before.active);
    assert!(redis.session_keys().is_empty(), "reading creates nothing");

    assert_eq!(increment(&app, &http).await, 1);
    let keys = redis.session_keys();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let ttl = redis.pttl(&keys[0]);
    let week_ms = 7 * 24 * 3600 * 1000;
    assert!((week_ms - 5_000..=week_ms).contains(&ttl), "TTL {ttl} ms");

    let view = get_session(&app, &http).await;
    assert!(view.active);
    assert_eq!(view.counter, 1);
    assert_eq!(view.id_fingerprint.len(), 12);
    assert!(
        !keys[0].contains(&view.id_fingerprint),
        "the fingerprint is not the id"
    );
    assert!(
        (view.ttl_seconds * 1000 - ttl).abs() <= 2_000,
        "view {} s vs Redis {ttl} ms",
        view.ttl_seconds
    );
}

#[tokio::test]
async fn the_counter_and_note_persist_across_requests_and_an_app_restart() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[]).await;
    let http = client();
    for expected in 1..=3 {
        assert_eq!(increment(&app, &http).await, expected);
    }
    let res = post(&app, &http, "/api/note", &[("note", "  hello redis  ")]).await;
    assert_eq!(res.status(), 200);
    let fingerprint = get_session(&app, &http).await.id_fingerprint;
    app.kill().await;

    // A new process with the same secret and Redis: the same cookie finds the same session.
    let app = TestApp::spawn(&redis, &[]).await;
    let http2 = http.clone();
    let view = get_session(&app, &http2).await;
    assert_eq!(view.counter, 3);
    assert_eq!(view.id_fingerprint, fingerprint);
    assert_eq!(view.data["note"], "hello redis");
    assert_eq!(increment(&app, &http2).await, 4);
}

#[tokio::test]
async fn bad_notes_are_refused_with_a_clear_message_and_change_nothing() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[]).await;
    let http = client();
    post(&app, &http, "/api/note", &[("note", "keep me")]).await;
    for (note, code) in [
        ("   ", "note_empty"),
        (&"x".repeat(201)[..], "note_too_long"),
    ] {
        let res = post(&app, &http, "/api/note", &[("note", note)]).await;
        assert_eq!(res.status(), 422);
        let err: serde_json::Value = res.json().await.unwrap();
        assert_eq!(err["code"], code, "{err}");
    }
    let res = post(&app, &http, "/api/note", &[("wrong_field", "x")]).await;
    assert!(res.status().is_client_error(), "{}", res.status());
    assert_eq!(get_session(&app, &http).await.data["note"], "keep me");
}

#[tokio::test]
async fn forgetting_deletes_the_key_and_the_cookie() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[]).await;
    let http = client();
    increment(&app, &http).await;
    assert_eq!(redis.session_keys().len(), 1);
    let res = post(&app, &http, "/api/forget", &[]).await;
    assert_eq!(res.status(), 200);
    assert!(redis.session_keys().is_empty());
    let view = get_session(&app, &http).await;
    assert!(!view.active);
}

#[test]
fn invalid_settings_stop_the_start_with_the_variable_named() {
    for (name, value) in [
        ("REDIS_PORT", "abc"),
        ("SESSION_TTL_SECONDS", "0"),
        ("REDIS_POOL_SIZE", "0"),
        ("REDIS_URL", "not a url"),
    ] {
        let err = settings(6390, &[(name, value)]).unwrap_err().to_string();
        assert!(err.contains(name), "{name}: {err}");
    }
}

#[tokio::test]
async fn unreachable_redis_at_start_up_fails_clearly_within_the_wait() {
    let port = common::free_port();
    let settings = settings(port, &[("REDIS_STARTUP_WAIT_SECONDS", "1")]).unwrap();
    let redis: &RedisSettings = &settings.redis;
    let started = Instant::now();
    let err = match RedisPool::connect(redis).await {
        Ok(_) => panic!("nothing listens on {port}"),
        Err(err) => err.to_string(),
    };
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert!(
        took >= Duration::from_millis(900),
        "gave up after {took:?}, before the wait"
    );
    assert!(
        err.contains(&port.to_string()) && err.contains("REDIS_URL"),
        "{err}"
    );
}

#[tokio::test]
async fn a_wrong_redis_password_fails_at_once_and_says_which_setting() {
    let redis = TestRedis::start();
    redis.cli(&["CONFIG", "SET", "requirepass", "the right one"]);
    let settings = settings(
        redis.port,
        &[
            ("REDIS_PASSWORD", "a wrong one"),
            ("REDIS_STARTUP_WAIT_SECONDS", "5"),
        ],
    )
    .unwrap();
    let started = Instant::now();
    let err = match RedisPool::connect(&settings.redis).await {
        Ok(_) => panic!("the password is wrong"),
        Err(err) => err.to_string(),
    };
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "no waiting on wrong credentials"
    );
    assert!(
        err.contains("REDIS_PASSWORD") && !err.contains("a wrong one"),
        "{err}"
    );
}
