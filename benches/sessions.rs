//! Benchmark: session throughput and Redis cost, sessionboard's store against a plain
//! tower-sessions + tower-sessions-redis-store setup. Run with `scripts/bench` (which starts a
//! private redis-server on a free loopback port and passes it in `BENCH_REDIS_PORT`).
//!
//! With `BENCH_NODE_ADDR` (set by scripts/bench) the Node stack it replaces is measured too.
//!
//! Prints, for each stack: increments/s with 32 clients on one session and how many increments
//! were lost; reads/s; and Redis commands per read, per write and per session list.

use std::{
    collections::HashMap,
    net::SocketAddr,
    time::{Duration, Instant},
};

use axum::{routing::get, Router};
use fred::prelude::{ClientLike, Config, Pool};
use leptos::prelude::LeptosOptions;
use secrecy::SecretString;
use sessionboard::server::{config::Settings, startup::Application};
use tower_sessions::{Session, SessionManagerLayer};
use tower_sessions_redis_store::RedisStore;

const CLIENTS: usize = 32;
const INCREMENTS_PER_CLIENT: usize = 100;
const READS: usize = 4_000;
const TIME_LIMIT: Duration = Duration::from_secs(60);

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    let port: u16 = std::env::var("BENCH_REDIS_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .expect("BENCH_REDIS_PORT: the port of a private redis-server (scripts/bench starts one)");
    let admin = Pool::new(
        Config::from_url(&format!("redis://127.0.0.1:{port}")).unwrap(),
        None,
        None,
        None,
        1,
    )
    .unwrap();
    admin.init().await.expect("bench Redis");

    println!("sessionboard session benchmark — {CLIENTS} clients, loopback, release build");
    println!();

    let ours = spawn_sessionboard(port).await;
    let plain = spawn_plain(port).await;
    let mut stacks = vec![
        (
            "sessionboard (hash + atomic ops)",
            ours,
            "/api/increment",
            "/api/session",
        ),
        (
            "plain tower-sessions-redis-store",
            plain,
            "/increment",
            "/read",
        ),
    ];
    // scripts/bench starts the Node stack (express-session + connect-redis) when npm can install it.
    let node = std::env::var("BENCH_NODE_ADDR")
        .ok()
        .and_then(|a| a.parse::<SocketAddr>().ok());
    if let Some(node) = node {
        stacks.push((
            "node: express-session + connect-redis",
            node,
            "/increment",
            "/read",
        ));
    }
    for (name, base, increment_path, read_path) in stacks {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .unwrap();
        let url = |path: &str| format!("http://{base}{path}");
        // One session for everything below.
        http.post(url(increment_path))
            .header("accept", "application/json")
            .header("sec-fetch-site", "same-origin")
            .send()
            .await
            .unwrap();

        let counter_before = read_counter(&http, &url(read_path)).await;
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..CLIENTS {
            let http = http.clone();
            let target = url(increment_path);
            tasks.push(tokio::spawn(async move {
                let mut sent = 0usize;
                for _ in 0..INCREMENTS_PER_CLIENT {
                    if started.elapsed() > TIME_LIMIT {
                        break;
                    }
                    let res = http
                        .post(&target)
                        .header("accept", "application/json")
                        .header("sec-fetch-site", "same-origin")
                        .send()
                        .await;
                    if res.map(|r| r.status().is_success()).unwrap_or(false) {
                        sent += 1;
                    }
                }
                sent
            }));
        }
        let mut sent = 0;
        for task in tasks {
            sent += task.await.unwrap();
        }
        let took = started.elapsed();
        let counter_after = read_counter(&http, &url(read_path)).await;
        let kept = (counter_after - counter_before) as usize;

        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..CLIENTS {
            let http = http.clone();
            let target = url(read_path);
            tasks.push(tokio::spawn(async move {
                for _ in 0..READS / CLIENTS {
                    if started.elapsed() > TIME_LIMIT {
                        break;
                    }
                    let _ = http.get(&target).send().await;
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let read_took = started.elapsed();

        let per_read = commands_per(&admin, 100, || async {
            for _ in 0..100 {
                http.get(url(read_path)).send().await.unwrap();
            }
        })
        .await;
        let per_write = commands_per(&admin, 100, || async {
            for _ in 0..100 {
                http.post(url(increment_path))
                    .header("accept", "application/json")
                    .header("sec-fetch-site", "same-origin")
                    .send()
                    .await
                    .unwrap();
            }
        })
        .await;

        println!("{name}");
        println!("  increments: {sent} acknowledged in {took:.2?} = {:.0}/s; counter grew by {kept}; lost {} ({:.1} %)",
            sent as f64 / took.as_secs_f64(), sent.saturating_sub(kept), 100.0 * sent.saturating_sub(kept) as f64 / sent.max(1) as f64);
        println!(
            "  reads: {READS} in {read_took:.2?} = {:.0}/s",
            READS as f64 / read_took.as_secs_f64()
        );
        println!("  Redis commands per read: {}", format_counts(&per_read));
        println!("  Redis commands per write: {}", format_counts(&per_write));
        println!();
    }

    // The cost of "Your sessions" for a user signed in 5 times.
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    for _ in 0..5 {
        let jar = reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .unwrap();
        jar.post(format!("http://{ours}/api/login"))
            .header("accept", "application/json")
            .header("sec-fetch-site", "same-origin")
            .form(&[("username", "bench"), ("password", "bench password")])
            .send()
            .await
            .unwrap();
    }
    http.post(format!("http://{ours}/api/login"))
        .header("accept", "application/json")
        .header("sec-fetch-site", "same-origin")
        .form(&[("username", "bench"), ("password", "bench password")])
        .send()
        .await
        .unwrap();
    let per_list = commands_per(&admin, 10, || async {
        for _ in 0..10 {
            http.get(format!("http://{ours}/api/sessions"))
                .send()
                .await
                .unwrap();
        }
    })
    .await;
    println!(
        "sessionboard: Redis commands per \"Your sessions\" list (6 sessions): {}",
        format_counts(&per_list)
    );

    // One sign-in, end to end (Argon2id m=19 MiB t=2 p=1 dominates), one after another.
    let logins = 10;
    let started = Instant::now();
    for _ in 0..logins {
        let jar = reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .unwrap();
        let res = jar
            .post(format!("http://{ours}/api/login"))
            .header("accept", "application/json")
            .header("sec-fetch-site", "same-origin")
            .form(&[("username", "bench"), ("password", "bench password")])
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success());
    }
    println!(
        "sessionboard: one sign-in takes {:.1?} (mean of {logins}, sequential)",
        started.elapsed() / logins
    );
}

async fn read_counter(http: &reqwest::Client, url: &str) -> i64 {
    let value: serde_json::Value = http.get(url).send().await.unwrap().json().await.unwrap();
    value["counter"].as_i64().unwrap_or(0)
}

/// Commands Redis ran per request while `work` sent `requests` requests.
async fn commands_per<F, Fut>(admin: &Pool, requests: u64, work: F) -> Vec<(String, f64)>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let _: () = admin
        .next()
        .custom(fred::cmd!("CONFIG"), vec!["RESETSTAT"])
        .await
        .unwrap();
    work().await;
    let info: String = admin
        .next()
        .info(Some(fred::types::InfoKind::CommandStats))
        .await
        .unwrap();
    let mut counts: HashMap<String, u64> = HashMap::new();
    for line in info.lines() {
        if let Some((name, stats)) = line
            .strip_prefix("cmdstat_")
            .and_then(|l| l.split_once(':'))
        {
            if name.starts_with("config") || name == "info" {
                continue;
            }
            if let Some(calls) = stats.split(',').find_map(|kv| kv.strip_prefix("calls=")) {
                counts.insert(name.to_string(), calls.parse().unwrap_or(0));
            }
        }
    }
    let mut per: Vec<(String, f64)> = counts
        .into_iter()
        .map(|(k, v)| (k, v as f64 / requests as f64))
        .collect();
    per.sort_by(|a, b| a.0.cmp(&b.0));
    per
}

fn format_counts(counts: &[(String, f64)]) -> String {
    let total: f64 = counts.iter().map(|(_, n)| n).sum();
    let parts: Vec<String> = counts
        .iter()
        .map(|(name, n)| format!("{name} {n:.2}"))
        .collect();
    format!("{total:.2} ({})", parts.join(", "))
}

async fn spawn_sessionboard(redis_port: u16) -> SocketAddr {
    let env: HashMap<String, String> = HashMap::from([
        ("LEPTOS_ENV".into(), "PROD".into()),
        ("LEPTOS_SITE_ADDR".into(), "127.0.0.1:0".into()),
        ("REDIS_PORT".into(), redis_port.to_string()),
        ("REDIS_POOL_SIZE".into(), "8".into()),
        ("SESSION_COOKIE_SECURE".into(), "false".into()),
        (
            "SESSION_SECRET".into(),
            "benchmark-secret-0123456789abcdefghij".into(),
        ),
        ("DEMO_USERS".into(), "bench:bench password".into()),
        ("LOGIN_MAX_FAILURES_PER_ADDRESS".into(), "100000".into()),
    ]);
    let settings = Settings::parse(None, &env, |_| Ok(SecretString::from(""))).expect("settings");
    let options = LeptosOptions::builder().output_name("sessionboard").build();
    let application = Application::build(settings, options, sessionboard::pages())
        .await
        .expect("connect");
    let addr = application.addr();
    tokio::spawn(application.run_until_stopped());
    addr
}

/// The setup most tower-sessions users have: the published Redis store, read-modify-write.
async fn spawn_plain(redis_port: u16) -> SocketAddr {
    let pool = Pool::new(
        Config::from_url(&format!("redis://127.0.0.1:{redis_port}")).unwrap(),
        None,
        None,
        None,
        8,
    )
    .unwrap();
    pool.init().await.unwrap();
    let layer = SessionManagerLayer::new(RedisStore::new(pool)).with_secure(false);
    async fn increment(session: Session) -> String {
        let n: i64 = session.get("counter").await.unwrap_or(None).unwrap_or(0);
        session.insert("counter", n + 1).await.ok();
        (n + 1).to_string()
    }
    async fn read(session: Session) -> axum::Json<serde_json::Value> {
        let n: i64 = session.get("counter").await.unwrap_or(None).unwrap_or(0);
        axum::Json(serde_json::json!({ "counter": n }))
    }
    let app = Router::new()
        .route("/increment", axum::routing::post(increment))
        .route("/read", get(read))
        .layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}
