//! Data kept through the standard tower-sessions `Session` API, on sessionboard's store and
//! layer: the behaviours tower-sessions' own integration tests check for a store, plus no lost
//! updates when requests change different keys of one session at once.

use std::{collections::HashMap, net::SocketAddr, time::Duration};

use axum::{routing::get, Router};
use reqwest::{header, Client, Response};
use sessionboard::server::{redis::RedisPool, sessions};
use time::OffsetDateTime;
use tower_sessions::{Expiry, Session};

use crate::helpers::{eventually, http_client, in_parallel, settings, TestApp, TestRedis};

/// Routes that use nothing but the `Session` extractor, as tower-sessions' tests do.
fn routes() -> Router {
    Router::new()
        .route("/", get(|_: Session| async { "Hello, world!" }))
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
            "/remove",
            get(|session: Session| async move {
                session.remove::<usize>("foo").await.unwrap();
            }),
        )
        .route(
            "/clear",
            get(|session: Session| async move {
                session.clear().await;
            }),
        )
        .route(
            "/cycle_id",
            get(|session: Session| async move {
                session.cycle_id().await.unwrap();
            }),
        )
        .route(
            "/flush",
            get(|session: Session| async move {
                session.flush().await.unwrap();
            }),
        )
        .route(
            "/expire_in_one_second",
            get(|session: Session| async move {
                let at = OffsetDateTime::now_utc() + time::Duration::seconds(1);
                session.set_expiry(Some(Expiry::AtDateTime(at)));
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
                for key in ["a", "b", "c", "d", "foo", "m:created"] {
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
async fn no_session_means_no_cookie_and_no_record() {
    let redis = TestRedis::start();
    let app = DataApp::spawn(&redis, &[]).await;
    let res = app.get("/", None).await;
    assert_eq!(res.status(), 200);
    assert!(set_cookie(&res).is_none());
    assert!(redis.session_keys().is_empty());
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
    let keys = redis.session_keys();
    assert_eq!(keys.len(), 1);
    assert_eq!(redis.cli(&["HGET", &keys[0], "d:foo"]).trim(), "42");
    let ttl = redis.pttl(&keys[0]);
    assert!((3_595_000..=3_600_000).contains(&ttl), "{ttl}");
}

#[tokio::test]
async fn get_reads_back_what_insert_stored_and_a_bogus_cookie_gets_a_new_session() {
    let redis = TestRedis::start();
    let app = DataApp::spawn(&redis, &[]).await;
    let cookie = inserted(&app).await;
    assert_eq!(app.text("/get", &cookie).await, "Some(42)");
    assert_eq!(
        app.text("/get", "sessionboard=AAAAAAAAAAAAAAAAAAAAAA")
            .await,
        "None"
    );
    let res = app.get("/insert", Some("sessionboard=malformed")).await;
    let fresh = name_value(&set_cookie(&res).expect("a new cookie"));
    assert_ne!(fresh, "sessionboard=malformed");
    assert_eq!(app.text("/get", &fresh).await, "Some(42)");
}

#[tokio::test]
async fn remove_and_clear_delete_data_but_keep_the_session() {
    let redis = TestRedis::start();
    let app = DataApp::spawn(&redis, &[]).await;
    let cookie = inserted(&app).await;
    app.get("/remove", Some(&cookie)).await;
    assert_eq!(app.text("/get", &cookie).await, "None");
    let key = redis.session_keys().remove(0);
    assert_eq!(redis.cli(&["HEXISTS", &key, "d:foo"]).trim(), "0");

    app.get("/insert", Some(&cookie)).await;
    app.get("/set/a/1", Some(&cookie)).await;
    app.get("/clear", Some(&cookie)).await;
    assert_eq!(app.text("/all", &cookie).await, "{}");
    assert_eq!(redis.session_keys(), vec![key.clone()], "the record stays");
    assert!(redis
        .cli(&["HGET", &key, "m:created"])
        .trim()
        .parse::<i64>()
        .is_ok());
}

#[tokio::test]
async fn cycle_id_moves_the_data_to_a_new_id_and_the_old_one_is_dead() {
    let redis = TestRedis::start();
    let app = DataApp::spawn(&redis, &[]).await;
    let first = inserted(&app).await;
    let res = app.get("/cycle_id", Some(&first)).await;
    let second = name_value(&set_cookie(&res).expect("a new cookie"));
    assert_ne!(first, second);
    assert_eq!(app.text("/get", &second).await, "Some(42)");
    assert_eq!(app.text("/get", &first).await, "None");
    assert_eq!(redis.session_keys().len(), 1);
}

#[tokio::test]
async fn flush_deletes_the_record_and_clears_the_cookie() {
    let redis = TestRedis::start();
    let app = DataApp::spawn(&redis, &[]).await;
    let cookie = inserted(&app).await;
    let res = app.get("/flush", Some(&cookie)).await;
    let removal = set_cookie(&res).expect("a removal cookie");
    assert!(removal.starts_with("sessionboard=;"), "{removal}");
    assert_eq!(max_age(&removal), Some(0));
    assert!(redis.session_keys().is_empty());
    assert_eq!(app.text("/get", &cookie).await, "None");
}

#[tokio::test]
async fn a_session_expires_after_inactivity_and_at_a_date() {
    let redis = TestRedis::start();
    let app = DataApp::spawn(&redis, &[("SESSION_TTL_SECONDS", "0.4")]).await;
    let idle = inserted(&app).await;
    // Watched on the key: a read through the app would be activity.
    let key = redis.session_keys().remove(0);
    eventually(
        "the idle session's key expires",
        Duration::from_secs(3),
        || async { redis.pttl(&key) == -2 },
    )
    .await;
    assert_eq!(app.text("/get", &idle).await, "None", "idle timeout");

    let app = DataApp::spawn(&redis, &[("SESSION_TTL_SECONDS", "3600")]).await;
    let dated = inserted(&app).await;
    let res = app.get("/expire_in_one_second", Some(&dated)).await;
    let age = max_age(&set_cookie(&res).expect("a cookie for the new expiry")).unwrap();
    assert!((1..=3).contains(&age), "Max-Age {age}");
    let key = redis.session_keys().remove(0);
    assert!(redis.pttl(&key) <= 1_000, "the key ends at the date");
    assert_eq!(app.text("/get", &dated).await, "Some(42)");
    eventually(
        "the key expires at the date",
        Duration::from_secs(3),
        || async { redis.pttl(&key) == -2 },
    )
    .await;
    assert_eq!(app.text("/get", &dated).await, "None", "ended at the date");
}

#[tokio::test]
async fn bookkeeping_cannot_be_read_or_overwritten_as_data() {
    let redis = TestRedis::start();
    let app = DataApp::spawn(&redis, &[]).await;
    let cookie = inserted(&app).await;
    let key = redis.session_keys().remove(0);
    let created = redis.cli(&["HGET", &key, "m:created"]);
    app.get("/set/m:created/0", Some(&cookie)).await;
    assert_eq!(redis.cli(&["HGET", &key, "m:created"]), created);
    let all: serde_json::Value = serde_json::from_str(&app.text("/all", &cookie).await).unwrap();
    assert_eq!(all["m:created"], "0", "only the data key of that name");
    assert_eq!(all.as_object().unwrap().len(), 2, "{all}");
}

#[tokio::test]
async fn concurrent_requests_changing_different_keys_lose_nothing() {
    let redis = TestRedis::start();
    let app = std::sync::Arc::new(DataApp::spawn(&redis, &[]).await);
    let cookie = inserted(&app).await;
    // Loads the save script into Redis, so the counts below are the steady state.
    app.get("/set/a/first", Some(&cookie)).await;
    let before = redis.command_counts();
    let rounds = 25;
    let mut tasks = Vec::new();
    for key in ["a", "b", "c", "d"] {
        let (app, cookie) = (app.clone(), cookie.clone());
        tasks.push(tokio::spawn(async move {
            for round in 0..rounds {
                let res = app.get(&format!("/set/{key}/{round}"), Some(&cookie)).await;
                assert_eq!(res.status(), 200);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let all: serde_json::Value = serde_json::from_str(&app.text("/all", &cookie).await).unwrap();
    for key in ["a", "b", "c", "d"] {
        assert_eq!(all[key], (rounds - 1).to_string(), "{all}");
    }
    assert_eq!(all["foo"], 42, "a key nobody touched survives");
    // Each write is one read and one save script of one field: never a whole-record rewrite.
    let after = redis.command_counts();
    let delta = |name: &str| after.get(name).unwrap_or(&0) - before.get(name).unwrap_or(&0);
    let writes = 4 * rounds as u64;
    assert_eq!(delta("evalsha"), writes, "one save per write");
    assert_eq!(delta("hgetall"), writes + 1, "one read per request");
    assert_eq!(delta("hset"), writes, "one field set per save");
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
    let app = std::sync::Arc::new(TestApp::spawn(&redis, &[]).await);
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
    let old_key = redis.session_keys().remove(0);
    let res = app.get("/flush_then_insert", Some(&cookie)).await;
    let fresh = name_value(&set_cookie(&res).expect("a cookie for the new session"));
    assert_ne!(fresh, cookie);
    assert_eq!(redis.pttl(&old_key), -2, "the flushed record stays gone");
    assert_eq!(app.text("/get", &cookie).await, "None");
    let keys = redis.session_keys();
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
    let key = redis.session_keys().remove(0);
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
