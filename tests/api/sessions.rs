//! An anonymous session's life on a real Redis: created on the first write with the configured
//! TTL, read back, kept across an app restart, edited, and forgotten.

use crate::helpers::{TestApp, TestRedis, SESSION_KEYS};

#[tokio::test]
async fn a_session_is_created_in_redis_with_the_configured_ttl_and_read_back() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[]).await;

    let before = app.session().await;
    assert!(!before.active);
    assert!(
        redis.keys(SESSION_KEYS).is_empty(),
        "reading creates nothing"
    );

    assert_eq!(app.increment().await, 1);
    let keys = redis.keys(SESSION_KEYS);
    assert_eq!(keys.len(), 1, "{keys:?}");
    let ttl = redis.pttl(&keys[0]);
    // Anonymous: the anonymous idle timeout, one day by default.
    let day_ms = 24 * 3600 * 1000;
    assert!((day_ms - 5_000..=day_ms).contains(&ttl), "TTL {ttl} ms");

    let view = app.session().await;
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
    // A browser of its own, so that it outlives this app instance.
    let browser = app.new_browser();
    for expected in 1..=3 {
        assert_eq!(browser.increment().await, expected);
    }
    assert_eq!(browser.save_note("  hello redis  ").await.status(), 200);
    let fingerprint = browser.session().await.id_fingerprint;
    app.kill().await;

    // A new process with the same secret and Redis: the same cookie finds the same session.
    let app = TestApp::spawn(&redis, &[]).await;
    let browser = browser.at(&app);
    let view = browser.session().await;
    assert_eq!(view.counter, 3);
    assert_eq!(view.id_fingerprint, fingerprint);
    assert_eq!(view.data["note"], "hello redis");
    assert_eq!(browser.increment().await, 4);
}

#[tokio::test]
async fn bad_notes_are_refused_with_a_clear_message_and_change_nothing() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[]).await;
    assert_eq!(app.save_note("keep me").await.status(), 200);
    for (note, code) in [
        ("   ", "note_empty"),
        (&"x".repeat(201)[..], "note_too_long"),
    ] {
        let res = app.save_note(note).await;
        assert_eq!(res.status(), 422);
        let err: serde_json::Value = res.json().await.unwrap();
        assert_eq!(err["code"], code, "{err}");
    }
    let res = app.post("/api/note", &[("wrong_field", "x")]).await;
    assert!(res.status().is_client_error(), "{}", res.status());
    assert_eq!(app.session().await.data["note"], "keep me");
}

#[tokio::test]
async fn forgetting_deletes_the_key_and_the_cookie() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[]).await;
    app.increment().await;
    assert_eq!(redis.keys(SESSION_KEYS).len(), 1);
    app.forget().await;
    assert!(redis.keys(SESSION_KEYS).is_empty());
    let view = app.session().await;
    assert!(!view.active);
}

/// `GET /api/session` and `POST /api/increment` answer like the other Leptos server functions,
/// errors included. Once Redis is gone a write answers 503 at once; a read of the session this
/// instance holds may still be answered from memory, with what was last stored, until the lost
/// connection is noticed (within the near cache's 1 s heartbeat bound), then 503 too.
#[tokio::test]
async fn the_session_read_and_the_count_answer_like_the_other_server_functions() {
    let mut redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[]).await;
    let browser = app.new_browser();
    let counted = browser.post("/api/increment", &[]).await;
    assert_eq!(counted.status(), 200);
    assert_eq!(counted.headers()["content-type"], "application/json");
    assert_eq!(counted.text().await.unwrap(), "1");
    let read = browser.get("/api/session").await;
    assert_eq!(read.headers()["content-type"], "application/json");
    let view: serde_json::Value = read.json().await.unwrap();
    assert_eq!(view["counter"], 1);

    redis.stop();
    let stopped = std::time::Instant::now();
    let read = loop {
        let read = browser.get("/api/session").await;
        if read.status() != 200 {
            break read;
        }
        let view: serde_json::Value = read.json().await.unwrap();
        assert_eq!(view["counter"], 1, "from memory: what was last stored");
        assert!(
            stopped.elapsed() < std::time::Duration::from_secs(2),
            "still served from memory past the heartbeat bound"
        );
    };
    for (path, response) in [
        ("/api/session", read),
        ("/api/increment", browser.post("/api/increment", &[]).await),
        (
            "/api/note",
            browser.post("/api/note", &[("note", "hi")]).await,
        ),
    ] {
        assert_eq!(response.status(), 503, "{path}");
        assert_eq!(response.headers()["serverfnerror"], path);
        assert_eq!(response.headers()["retry-after"], "1", "{path}");
        let request_id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_string();
        let error: serde_json::Value = response.json().await.unwrap();
        assert_eq!(error["code"], "session_store_unavailable", "{path}");
        assert_eq!(error["request_id"], request_id.as_str(), "{path}");
    }
}
