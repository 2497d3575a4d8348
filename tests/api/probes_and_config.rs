//! Liveness and readiness probes, and start-up: settings that cannot work, and a Redis that
//! cannot be reached or refuses the credentials, stop the start with a message naming the fix.

use std::time::{Duration, Instant};

use sessionboard::server::redis::RedisPool;

use crate::helpers::{eventually, eventually_ok, free_port, settings, TestApp, TestRedis};

#[tokio::test]
async fn probes_answer_and_healthz_never_needs_redis() {
    let mut redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[]).await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    assert_eq!(app.get("/readyz").await.status(), 200);

    redis.stop();
    assert_eq!(app.get("/healthz").await.status(), 200);
    // One readiness answer is shared for 100 ms: the next fresh one sees the outage.
    let ready = eventually_ok(
        "/readyz sees the outage",
        Duration::from_secs(2),
        || async {
            let ready = app.get("/readyz").await;
            match ready.status().as_u16() {
                200 => Err(200),
                _ => Ok(ready),
            }
        },
    )
    .await;
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert!(body["reason"].as_str().unwrap().contains("Redis"), "{body}");
}

/// A load balancer sends no traffic to an instance that is not ready: the readiness probe alone
/// must notice Redis is back.
#[tokio::test]
async fn readyz_alone_brings_an_instance_back_after_an_outage() {
    let mut redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[]).await;
    redis.stop();
    eventually(
        "/readyz notices the outage",
        Duration::from_secs(5),
        || async { app.get("/readyz").await.status() == 503 },
    )
    .await;
    redis.resume();
    let what = "ready again after Redis came back, with no other request";
    eventually_ok(what, Duration::from_secs(5), || async {
        let ready = app.get("/readyz").await;
        match ready.status().as_u16() {
            200 => Ok(()),
            _ => Err(ready.text().await.unwrap_or_default()),
        }
    })
    .await;
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
    let port = free_port();
    let settings = settings(port, &[("REDIS_STARTUP_WAIT_SECONDS", "1")]).unwrap();
    let started = Instant::now();
    let err = match RedisPool::connect(&settings.redis).await {
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
