//! Data kept through the standard tower-sessions `Session` API on the store and layer as the
//! app configures them (cookie, typed keys, refusals), and the app's own session writes. The
//! behaviours tower-sessions' own integration tests check for a store are the store crate's
//! (`crates/tower-sessions-fred-store/tests/behaviour.rs`).

use std::{collections::HashMap, net::SocketAddr};

use axum::{routing::get, Router};
use reqwest::{header, Client, Response};
use sessionboard::server::{redis::RedisPool, sessions};
use tower_sessions::Session;

use crate::helpers::{http_client, in_parallel, settings, TestApp, TestRedis, SESSION_KEYS};

/// Routes that use nothing but the `Session` extractor, as tower-sessions' tests do.
fn routes() -> Router {
    Router::new()
        .route(
            "/insert",
            get(|session: Session| async move {
                session.insert("foo", 42).await.unwrap();
            }),
        )
        .route(
            "/get",
            get(|session: Session| async move {
                format!("{:?}", session.get::<usize>("foo").await.unwrap())
            }),
        )
        .route(
            "/set/{key}/{value}",
            get(
                |session: Session,
                 axum::extract::Path((key, value)): axum::extract::Path<(String, String)>| async move {
                    session.insert(&key, value).await.unwrap();
                },
            ),
        )
        .route(
            "/flush_then_insert",
            get(|session: Session| async move {
                session.flush().await.unwrap();
                session.insert("flash", "signed out").await.unwrap();
            }),
        )
        .route(
            "/many",
            get(|session: Session| async move {
                for i in 0..3_000 {
                    session.insert(&format!("k{i}"), i).await.unwrap();
                }
            }),
        )
        .route(
            "/counter_as_float",
            get(|session: Session| async move {
                session.insert("counter", 1.5).await.unwrap();
            }),
        )
        .route(
            "/all",
            get(|session: Session| async move {
                let mut values = HashMap::new();
                for key in ["foo", "m:created"] {
                    if let Some(value) = session.get_value(key).await.unwrap() {
                        values.insert(key.to_string(), value);
                    }
                }
                axum::Json(values)
            }),
        )
}

/// A plain axum app on sessionboard's session layer, served on a free loopback port.
struct DataApp {
    addr: SocketAddr,
    http: Client,
    _redis_pool: RedisPool,
}

impl DataApp {
    async fn spawn(redis: &TestRedis, overrides: &[(&str, &str)]) -> DataApp {
        let settings = settings(redis.port, overrides).expect("valid test settings");
        let pool = RedisPool::connect(&settings.redis).await.expect("redis");
        let store = sessions::store_builder(&settings, pool.pool.clone()).build();
        let app = routes().layer(sessions::session_layer(store, &settings));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        DataApp {
            addr,
            http: http_client(false),
            _redis_pool: pool,
        }
    }

    async fn get(&self, path: &str, cookie: Option<&str>) -> Response {
        let mut request = self.http.get(format!("http://{}{path}", self.addr));
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        request.send().await.expect("request")
    }

    async fn text(&self, path: &str, cookie: &str) -> String {
        self.get(path, Some(cookie)).await.text().await.unwrap()
    }
}

/// The `Set-Cookie` header of the session cookie, whole (name=value; attributes).
fn set_cookie(res: &Response) -> Option<String> {
    res.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("sessionboard="))
        .map(str::to_string)
}

fn name_value(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_string()
}

fn max_age(set_cookie: &str) -> Option<i64> {
    set_cookie
        .split(';')
        .find_map(|part| part.trim().strip_prefix("Max-Age="))
        .map(|v| v.parse().unwrap())
}

async fn inserted(app: &DataApp) -> String {
    let res = app.get("/insert", None).await;
    name_value(&set_cookie(&res).expect("a session cookie"))
}

#[tokio::test]
async fn insert_on_a_new_visitor_creates_the_record_with_the_cookie_attributes() {
    let redis = TestRedis::start();
    let app = DataApp::spawn(&redis, &[("SESSION_TTL_SECONDS", "3600")]).await;
    let res = app.get("/insert", None).await;
    let cookie = set_cookie(&res).expect("a session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("Path=/"),
        "{cookie}"
    );
    let age = max_age(&cookie).expect("Max-Age");
    assert!((3600..=3602).contains(&age), "{age}");
    let keys = redis.keys(SESSION_KEYS);
    assert_eq!(keys.len(), 1);
    assert_eq!(redis.cli(&["HGET", &keys[0], "d:foo"]).trim(), "42");
    let ttl = redis.pttl(&keys[0]);
    assert!((3_595_000..=3_600_000).contains(&ttl), "{ttl}");
}

#[tokio::test]
async fn bookkeeping_cannot_be_read_or_overwritten_as_data() {
    let redis = TestRedis::start();
    let app = DataApp::spawn(&redis, &[]).await;
    let cookie = inserted(&app).await;
    let key = redis.keys(SESSION_KEYS).remove(0);
    let created = redis.cli(&["HGET", &key, "m:created"]);
    app.get("/set/m:created/0", Some(&cookie)).await;
    assert_eq!(redis.cli(&["HGET", &key, "m:created"]), created);
    let all: serde_json::Value = serde_json::from_str(&app.text("/all", &cookie).await).unwrap();
    assert_eq!(all["m:created"], "0", "only the data key of that name");
    assert_eq!(all.as_object().unwrap().len(), 2, "{all}");
}

