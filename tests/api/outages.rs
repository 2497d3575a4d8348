//! Redis outages, corrupted records, forged cookies and restarts: nothing hangs, nothing is
//! lost, and bad data is never an error page.

use std::time::{Duration, Instant};

use crate::helpers::{eventually, eventually_ok, TestApp, TestRedis, AOF, BUSY_FOR, SESSION_KEYS};

#[tokio::test]
async fn requests_during_an_outage_answer_fast_and_the_app_recovers_by_itself() {
    let mut redis = TestRedis::start_with(&AOF);
    // Long enough for an fsync of the AOF on a disk that a build is also writing: this test is
    // about the outage, not about how fast a busy disk syncs.
    const COMMAND_TIMEOUT: Duration = Duration::from_secs(3);
    let timeout = COMMAND_TIMEOUT.as_millis().to_string();
    let app = TestApp::spawn(&redis, &[("REDIS_COMMAND_TIMEOUT_MS", &timeout)]).await;
    for _ in 0..3 {
        app.increment().await;
    }

    redis.stop();
    let mut slowest = Duration::ZERO;
    let mut statuses = Vec::new();
    for i in 0..12 {
        let started = Instant::now();
        let res = match i % 3 {
            0 => app.post("/api/increment", &[]).await,
            1 => app.get("/api/session").await,
            _ => app.get("/").await,
        };
        let status = res.status().as_u16();
        let body = res.text().await.unwrap_or_default();
        slowest = slowest.max(started.elapsed());
        if i % 3 == 2 {
            assert!(
                body.contains("Session store unavailable"),
                "page shows the banner: {status}"
            );
        } else {
            assert_eq!(status, 503, "{body}");
            // A write on a connection that was just lost may have reached Redis: unconfirmed.
            assert!(
                body.contains("session_store_unavailable")
                    || (i % 3 == 0 && body.contains("session_store_unconfirmed")),
                "{body}"
            );
        }
        statuses.push(status);
    }
    // The first request may wait out the command timeout before the outage is known; none
    // waits longer (the page adds its render).
    assert!(
        slowest < COMMAND_TIMEOUT + Duration::from_secs(1),
        "slowest answer {slowest:?}"
    );
    assert_eq!(app.get("/healthz").await.status(), 200);

    redis.resume();
    let back = Instant::now();
    eventually(
        "the app recovers by itself",
        Duration::from_secs(5),
        || async { app.get("/api/session").await.status() == 200 },
    )
    .await;
    let recovery = back.elapsed();
    assert!(
        recovery < Duration::from_secs(3),
        "recovered after {recovery:?}"
    );
    eprintln!(
        "outage figures: {} requests during the outage, 0 hung, slowest answer {slowest:?}, \
         recovered {recovery:?} after Redis answered again",
        statuses.len() + 1
    );
    // Read once more, and say in what state the pool and the breaker were if it failed.
    let connected = app.state.redis.connected_clients();
    let breaker = app.state.redis.breaker().current();
    let res = app.get("/api/session").await;
    let status = res.status();
    let body = res.text().await.unwrap_or_default();
    assert_eq!(
        status,
        200,
        "the read after recovery: {body} (before it: {connected} pooled connections up, \
         breaker {breaker:?}; after it: breaker {:?}, opened {} times)",
        app.state.redis.breaker().current(),
        app.state.redis.breaker().times_opened()
    );
    let view: sessionboard::shared::dto::SessionView = serde_json::from_str(&body).unwrap();
    assert_eq!(
        view.counter, 3,
        "the session and its counter survived the outage"
    );
    assert_eq!(app.increment().await, 4);
}

/// A write Redis holds past the command timeout may still run after the app gave up (the soak saw
/// it happen during fsync stalls): the client is told it is unconfirmed, never that nothing
/// changed.
#[tokio::test]
async fn a_write_redis_holds_past_the_timeout_is_answered_unconfirmed_not_unchanged() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(
        &redis,
        &[
            ("REDIS_COMMAND_TIMEOUT_MS", "300"),
            ("REDIS_BREAKER_TIMEOUTS", "1000"),
        ],
    )
    .await;
    assert_eq!(app.increment().await, 1);
    assert_eq!(app.save_note("before").await.status(), 200);
    app.session().await;

    // One write at a time: a connection Redis holds also holds the reads queued behind it. The
    // pause outlasts the command timeout; once the write is answered it has served its purpose,
    // and the test ends it rather than wait it out.
    redis.cli(&["CLIENT", "PAUSE", "1000", "WRITE"]);
    assert_unconfirmed(app.post("/api/increment", &[]).await).await;
    assert_eq!(redis.cli(&["CLIENT", "UNPAUSE"]).trim(), "OK");
    redis.cli(&["CLIENT", "PAUSE", "1000", "WRITE"]);
    assert_unconfirmed(app.save_note("during").await).await;
    assert_eq!(redis.cli(&["CLIENT", "UNPAUSE"]).trim(), "OK");

    // Whether Redis ran them after the pause depends on whether the connection they were sent on
    // survived the timeout; the session reads either way.
    let view = app.session().await;
    assert!([1, 2].contains(&view.counter), "{}", view.counter);
    assert!(["before", "during"].contains(&view.data["note"].as_str().unwrap_or("")));
}

