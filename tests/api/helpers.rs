//! A private `redis-server` per test and the real app served on a random loopback port, driven
//! through browser-like clients. Nothing here touches the machine's Redis on 6379.

use std::{
    collections::HashMap,
    fmt::Debug,
    future::Future,
    net::SocketAddr,
    ops::Deref,
    time::{Duration, Instant},
};

use leptos::prelude::LeptosOptions;
use reqwest::{Client, RequestBuilder, Response};
use secrecy::SecretString;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sessionboard::{
    server::{
        config::{ConfigError, Settings},
        startup::Application,
        state::AppState,
    },
    shared::dto::SessionView,
};
use tokio::task::JoinHandle;

pub const TEST_SECRET: &str = "integration-tests-secret-0123456789abcdef";

/// How often [`eventually`] and [`eventually_ok`] look again.
const POLL_EVERY: Duration = Duration::from_millis(15);

/// Waits for an effect: asks `check` every 15 ms until it answers true; panics with `what` and
/// the time waited once `within` has passed. Every test waits through this (or
/// [`eventually_ok`]), never with a fixed sleep.
pub async fn eventually<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    eventually_ok(what, within, || {
        let seen = check();
        async move {
            if seen.await {
                Ok(())
            } else {
                Err("not yet")
            }
        }
    })
    .await
}

