//! Test harness: a throwaway `redis-server` per test, the app both ways, and a tiny client.
//!
//! Every test starts its own Redis on a free port (never the one on 6379), so tests can run in
//! parallel and inspect the server's whole keyspace and command counts.

#![allow(dead_code)]

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use axum::{
    body::Body,
    extract::Path,
    http::{header, HeaderMap, Request, StatusCode},
    routing::get,
    Router,
};
use fred::{
    prelude::{Builder, ClientLike, Config, HashesInterface, KeysInterface, Pool, ReconnectPolicy},
    types::InfoKind,
};
use http_body_util::BodyExt;
use test_redis::Redis;
use tower::ServiceExt;
use tower_sessions::{
    cookie::{Cookie, CookieJar, Key, SameSite},
    session::Id,
    Expiry, Session, SessionManagerLayer,
};
use tower_sessions_fred_store::{BreakerSettings, CookieSettings, RedisSessionStore, SessionLayer};

/// The key prefix every test store uses.
pub const PREFIX: &str = "t:";

/// The name of the session cookie, both ways.
pub const COOKIE: &str = "id";

/// A `redis-server` of the test's own (killed when dropped) and a pool on it.
pub struct TestRedis {
    server: Redis,
    pub url: String,
    /// A pool for the store and for inspecting Redis.
    pub pool: Pool,
}

impl TestRedis {
    /// Starts a server on a free port, once it answers. The pool does not reconnect.
    pub async fn start() -> TestRedis {
        TestRedis::start_with(None).await
    }

    /// [`TestRedis::start`], with a pool that reconnects every 100 ms as an application's would
    /// (fred then reports a lost connection at once, and the breaker refuses without waiting).
    pub async fn start_reconnecting() -> TestRedis {
        TestRedis::start_with(Some(ReconnectPolicy::new_constant(0, 100))).await
    }

    async fn start_with(policy: Option<ReconnectPolicy>) -> TestRedis {
        let server = Redis::start();
        let url = server.url();
        let mut builder = Builder::from_config(Config::from_url(&url).expect("a valid URL"));
        if let Some(policy) = policy {
            builder.set_policy(policy);
        }
        let pool = builder.build_pool(2).expect("a pool");
        tokio::time::timeout(Duration::from_secs(10), pool.init())
            .await
            .expect("the pool connects within 10 s")
            .expect("the pool connects");
        TestRedis { server, url, pool }
    }

    /// Kills the server now (Redis going away under a running app).
    pub fn stop(&mut self) {
        self.server.stop();
    }

    /// Freezes the server or lets it go on: see [`Redis::pause`].
    pub fn pause(&self, paused: bool) {
        self.server.pause(paused);
    }

    /// Every key in the server, sorted.
    pub async fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .pool
            .custom(fred::cmd!("KEYS"), vec![fred::types::Value::from("*")])
            .await
            .expect("KEYS");
        keys.sort();
        keys
    }

    pub async fn exists(&self, key: &str) -> bool {
        let count: i64 = self.pool.exists(key).await.expect("EXISTS");
        count == 1
    }

    /// The key's remaining time to live in ms (-2: no key, -1: no TTL).
    pub async fn pttl(&self, key: &str) -> i64 {
        self.pool.pttl(key).await.expect("PTTL")
    }

    pub async fn hgetall(&self, key: &str) -> HashMap<String, String> {
        self.pool.hgetall(key).await.expect("HGETALL")
    }

    /// Calls per command since the server started (`INFO commandstats`), lower-case names.
    pub async fn command_counts(&self) -> HashMap<String, u64> {
        let info: String = self
            .pool
            .info(Some(InfoKind::CommandStats))
            .await
            .expect("INFO");
        info.lines()
            .filter_map(|line| {
                let (name, stats) = line.strip_prefix("cmdstat_")?.split_once(':')?;
                let calls = stats.split(',').find_map(|s| s.strip_prefix("calls="))?;
                Some((name.to_lowercase(), calls.parse().ok()?))
            })
            .collect()
    }

    /// Waits (bounded) until `key` is gone; whether it went.
    pub async fn wait_gone(&self, key: &str, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if !self.exists(key).await {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        !self.exists(key).await
    }
}