async fn assert_unconfirmed(res: reqwest::Response) {
    assert_eq!(res.status(), 503);
    assert!(res.headers().contains_key("retry-after"));
    let body: serde_json::Value = res.json().await.expect("JSON");
    assert_eq!(body["code"], "session_store_unconfirmed", "{body}");
}

#[tokio::test]
async fn undecodable_records_become_a_fresh_session_never_an_error() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[]).await;
    let corruptions: [&[&str]; 5] = [
        &["SET", "{key}", "\u{1}\u{2}garbage"], // another Redis type (an old blob)
        &["HSET", "{key}", "d:counter", "{not json"], // a field that is not JSON
        &["HDEL", "{key}", "m:created"],        // a required field missing
        &["HSET", "{key}", "d:counter", "\"ten\""], // valid JSON of the wrong type
        &["HSET", "{key}", "m:refreshed", "99999999999999999"], // a time out of range
    ];
    for corruption in corruptions {
        let browser = app.new_browser();
        browser.increment().await;
        let key = redis.keys(SESSION_KEYS).pop().expect("a session key");
        if corruption[0] == "SET" {
            redis.cli(&["DEL", &key]);
        }
        let args: Vec<&str> = corruption
            .iter()
            .map(|a| if *a == "{key}" { key.as_str() } else { a })
            .collect();
        redis.cli(&args);

        let view = browser.session().await;
        assert!(!view.active, "{corruption:?}");
        assert_eq!(
            browser.increment().await,
            1,
            "{corruption:?}: a fresh session"
        );
        redis.cli(&["DEL", &key]);
        for k in redis.keys(SESSION_KEYS) {
            redis.cli(&["DEL", &k]);
        }
    }
    assert!(app.state.sessions.undecodable_count() >= 5);
}

#[tokio::test]
async fn tampered_and_oversized_cookies_mean_no_session() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[]).await;
    let cookie = app.new_session_cookie().await;
    let (_, view) = app.session_with_cookie(&cookie).await;
    assert_eq!(view.expect("the real session").counter, 1);

    let mut tampered = cookie.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    for bad in [
        tampered,
        "sessionboard=".to_string() + &"x".repeat(3000),
        "sessionboard=%%%".into(),
    ] {
        let (status, view) = app.session_with_cookie(&bad).await;
        assert_eq!(status, 200, "{bad:.40}");
        assert!(!view.unwrap().active);
    }
    assert_eq!(
        redis.keys(SESSION_KEYS).len(),
        1,
        "the real session is untouched"
    );
}

#[tokio::test]
async fn a_thousand_sessions_survive_an_app_restart_and_a_redis_restart() {
    let mut redis = TestRedis::start_with(&AOF);
    // A thousand new sessions from one address, in less than a minute.
    let many = [("SESSION_NEW_PER_ADDRESS_PER_MINUTE", "10000")];
    let app = TestApp::spawn(&redis, &many).await;
    let mut cookies = Vec::with_capacity(1000);
    for _ in 0..1000 {
        cookies.push(app.new_session_cookie_retrying_while_busy().await);
    }
    app.kill().await;

    let app = TestApp::spawn(&redis, &[]).await;
    assert_eq!(
        lost_sessions(&app, &cookies).await,
        0,
        "sessions lost across an app restart"
    );

    redis.stop();
    redis.resume();
    eventually(
        "a session reads after the Redis restart",
        Duration::from_secs(5),
        || async { app.session_with_cookie(&cookies[0]).await.0 == 200 },
    )
    .await;
    assert_eq!(
        lost_sessions(&app, &cookies).await,
        0,
        "sessions lost across a Redis restart (AOF)"
    );
}

/// How many of the sessions (each counted once) no longer load with their counter.
async fn lost_sessions(app: &TestApp, cookies: &[String]) -> usize {
    let mut lost = 0;
    for cookie in cookies {
        // 503 means "not now", not "lost": with AOF fsyncing every write on a busy machine a read
        // can time out; ask again for a while before counting the session as lost.
        let answer = eventually_ok("a read answers other than 503", BUSY_FOR, || async {
            let answer = app.session_with_cookie(cookie).await;
            match answer.0 {
                503 => Err(503),
                _ => Ok(answer),
            }
        })
        .await;
        let (_, view) = answer;
        if !view.is_some_and(|v| v.active && v.counter == 1) {
            lost += 1;
        }
    }
    lost
}
