//! The set behind the live-session gauge never outgrows the live sessions, whether or not
//! anyone scrapes `/metrics`, and is not kept at all with metrics off.

use std::time::{Duration, Instant};

use crate::helpers::{TestApp, TestRedis};

const LIVE_SET: &str = "sessionboard:sessions:live";

/// Waits for the background write of the live set to land.
async fn wait_until(redis: &TestRedis, done: impl Fn(&TestRedis) -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        if done(redis) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn without_scrapes_the_live_set_drops_ended_sessions_and_expires_itself() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[("SESSION_ABSOLUTE_TIMEOUT_SECONDS", "600")]).await;
    // A session that ended long ago, as a write lost in an outage would leave it.
    redis.cli(&["ZADD", LIVE_SET, "1000", "ended-long-ago"]);
    app.increment().await;
    let trimmed = wait_until(&redis, |r| {
        r.cli(&["ZSCORE", LIVE_SET, "ended-long-ago"])
            .trim()
            .is_empty()
            && r.cli(&["ZCARD", LIVE_SET]).trim() == "1"
    })
    .await;
    assert!(
        trimmed,
        "members: {}",
        redis.cli(&["ZRANGE", LIVE_SET, "0", "-1"])
    );
    let ttl = redis.pttl(LIVE_SET);
    assert!(
        ttl > 0 && ttl <= 600_000,
        "the set expires with the longest session it can hold: PTTL {ttl}"
    );
}

#[tokio::test]
async fn with_metrics_off_no_live_set_is_kept() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[("METRICS_ENABLED", "false")]).await;
    for _ in 0..3 {
        app.new_browser().increment().await;
    }
    app.register("lena", "lenas password").await;
    app.login("lena", "lenas password").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(redis.cli(&["EXISTS", LIVE_SET]).trim(), "0");
}