/// The commands run between two [`TestRedis::command_counts`], without the `INFO` calls.
pub fn commands_between(
    before: &HashMap<String, u64>,
    after: &HashMap<String, u64>,
) -> HashMap<String, u64> {
    after
        .iter()
        .filter(|(name, _)| name.as_str() != "info")
        .filter_map(|(name, calls)| {
            let ran = calls - before.get(name).copied().unwrap_or(0);
            (ran > 0).then(|| (name.clone(), ran))
        })
        .collect()
}

/// The two ways in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    /// `tower_sessions::SessionManagerLayer` over `RedisSessionStore`.
    Stock,
    /// This crate's `SessionLayer`.
    Own,
}

impl Way {
    /// The `SameSite` each layer sets by default.
    pub fn same_site(self) -> SameSite {
        match self {
            Way::Stock => SameSite::Strict,
            Way::Own => SameSite::Lax,
        }
    }
}

/// How a test's app is configured.
#[derive(Debug, Clone)]
pub struct AppOptions {
    /// The idle timeout (stock: `Expiry::OnInactivity`; own: the store's idle timeouts).
    pub idle: Duration,
    /// The store's absolute timeout, when not the default.
    pub absolute: Option<Duration>,
    pub domain: Option<String>,
    pub path: Option<String>,
    /// The store's command timeout, when not the default.
    pub command_timeout: Option<Duration>,
    /// [`tower_sessions_fred_store::StoreBuilder::last_writer_wins`].
    pub last_writer_wins: bool,
}

impl Default for AppOptions {
    fn default() -> Self {
        AppOptions {
            idle: Duration::from_secs(3600),
            absolute: None,
            last_writer_wins: false,
            domain: None,
            path: None,
            command_timeout: None,
        }
    }
}

/// The key every test app signs its cookies with.
pub fn key() -> Key {
    CookieSettings::key_from_secret(b"tower-sessions-fred-store tests: not a real secret")
}

/// The store of a test app.
pub fn store(redis: &TestRedis, options: &AppOptions) -> RedisSessionStore {
    let mut builder = RedisSessionStore::builder(redis.pool.clone())
        .key_prefix(PREFIX)
        .idle_timeout(options.idle);
    if let Some(absolute) = options.absolute {
        builder = builder.absolute_timeout(absolute);
    }
    if let Some(timeout) = options.command_timeout {
        builder = builder.breaker(BreakerSettings::default().command_timeout(timeout));
    }
    builder.last_writer_wins(options.last_writer_wins).build()
}

/// [`routes`] under the session layer of `way`.
pub fn app(way: Way, store: RedisSessionStore, options: &AppOptions) -> Router {
    let routes = routes(store.pool().clone());
    match way {
        Way::Stock => {
            let idle = time::Duration::try_from(options.idle).expect("a short idle timeout");
            let mut layer = SessionManagerLayer::new(store)
                .with_secure(true)
                .with_expiry(Expiry::OnInactivity(idle))
                .with_signed(key());
            if let Some(domain) = &options.domain {
                layer = layer.with_domain(domain.clone());
            }
            if let Some(path) = &options.path {
                layer = layer.with_path(path.clone());
            }
            routes.layer(layer)
        }
        Way::Own => {
            let mut cookie = CookieSettings::new(key());
            if let Some(domain) = &options.domain {
                cookie = cookie.with_domain(domain.clone());
            }
            if let Some(path) = &options.path {
                cookie = cookie.with_path(path.clone());
            }
            routes.layer(SessionLayer::new(store, cookie))
        }
    }
}

/// A fresh Redis and the app on it, configured by `options`.
pub async fn setup(way: Way, options: AppOptions) -> (TestRedis, RedisSessionStore, Router) {
    let redis = TestRedis::start().await;
    on(redis, way, options)
}

/// The app on `redis`, configured by `options`.
pub fn on(
    redis: TestRedis,
    way: Way,
    options: AppOptions,
) -> (TestRedis, RedisSessionStore, Router) {
    let store = store(&redis, &options);
    let app = app(way, store.clone(), &options);
    (redis, store, app)
}

type Failed = (StatusCode, String);