/// As [`eventually`], for a check that has something to hand back: asks until `check` answers
/// `Ok(value)` and returns the value; the panic shows the last `Err` (what was seen instead).
pub async fn eventually_ok<T, E, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    E: Debug,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let started = Instant::now();
    loop {
        let last = match check().await {
            Ok(value) => return value,
            Err(last) => last,
        };
        let waited = started.elapsed();
        if waited >= within {
            panic!("{what}: not seen within {within:?} (waited {waited:?}); last seen: {last:?}");
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

pub use test_redis::{free_port, Redis as TestRedis, AOF};

/// The keys of the app's sessions (under the default key prefix).
pub const SESSION_KEYS: &str = "sessionboard:session:*";

/// Settings for a test app on `redis_port`, with extra environment overrides.
pub fn settings(redis_port: u16, overrides: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let mut env: HashMap<String, String> = HashMap::from([
        ("LEPTOS_ENV".into(), "DEV".into()),
        ("LEPTOS_SITE_ADDR".into(), "127.0.0.1:0".into()),
        ("REDIS_PORT".into(), redis_port.to_string()),
        ("SESSION_SECRET".into(), TEST_SECRET.into()),
        ("REDIS_STARTUP_WAIT_SECONDS".into(), "5".into()),
        ("REDIS_COMMAND_TIMEOUT_MS".into(), "1000".into()),
        ("REDIS_CONNECT_TIMEOUT_MS".into(), "500".into()),
    ]);
    for (k, v) in overrides {
        env.insert(k.to_string(), v.to_string());
    }
    Settings::parse(None, &env, |_| Ok(SecretString::from(TEST_SECRET)))
}

/// The real app, served on a random loopback port until dropped. It derefs to a default
/// [`Browser`], so a test with one visitor calls `app.increment()` and the like directly.
pub struct TestApp {
    pub addr: SocketAddr,
    pub state: AppState,
    server: JoinHandle<std::io::Result<()>>,
    /// Sending (or dropping) it stops the app the way SIGTERM does.
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    browser: Browser,
    /// No cookie store: for tests that carry cookies by hand, such as stale or forged ones a
    /// browser would not send.
    bare: Client,
}

impl TestApp {
    pub async fn spawn(redis: &TestRedis, overrides: &[(&str, &str)]) -> TestApp {
        Self::spawn_on(redis.port, overrides).await
    }

    /// The app on the Redis at `redis_port`, or wherever `overrides` (a `REDIS_URL`) point.
    pub async fn spawn_on(redis_port: u16, overrides: &[(&str, &str)]) -> TestApp {
        let app = Self::try_spawn(redis_port, overrides).await;
        app.unwrap_or_else(|err| panic!("app connects to the test Redis: {err}"))
    }

    /// The start-up error as the binary would print it, or the running app.
    pub async fn try_spawn(redis_port: u16, overrides: &[(&str, &str)]) -> Result<TestApp, String> {
        let settings = settings(redis_port, overrides).map_err(|err| err.to_string())?;
        let options = LeptosOptions::builder().output_name("sessionboard").build();
        let application = Application::build(settings, options, sessionboard::pages())
            .await
            .map_err(|err| err.to_string())?
            // Tests that read the log give this thread a subscriber of its own.
            .log_workers_to(tracing::dispatcher::get_default(Clone::clone));
        let addr = application.addr();
        let state = application.state().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(application.run_until(async move {
            let _ = stopped.await;
        }));
        let app_url = format!("http://{addr}");
        Ok(TestApp {
            addr,
            state,
            server,
            stop: Some(stop),
            browser: Browser::new(app_url),
            bare: http_client(false),
        })
    }

    /// The app's server has returned (after a stop, once its connections were answered).
    pub fn has_stopped(&self) -> bool {
        self.server.is_finished()
    }

    /// Asks the app to stop, as SIGTERM does: it drains, then closes its listener.
    pub fn begin_shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Stops serving at once (like a crash), leaving Redis as it is.
    pub async fn kill(self) {
        self.server.abort();
        let _ = self.server.await;
        self.state.redis.quit().await;
    }

    /// Another visitor: a cookie jar of its own against this app.
    pub fn new_browser(&self) -> Browser {
        Browser::new(self.browser.app_url.clone())
    }

    /// Another visitor, connecting from `address` (any 127.x.y.z works on loopback). It waits
    /// up to 30 s for an answer: long enough to queue behind a burst of password hashes.
    pub fn browser_from(&self, address: &str) -> Browser {
        let address = address.parse().expect("an IP address");
        Browser {
            app_url: self.browser.app_url.clone(),
            client: client_builder(true)
                .timeout(Duration::from_secs(30))
                .local_address(Some(address))
                .build()
                .expect("client"),
        }
    }

    /// Starts a session with one increment, outside any cookie jar; returns its cookie.
    /// Like `new_session_cookie`, but a 503 (a busy Redis, not a lost session) is asked again, for
    /// up to 3 s.
    pub async fn new_session_cookie_retrying_while_busy(&self) -> String {
        let res = eventually_ok(
            "POST /api/increment answers other than 503",
            BUSY_FOR,
            || {
                let post = self.bare.post(self.browser.url("/api/increment"));
                async move {
                    let res = send_for_json(post).await;
                    match res.status().as_u16() {
                        503 => Err(503),
                        _ => Ok(res),
                    }
                }
            },
        )
        .await;
        assert_eq!(res.status(), 200, "POST /api/increment");
        session_cookie(&res).expect("a session cookie")
    }

    pub async fn new_session_cookie(&self) -> String {
        let post = self.bare.post(self.browser.url("/api/increment"));
        let res = send_for_json(post).await;
        let cookie = session_cookie(&res);
        let status = res.status();
        let body = res.text().await.unwrap_or_default();
        assert_eq!(status, 200, "POST /api/increment: {body}");
        cookie.expect("a session cookie")
    }

    /// `GET /api/session` with exactly this cookie: the status, and the view when it is 200.
    pub async fn session_with_cookie(&self, cookie: &str) -> (u16, Option<SessionView>) {
        let get = self.bare.get(self.browser.url("/api/session"));
        let res = send_for_json(get.header("cookie", cookie)).await;
        let status = res.status().as_u16();
        let view = if status == 200 {
            res.json().await.ok()
        } else {
            None
        };
        (status, view)
    }

    /// A form post carrying exactly this cookie.
    pub async fn post_with_cookie(
        &self,
        path: &str,
        cookie: &str,
        form: &[(&str, &str)],
    ) -> Response {
        let post = self.bare.post(self.browser.url(path)).form(form);
        send_for_json(post.header("cookie", cookie)).await
    }
}

/// How long a test asks again while Redis answers "busy" (a 503 from an fsync stall, say): a
/// busy store, not a lost session.
pub const BUSY_FOR: Duration = Duration::from_secs(3);

impl Deref for TestApp {
    type Target = Browser;

    fn deref(&self) -> &Browser {
        &self.browser
    }
}

/// A browser-like visitor of one app instance: keeps its cookies, asks for JSON, never waits
/// forever. Cheap to clone; clones share the cookie jar.
#[derive(Clone)]
pub struct Browser {
    app_url: String,
    client: Client,
}

impl Browser {
    fn new(app_url: String) -> Browser {
        Browser {
            app_url,
            client: http_client(true),
        }
    }

    /// This browser, with its cookies, talking to another instance of the app (one behind the
    /// same load balancer, or the app after a restart). Cookies do not depend on the port.
    pub fn at(&self, app: &TestApp) -> Browser {
        Browser {
            app_url: app.browser.app_url.clone(),
            client: self.client.clone(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.app_url, path)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .unwrap_or_else(|err| panic!("GET {path}: {err}"))
    }

    /// A form post as the app's own script sends it: same-origin, asking for JSON instead of a
    /// redirect.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Response {
        self.post_with_headers(path, &SAME_ORIGIN_JSON, form).await
    }

    /// A form post with exactly these headers (say, those of a page on another site).
    pub async fn post_with_headers(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        form: &[(&str, &str)],
    ) -> Response {
        let mut request = self.client.post(self.url(path)).form(form);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request
            .send()
            .await
            .unwrap_or_else(|err| panic!("POST {path}: {err}"))
    }

    pub async fn session(&self) -> SessionView {
        ok_json(self.get("/api/session").await).await
    }

    pub async fn increment(&self) -> i64 {
        ok_json(self.post("/api/increment", &[]).await).await
    }

    pub async fn save_note(&self, note: &str) -> Response {
        self.post("/api/note", &[("note", note)]).await
    }

    /// "Stay signed in"; the session as it is afterwards.
    pub async fn stay(&self) -> SessionView {
        ok_json(self.post("/api/stay", &[]).await).await
    }

    pub async fn forget(&self) {
        ok_json::<()>(self.post("/api/forget", &[]).await).await
    }

    /// Registers `user` with `password`; panics unless it worked. Returns the name as stored.
    pub async fn register(&self, user: &str, password: &str) -> String {
        let form = [("username", user), ("password", password)];
        ok_json(self.post("/api/register", &form).await).await
    }

    pub async fn login_response(&self, user: &str, password: &str) -> Response {
        self.post("/api/login", &[("username", user), ("password", password)])
            .await
    }

    /// Signs in; returns the response status.
    pub async fn login(&self, user: &str, password: &str) -> u16 {
        self.login_response(user, password).await.status().as_u16()
    }

    pub async fn logout(&self) {
        ok_json::<()>(self.post("/api/logout", &[]).await).await
    }

    /// The signed-in user's sessions, as listed by "Your sessions".
    pub async fn sessions(&self) -> Vec<Value> {
        ok_json(self.get("/api/sessions").await).await
    }

    pub async fn revoke(&self, handle: &str) -> Response {
        self.post("/api/sessions/revoke", &[("handle", handle)])
            .await
    }

    /// Signs out every other session of the user; returns how many there were.
    pub async fn revoke_others(&self) -> usize {
        ok_json(self.post("/api/sessions/revoke-others", &[]).await).await
    }

    pub async fn change_password(&self, current: &str, new: &str) -> Response {
        self.post("/api/password", &[("current", current), ("new", new)])
            .await
    }
}

/// The JSON answer of a call whose success the test takes for granted.
async fn ok_json<T: DeserializeOwned>(res: Response) -> T {
    let call = res.url().path().to_string();
    let status = res.status();
    let body = res.text().await.unwrap_or_default();
    assert_eq!(status, 200, "{call}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|err| panic!("{call}: {err}: {body}"))
}

/// What a browser running the app's own script sends with a post.
pub const SAME_ORIGIN_JSON: [(&str, &str); 2] = [
    ("accept", "application/json"),
    ("sec-fetch-site", "same-origin"),
];

/// Sends as the app's own script does: same-origin, asking for JSON, not for a redirect back to
/// the page.
async fn send_for_json(request: RequestBuilder) -> Response {
    request
        .header("accept", "application/json")
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .expect("the app answers")
}

pub fn http_client(cookies: bool) -> Client {
    client_builder(cookies).build().expect("client")
}

fn client_builder(cookies: bool) -> reqwest::ClientBuilder {
    Client::builder()
        .cookie_store(cookies)
        .timeout(Duration::from_secs(10))
}

/// The `name=value` of the session cookie a response sets, if any.
pub fn session_cookie(res: &Response) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("sessionboard="))
        .and_then(|v| v.split(';').next())
        .map(str::to_string)
}

/// Runs `task(0..n)` concurrently on the runtime and collects the results in order.
pub async fn in_parallel<T, F, Fut>(n: usize, task: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    let handles: Vec<_> = (0..n).map(|i| tokio::spawn(task(i))).collect();
    let mut results = Vec::with_capacity(n);
    for handle in handles {
        results.push(handle.await.expect("task"));
    }
    results
}

/// How many of `statuses` equal `status`.
pub fn count(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}
