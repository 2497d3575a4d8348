//! `redis-server` processes for the workspace's tests (the app's and the store crate's), each on
//! a free loopback port — never the machine's Redis on 6379 — and killed by pid when dropped: a
//! single server ([`Redis`]), a cluster ([`Cluster`]), a sentinel group ([`SentinelGroup`]) and
//! TLS servers with a CA made at test time ([`Certificates`]). Every wait polls for its effect.
//!
//! No crate is used: those that start Redis for tests run it in Docker, and these tests need the
//! processes themselves (SIGKILL for an outage, SIGSTOP for a silent partition). It is blocking
//! and has no dependency, so it serves any test runtime and builds on the store crate's
//! rust-version.

mod cluster;
mod sentinel;
mod tls;

use std::{
    collections::HashMap,
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicU32, Ordering},
        Mutex,
    },
    time::{Duration, Instant},
};

pub use cluster::Cluster;
pub use sentinel::{SentinelGroup, SERVICE};
pub use tls::Certificates;

/// Options after the defaults: every write persisted at once, so a restart keeps it.
pub const AOF: [&str; 4] = ["--appendonly", "yes", "--appendfsync", "always"];

const POLL: Duration = Duration::from_millis(20);
const START_WITHIN: Duration = Duration::from_secs(10);

/// A free loopback port, never one handed out before in this process: a test's Redis keeps its
/// port while it is stopped (an outage), and another test must not start a server there
/// meanwhile — the first test's client would reconnect to it. (The kernel may offer a port
/// again as soon as it is closed.)
pub fn free_port() -> u16 {
    static HANDED_OUT: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|addr| addr.port())
            .expect("a free port");
        if !handed_out.contains(&port) {
            handed_out.push(port);
            return port;
        }
    }
}

/// Asks `check` every 20 ms until it answers true; panics naming `what` once `within` passed.
pub fn wait_until(what: &str, within: Duration, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < within, "{what}: not within {within:?}");
        std::thread::sleep(POLL);
    }
}

/// A folder of the test's own under the system temp folder, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("test-redis-{}-{n}", std::process::id()));
        // A folder left by an earlier process of the same pid must not lend its data.
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a scratch folder");
        Scratch(dir)
    }

    fn file(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The options every server starts with: loopback only, nothing saved, data in `dir`.
fn plain(port: u16, dir: &Scratch) -> Vec<String> {
    let port = port.to_string();
    let dir = dir.0.display().to_string();
    let list = ["--port", &port, "--bind", "127.0.0.1", "--save", ""];
    let mut args: Vec<String> = list.iter().map(|s| s.to_string()).collect();
    args.extend(["--appendonly", "no", "--dir", &dir].map(String::from));
    args
}

/// One `redis-server` (or sentinel) process of the test's own, killed by pid when dropped.
pub struct Redis {
    pub port: u16,
    /// Its command line, to start it again the same way.
    args: Vec<String>,
    /// What `redis-cli` needs besides host and port (TLS files).
    cli_args: Vec<String>,
    child: Option<Child>,
    /// Its data folder (the AOF, the cluster state, the sentinel's config), kept across a stop.
    dir: Scratch,
}

impl Redis {
    /// A server on loopback that saves nothing.
    pub fn start() -> Redis {
        Redis::start_with(&[])
    }

    /// [`Redis::start`] with `extra` options after the defaults: say [`AOF`], or `--replicaof`.
    pub fn start_with(extra: &[&str]) -> Redis {
        Redis::launch(free_port, Vec::new(), |port, dir| {
            let mut args = plain(port, dir);
            args.extend(extra.iter().map(|s| s.to_string()));
            args
        })
    }

    /// `redis-server <args(port, dir)>` on a port from `pick`, once it answers `PING`; on
    /// another port if it exits first (another process took the port meanwhile).
    fn launch(
        pick: fn() -> u16,
        cli_args: Vec<String>,
        args: impl Fn(u16, &Scratch) -> Vec<String>,
    ) -> Redis {
        for _ in 0..5 {
            let port = pick();
            let dir = Scratch::new();
            let mut redis = Redis {
                port,
                args: args(port, &dir),
                cli_args: cli_args.clone(),
                child: None,
                dir,
            };
            if redis.spawn() {
                return redis;
            }
        }
        panic!("redis-server exited at start on 5 free ports in a row");
    }

    /// Starts it again on the same port, options and data folder, once it answers.
    pub fn resume(&mut self) {
        assert!(self.child.is_none(), "already running");
        let port = self.port;
        assert!(
            self.spawn(),
            "redis-server exited instead of starting on {port} again"
        );
    }

    /// Spawns the process and polls `PING` until it answers (true) or the process exits.
    fn spawn(&mut self) -> bool {
        let child = Command::new("redis-server")
            .args(&self.args)
            .current_dir(&self.dir.0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (scripts/setup installs it)");
        self.child = Some(child);
        let started = Instant::now();
        loop {
            if self.cli(&["PING"]).trim() == "PONG" {
                return true;
            }
            let child = self.child.as_mut().expect("just spawned");
            if !matches!(child.try_wait(), Ok(None)) {
                self.child = None;
                return false;
            }
            let port = self.port;
            assert!(
                started.elapsed() < START_WITHIN,
                "redis-server on {port} did not answer PING within {START_WITHIN:?}"
            );
            std::thread::sleep(POLL);
        }
    }

    /// Started and not stopped since (a paused one runs).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// SIGKILL (an outage, not a clean shutdown), and reaped: its port is closed on return.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the process (`SIGSTOP`) or lets it go on (`SIGCONT`): a path to Redis that goes
    /// silent with no connection closed, as a partition or a stalled proxy leaves it.
    pub fn pause(&self, paused: bool) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        let signal = if paused { "-STOP" } else { "-CONT" };
        let status = Command::new("kill").args([signal, &pid]).status();
        assert!(status.is_ok_and(|s| s.success()), "kill {signal} {pid}");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Runs `redis-cli` against this server; its output.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(&self.cli_args)
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli must be installed (scripts/setup installs it)");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The value of `field` in `INFO <section>` (`CLUSTER INFO` for "cluster").
    pub fn info(&self, section: &str, field: &str) -> String {
        let text = match section {
            "cluster" => self.cli(&["CLUSTER", "INFO"]),
            _ => self.cli(&["INFO", section]),
        };
        let prefix = format!("{field}:");
        let line = text.lines().find_map(|l| l.strip_prefix(&prefix));
        line.unwrap_or_default().trim().to_string()
    }

    /// The keys matching `pattern` on this server (not following a cluster), sorted.
    pub fn keys(&self, pattern: &str) -> Vec<String> {
        let out = self.cli(&["--scan", "--pattern", pattern]);
        let mut keys: Vec<String> = out
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
        keys.sort();
        keys
    }

    /// The key's TTL in milliseconds (-2: no key, -1: no TTL).
    pub fn pttl(&self, key: &str) -> i64 {
        let out = self.cli(&["PTTL", key]);
        let ttl = out.trim().parse();
        ttl.unwrap_or_else(|_| panic!("PTTL {key} answers a number, not {out:?}"))
    }

    /// How many times Redis ran each command since it started (or the last `CONFIG RESETSTAT`).
    pub fn command_counts(&self) -> HashMap<String, u64> {
        self.cli(&["INFO", "commandstats"])
            .lines()
            .filter_map(|line| {
                let (name, stats) = line.strip_prefix("cmdstat_")?.split_once(':')?;
                let calls = stats.split(',').find_map(|kv| kv.strip_prefix("calls="))?;
                Some((name.to_string(), calls.parse().ok()?))
            })
            .collect()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}