fn failed(err: impl std::fmt::Display) -> Failed {
    (StatusCode::INTERNAL_SERVER_ERROR, err.to_string())
}

/// The routes of tower-sessions' own integration tests, plus a few for this crate's guarantees.
/// Store errors are answered 500 with their text (never a panic), so a test can tell.
pub fn routes(pool: Pool) -> Router {
    Router::new()
        .route("/", get(|_: Session| async move { "Hello, world!" }))
        .route(
            "/insert",
            get(|session: Session| async move { session.insert("foo", 42).await.map_err(failed) }),
        )
        .route(
            "/get",
            get(|session: Session| async move {
                match session.get::<usize>("foo").await.map_err(failed)? {
                    Some(value) => Ok(value.to_string()),
                    None => Err((StatusCode::NOT_FOUND, "no foo".to_string())),
                }
            }),
        )
        .route(
            "/get_value",
            get(|session: Session| async move {
                let value = session.get_value("foo").await.map_err(failed)?;
                Ok::<_, Failed>(format!("{value:?}"))
            }),
        )
        .route(
            "/remove",
            get(|session: Session| async move {
                session.remove::<usize>("foo").await.map_err(failed)?;
                Ok::<_, Failed>(())
            }),
        )
        .route(
            "/remove_value",
            get(|session: Session| async move {
                session.remove_value("foo").await.map_err(failed)?;
                Ok::<_, Failed>(())
            }),
        )
        .route(
            "/clear",
            get(|session: Session| async move { session.clear().await }),
        )
        .route(
            "/cycle_id",
            get(|session: Session| async move { session.cycle_id().await.map_err(failed) }),
        )
        .route(
            "/flush",
            get(|session: Session| async move { session.flush().await.map_err(failed) }),
        )
        .route(
            "/set_expiry",
            get(|session: Session| async move {
                let at = time::OffsetDateTime::now_utc() + time::Duration::days(1);
                session.set_expiry(Some(Expiry::AtDateTime(at)));
            }),
        )
        .route(
            "/set_expiry_in/{seconds}",
            get(|Path(seconds): Path<i64>, session: Session| async move {
                let at = time::OffsetDateTime::now_utc() + time::Duration::seconds(seconds);
                session.set_expiry(Some(Expiry::AtDateTime(at)));
            }),
        )
        .route(
            "/remove_expiry",
            get(|session: Session| async move {
                session.set_expiry(Some(Expiry::OnSessionEnd));
            }),
        )
        .route(
            "/incr/{key}",
            get(|Path(key): Path<String>, session: Session| async move {
                let n: i64 = session.get(&key).await.map_err(failed)?.unwrap_or(0) + 1;
                session.insert(&key, n).await.map_err(failed)?;
                Ok::<_, Failed>(n.to_string())
            }),
        )
        .route(
            // Reads the session, then another writer changes `foo` behind the request's back (as
            // a concurrent request would), then this request changes `n`.
            "/concurrent_change",
            get({
                let pool = pool.clone();
                move |session: Session| async move {
                    session.get_value("foo").await.map_err(failed)?;
                    let id = session.id().ok_or_else(|| failed("no session"))?;
                    let _: i64 = pool
                        .hset(format!("{PREFIX}session:{{{id}}}"), ("d:foo", "7"))
                        .await
                        .map_err(failed)?;
                    session.insert("n", 1).await.map_err(failed)
                }
            }),
        )
        .route(
            // Reads `foo`, then another writer changes it behind the request's back, then this
            // request changes it too, from what it read.
            "/conflicting_change",
            get({
                let pool = pool.clone();
                move |session: Session| async move {
                    let read: i64 = session.get("foo").await.map_err(failed)?.unwrap_or(0);
                    let id = session.id().ok_or_else(|| failed("no session"))?;
                    let _: i64 = pool
                        .hset(format!("{PREFIX}session:{{{id}}}"), ("d:foo", "7"))
                        .await
                        .map_err(failed)?;
                    session.insert("foo", read + 1).await.map_err(failed)
                }
            }),
        )
        .route(
            // Reads the session, then deletes it behind the request's back (as a sign-out on
            // another device would), then changes it.
            "/revoke_then_insert",
            get(|session: Session| async move {
                session.get_value("foo").await.map_err(failed)?;
                let id = session.id().ok_or_else(|| failed("no session"))?;
                let _: i64 = pool
                    .del(format!("{PREFIX}session:{{{id}}}"))
                    .await
                    .map_err(failed)?;
                session.insert("foo", 43).await.map_err(failed)
            }),
        )
}

