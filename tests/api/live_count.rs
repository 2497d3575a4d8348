//! The set behind the live-session gauge never outgrows the live sessions, whether or not
//! anyone scrapes `/metrics`, and is not kept at all with metrics off.

use std::time::Duration;

use crate::helpers::{eventually_ok, TestApp, TestRedis};

const LIVE_SET: &str = "sessionboard:sessions:live";

#[tokio::test]
async fn without_scrapes_the_live_set_drops_ended_sessions_and_expires_itself() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[("SESSION_ABSOLUTE_TIMEOUT_SECONDS", "600")]).await;
    // A session that ended long ago, as a write lost in an outage would leave it.
    redis.cli(&["ZADD", LIVE_SET, "1000", "ended-long-ago"]);
    app.increment().await;
    // The live set is written in the background.
    eventually_ok(
        "the live set is trimmed to the one live session",
        Duration::from_secs(3),
        || async {
            let trimmed = redis
                .cli(&["ZSCORE", LIVE_SET, "ended-long-ago"])
                .trim()
                .is_empty()
                && redis.cli(&["ZCARD", LIVE_SET]).trim() == "1";
            match trimmed {
                true => Ok(()),
                false => Err(format!(
                    "members: {}",
                    redis.cli(&["ZRANGE", LIVE_SET, "0", "-1"])
                )),
            }
        },
    )
    .await;
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
    // The positive signal: a twin with metrics on, on the same Redis under a prefix of its own,
    // takes each step right after this app. The live set is written by a task spawned during the
    // request; once the twin's set shows the twin's steps, the same writes of this app's earlier
    // steps, had they been spawned, would have landed too.
    let twin = TestApp::spawn(&redis, &[("REDIS_KEY_PREFIX", "twin:")]).await;
    for _ in 0..3 {
        app.new_browser().increment().await;
        twin.new_browser().increment().await;
    }
    for app in [&app, &twin] {
        app.register("lena", "lenas password").await;
    }
    for app in [&app, &twin] {
        assert_eq!(app.login("lena", "lenas password").await, 200);
    }
    eventually_ok(
        "the twin's live set holds its sessions",
        Duration::from_secs(3),
        || async {
            let sessions = redis
                .cli(&["--scan", "--pattern", "twin:session:*"])
                .lines()
                .count();
            let live: usize = redis
                .cli(&["ZCARD", "twin:sessions:live"])
                .trim()
                .parse()
                .unwrap_or(0);
            match live == sessions && live >= 4 {
                true => Ok(()),
                false => Err(format!("{live} in the set, {sessions} sessions")),
            }
        },
    )
    .await;
    assert_eq!(redis.cli(&["EXISTS", LIVE_SET]).trim(), "0");
}
