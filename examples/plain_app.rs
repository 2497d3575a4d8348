//! The baseline `scripts/bench` measures sessionboard against: the setup most tower-sessions
//! users have — axum, tower-sessions' `SessionManagerLayer`, the published
//! `tower-sessions-redis-store` and a fred pool, read-modify-write of a counter, no Leptos.
//!
//! `PLAIN_ADDR` (default 127.0.0.1:3100), `REDIS_PORT` (default 6379 on 127.0.0.1),
//! `REDIS_POOL_SIZE` (default 4, sessionboard's default). Routes: `POST /increment` answers the
//! new counter, `GET /read` answers `{"counter": n}`. Prints `ready` once it listens.
//!
//! Build: `cargo build --release --example plain_app --features ssr`.

use axum::{
    routing::{get, post},
    Json, Router,
};
use fred::prelude::{ClientLike, Config, Pool};
use tower_sessions_014::{Session, SessionManagerLayer};
use tower_sessions_redis_store::RedisStore;

async fn increment(session: Session) -> String {
    let n: i64 = session.get("counter").await.unwrap_or(None).unwrap_or(0);
    session.insert("counter", n + 1).await.ok();
    (n + 1).to_string()
}

async fn read(session: Session) -> Json<serde_json::Value> {
    let n: i64 = session.get("counter").await.unwrap_or(None).unwrap_or(0);
    Json(serde_json::json!({ "counter": n }))
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let redis_port = env_or("REDIS_PORT", "6379");
    let pool_size: usize = env_or("REDIS_POOL_SIZE", "4").parse()?;
    let config = Config::from_url(&format!("redis://127.0.0.1:{redis_port}"))?;
    let pool = Pool::new(config, None, None, None, pool_size)?;
    pool.init().await?;

    let sessions = SessionManagerLayer::new(RedisStore::new(pool)).with_secure(false);
    let app = Router::new()
        .route("/increment", post(increment))
        .route("/read", get(read))
        .layer(sessions);
    let listener = tokio::net::TcpListener::bind(env_or("PLAIN_ADDR", "127.0.0.1:3100")).await?;
    println!("ready");
    axum::serve(listener, app).await?;
    Ok(())
}