/// What the app answered.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    /// Every `Set-Cookie` of the response, parsed.
    pub fn set_cookies(&self) -> Vec<Cookie<'static>> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .filter_map(|value| Cookie::parse_encoded(value.to_string()).ok())
            .collect()
    }

    /// The session cookie the response set, if any (at most one).
    pub fn session_cookie(&self) -> Option<Cookie<'static>> {
        let mut ours = self
            .set_cookies()
            .into_iter()
            .filter(|cookie| cookie.name() == COOKIE);
        let first = ours.next();
        assert!(ours.next().is_none(), "more than one session cookie set");
        first
    }

    /// The session cookie, which the response must set.
    pub fn expect_cookie(&self) -> Cookie<'static> {
        self.session_cookie()
            .unwrap_or_else(|| panic!("no session cookie in {:?}", self.headers))
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|err| panic!("not JSON ({err}): {}", self.body))
    }
}

/// `GET uri`, carrying `cookie` (name and value only, as a browser would) when given.
pub async fn send(app: &Router, uri: &str, cookie: Option<&Cookie<'_>>) -> Reply {
    let mut request = Request::builder().uri(uri);
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie_header(cookie));
    }
    let request = request.body(Body::empty()).expect("a request");
    let response = tokio::time::timeout(Duration::from_secs(10), app.clone().oneshot(request))
        .await
        .expect("the app answers within 10 s")
        .expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("a body")
        .to_bytes();
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// The `Cookie` header a browser sends back for `cookie`.
pub fn cookie_header(cookie: &Cookie<'_>) -> String {
    Cookie::new(cookie.name().to_string(), cookie.value().to_string())
        .encoded()
        .to_string()
}

/// The session id a signed cookie carries (`None` if its signature does not verify).
pub fn id_of(cookie: &Cookie<'_>) -> Option<Id> {
    let plain = CookieJar::new()
        .signed(&key())
        .verify(cookie.clone().into_owned())?;
    plain.value().parse().ok()
}

/// A session cookie for `id`, signed with `key` (as a client that knows the key would make it).
pub fn signed_cookie(id: &str, key: &Key) -> Cookie<'static> {
    let mut jar = CookieJar::new();
    jar.signed_mut(key).add(Cookie::new(COOKIE, id.to_string()));
    jar.get(COOKIE).cloned().expect("the cookie just added")
}

/// The Redis key of the session a cookie names.
pub fn session_key(cookie: &Cookie<'_>) -> String {
    let id = id_of(cookie).expect("a cookie signed with the test key");
    session_key_of(&id)
}

/// The Redis key of a session id.
pub fn session_key_of(id: &Id) -> String {
    format!("{PREFIX}session:{{{id}}}")
}

/// Asserts `actual` is `expected`, give or take the seconds a test takes (and the 2 s the own
/// layer's cookie outlives the Redis deadline).
pub fn assert_about(actual: time::Duration, expected: Duration, what: &str) {
    let expected = time::Duration::try_from(expected).expect("a short duration");
    assert!(
        actual >= expected - time::Duration::seconds(3)
            && actual <= expected + time::Duration::seconds(3),
        "{what}: {actual} is not about {expected}"
    );
}

/// Asserts a key's TTL (ms) is `expected`, give or take 3 s.
pub fn assert_ttl_about(pttl: i64, expected: Duration, what: &str) {
    let expected = expected.as_millis() as i64;
    assert!(
        pttl > 0 && (pttl - expected).abs() <= 3_000,
        "{what}: PTTL {pttl} ms is not about {expected} ms"
    );
}

/// A removal cookie: empty value, `Max-Age=0`.
pub fn assert_removal(cookie: &Cookie<'_>) {
    assert_eq!(cookie.value(), "", "a removal cookie is empty");
    assert_eq!(cookie.max_age(), Some(time::Duration::ZERO));
}