#[tokio::test]
async fn the_theme_preference_is_stored_with_the_plain_session_api_and_shown_in_the_view() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[]).await;
    let res = app.post("/api/preferences", &[("theme", "dark")]).await;
    assert_eq!(
        res.status(),
        200,
        "a new visitor's preference starts a session"
    );
    assert_eq!(app.session().await.data["theme"], "dark");
    let res = app.post("/api/preferences", &[("theme", "blue")]).await;
    assert_eq!(res.status(), 422);
    assert_eq!(
        app.session().await.data["theme"],
        "dark",
        "a bad value changes nothing"
    );
    let res = app.post("/api/preferences", &[("theme", "default")]).await;
    assert_eq!(res.status(), 200);
    let view = app.session().await;
    assert!(view.active);
    assert!(view.data.get("theme").is_none(), "default removes the key");
}

/// Increments are atomic in Redis: every one counts. Theme changes are read-then-write of one key:
/// each is stored, or refused whole (409 `session_conflict`) because another request changed the
/// theme after this one read it — never silently overwritten.
#[tokio::test]
async fn concurrent_increments_and_theme_changes_on_one_session_lose_nothing() {
    let redis = TestRedis::start();
    // 250 requests at once: as many connections from one address.
    let connections = [("SERVER_MAX_CONNECTIONS_PER_ADDRESS", "1000")];
    let app = std::sync::Arc::new(TestApp::spawn(&redis, &connections).await);
    app.increment().await;
    let themes = ["light", "dark"];
    let statuses = in_parallel(250, |i| {
        let app = app.clone();
        async move {
            let theme = i % 5 == 0;
            let res = if theme {
                app.post("/api/preferences", &[("theme", themes[i / 5 % 2])])
                    .await
            } else {
                app.post("/api/increment", &[]).await
            };
            let status = res.status().as_u16();
            let body: serde_json::Value = res.json().await.unwrap_or_default();
            (
                theme,
                status,
                body["code"].as_str().unwrap_or_default().to_string(),
            )
        }
    })
    .await;
    let increments: Vec<_> = statuses.iter().filter(|(theme, ..)| !theme).collect();
    assert!(
        increments.iter().all(|(_, status, _)| *status == 200),
        "{increments:?}"
    );
    let theme_changes: Vec<_> = statuses.iter().filter(|(theme, ..)| *theme).collect();
    assert!(
        theme_changes
            .iter()
            .all(|(_, status, code)| *status == 200
                || (*status == 409 && code == "session_conflict")),
        "{theme_changes:?}"
    );
    assert!(theme_changes.iter().any(|(_, status, _)| *status == 200));
    let view = app.session().await;
    assert_eq!(view.counter, 1 + 200, "every increment counted");
    let theme = view.data["theme"].as_str().unwrap().to_string();
    assert!(themes.contains(&theme.as_str()), "{theme}");
}

#[tokio::test]
async fn a_write_after_flush_starts_a_new_session_and_never_revives_the_old_one() {
    let redis = TestRedis::start();
    let app = DataApp::spawn(&redis, &[]).await;
    let cookie = inserted(&app).await;
    let old_key = redis.keys(SESSION_KEYS).remove(0);
    let res = app.get("/flush_then_insert", Some(&cookie)).await;
    let fresh = name_value(&set_cookie(&res).expect("a cookie for the new session"));
    assert_ne!(fresh, cookie);
    assert_eq!(redis.pttl(&old_key), -2, "the flushed record stays gone");
    assert_eq!(app.text("/get", &cookie).await, "None");
    let keys = redis.keys(SESSION_KEYS);
    assert_eq!(keys.len(), 1);
    assert_eq!(
        redis.cli(&["HGET", &keys[0], "d:flash"]).trim(),
        "\"signed out\""
    );
}

#[tokio::test]
async fn thousands_of_keys_are_stored_in_chunks() {
    let redis = TestRedis::start();
    let app = DataApp::spawn(&redis, &[]).await;
    let res = app.get("/many", None).await;
    assert_eq!(res.status(), 200);
    let key = redis.keys(SESSION_KEYS).remove(0);
    assert_eq!(
        redis.cli(&["HLEN", &key]).trim(),
        "3003",
        "3000 keys + 3 bookkeeping fields"
    );
}

#[tokio::test]
async fn a_new_session_that_cannot_be_stored_is_answered_503_not_200() {
    let mut redis = TestRedis::start();
    let app = DataApp::spawn(&redis, &[]).await;
    redis.stop();
    let res = app.get("/insert", None).await;
    assert_eq!(res.status(), 503);
    assert!(
        set_cookie(&res).is_none(),
        "no cookie for a session that does not exist"
    );
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["code"], "session_store_unavailable");
}

#[tokio::test]
async fn a_value_of_the_wrong_type_under_an_app_key_is_refused_and_changes_nothing() {
    let redis = TestRedis::start();
    let app = DataApp::spawn(&redis, &[]).await;
    let cookie = inserted(&app).await;
    let res = app.get("/counter_as_float", Some(&cookie)).await;
    assert_eq!(res.status(), 500, "a handler bug, reported as such");
    assert_eq!(
        app.text("/get", &cookie).await,
        "Some(42)",
        "the session lives on"
    );
}

#[tokio::test]
async fn a_forged_cookie_beside_ours_does_not_hide_it() {
    let redis = TestRedis::start();
    let app = DataApp::spawn(&redis, &[]).await;
    let cookie = inserted(&app).await;
    let both = format!("sessionboard=forged-value; {cookie}");
    assert_eq!(app.text("/get", &both).await, "Some(42)");
}
