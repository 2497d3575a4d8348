//! Shared by the integration tests: a private `redis-server` per test and the real app served on
//! a random loopback port. Nothing here touches the machine's Redis on 6379.
#![allow(dead_code)]

use std::{
    collections::HashMap,
    net::{SocketAddr, TcpListener as StdListener, TcpStream},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use leptos::prelude::LeptosOptions;
use reqwest::{Client, Response};
use secrecy::SecretString;
use sessionboard::{
    configuration::{ConfigError, Settings},
    session_view::SessionView,
    startup::{serve, AppState},
};
use tokio::task::JoinHandle;

pub const TEST_SECRET: &str = "integration-tests-secret-0123456789abcdef";

/// A free loopback port (there is a tiny race until it is used; good enough for tests).
pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A `redis-server` of the test's own, killed by pid when dropped.
pub struct TestRedis {
    pub port: u16,
    pub dir: PathBuf,
    aof: bool,
    child: Option<Child>,
}

impl TestRedis {
    pub fn start() -> TestRedis {
        Self::start_with(false)
    }

    /// With `aof`, writes are persisted (appendfsync always) so a restart keeps them.
    pub fn start_with(aof: bool) -> TestRedis {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!(
            "sessionboard-test-redis-{port}-{}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("redis dir");
        let mut redis = TestRedis {
            port,
            dir,
            aof,
            child: None,
        };
        redis.resume();
        redis
    }

    /// Starts (again) on the same port and data folder, and waits until it answers.
    pub fn resume(&mut self) {
        assert!(self.child.is_none(), "already running");
        let mut cmd = Command::new("redis-server");
        cmd.args([
            "--port",
            &self.port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .arg("--dir")
        .arg(&self.dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        if self.aof {
            cmd.args(["--appendonly", "yes", "--appendfsync", "always"]);
        } else {
            cmd.args(["--appendonly", "no"]);
        }
        self.child = Some(
            cmd.spawn()
                .expect("redis-server must be installed (scripts/setup installs it)"),
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.cli(&["PING"]).trim() == "PONG" {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "redis-server on port {} did not answer within 10 s",
            self.port
        );
    }

    /// Kills the server (SIGKILL: an outage, not a clean shutdown) and waits for it to go.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpStream::connect(("127.0.0.1", self.port)).is_ok() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs `redis-cli` against this server and returns its output.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli must be installed");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// All session keys.
    pub fn session_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .cli(&["--scan", "--pattern", "sessionboard:session:*"])
            .lines()
            .map(str::to_string)
            .filter(|l| !l.is_empty())
            .collect();
        keys.sort();
        keys
    }

    /// The key's TTL in milliseconds (-2: no key, -1: no TTL).
    pub fn pttl(&self, key: &str) -> i64 {
        self.cli(&["PTTL", key])
            .trim()
            .parse()
            .expect("PTTL answers a number")
    }

    /// How many times Redis ran each command since the last `CONFIG RESETSTAT`.
    pub fn command_counts(&self) -> HashMap<String, u64> {
        self.cli(&["INFO", "commandstats"])
            .lines()
            .filter_map(|line| {
                let rest = line.strip_prefix("cmdstat_")?;
                let (name, stats) = rest.split_once(':')?;
                let calls = stats.split(',').find_map(|kv| kv.strip_prefix("calls="))?;
                Some((name.to_string(), calls.parse().ok()?))
            })
            .collect()
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

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
    Settings::parse("", &env, |_| Ok(SecretString::from(TEST_SECRET)))
}

/// The real app, served on a random loopback port until dropped.
pub struct TestApp {
    pub addr: SocketAddr,
    pub state: AppState,
    server: JoinHandle<std::io::Result<()>>,
}

impl TestApp {
    pub async fn spawn(redis: &TestRedis, overrides: &[(&str, &str)]) -> TestApp {
        let settings = settings(redis.port, overrides).expect("valid test settings");
        let options = LeptosOptions::builder().output_name("sessionboard").build();
        let state = AppState::connect(settings, options)
            .await
            .expect("app connects to the test Redis");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(serve(state.clone(), listener));
        TestApp {
            addr,
            state,
            server,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Stops serving at once (like a crash), leaving Redis as it is.
    pub async fn kill(self) {
        self.server.abort();
        let _ = self.server.await;
        self.state.redis.quit().await;
    }
}

/// A browser-like client: keeps cookies, asks for JSON, never waits forever.
pub fn client() -> Client {
    Client::builder()
        .cookie_store(true)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

pub async fn get_session(app: &TestApp, client: &Client) -> SessionView {
    let res = client
        .get(app.url("/api/session"))
        .send()
        .await
        .expect("GET /api/session");
    assert_eq!(res.status(), 200, "GET /api/session");
    res.json().await.expect("session JSON")
}

pub async fn post(app: &TestApp, client: &Client, path: &str, form: &[(&str, &str)]) -> Response {
    client
        .post(app.url(path))
        .header("accept", "application/json")
        .form(form)
        .send()
        .await
        .unwrap_or_else(|err| panic!("POST {path}: {err}"))
}

pub async fn increment(app: &TestApp, client: &Client) -> i64 {
    let res = post(app, client, "/api/increment", &[]).await;
    assert_eq!(res.status(), 200, "POST /api/increment");
    res.json().await.expect("counter JSON")
}

/// A bare client (no cookie store) for tests that juggle many sessions by hand.
pub fn bare_client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
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

/// `GET /api/session` with an explicit cookie.
pub async fn get_session_with(
    app: &TestApp,
    http: &Client,
    cookie: &str,
) -> (u16, Option<SessionView>) {
    let res = http
        .get(app.url("/api/session"))
        .header("cookie", cookie)
        .send()
        .await
        .expect("GET /api/session");
    let status = res.status().as_u16();
    (
        status,
        if status == 200 {
            res.json().await.ok()
        } else {
            None
        },
    )
}

/// Registers `user` with `password`; panics unless it worked.
pub async fn register(app: &TestApp, http: &Client, user: &str, password: &str) {
    let res = post(
        app,
        http,
        "/api/register",
        &[("username", user), ("password", password)],
    )
    .await;
    assert_eq!(
        res.status(),
        200,
        "register {user}: {}",
        res.text().await.unwrap_or_default()
    );
}

/// Signs in; returns the response status.
pub async fn login(app: &TestApp, http: &Client, user: &str, password: &str) -> u16 {
    post(
        app,
        http,
        "/api/login",
        &[("username", user), ("password", password)],
    )
    .await
    .status()
    .as_u16()
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
