//! A visit counter under this crate's `SessionLayer`, its sessions in Redis: the same handlers
//! as the `stock_layer` example, with per-key saves, no write for a request that changes
//! nothing, and JSON 503/409 answers when a change cannot be stored.
//!
//! ```sh
//! REDIS_URL=redis://127.0.0.1:6379 LISTEN=127.0.0.1:3000 \
//!     cargo run -p tower-sessions-fred-store --example own_layer
//! curl -c jar -b jar http://127.0.0.1:3000/    # 1, then 2, 3, …
//! curl -c jar -b jar http://127.0.0.1:3000/reset
//! ```
//!
//! `SESSION_SECRET` signs the cookies; without it a random key is used, and every restart signs
//! everybody out.

use std::{env, time::Duration};

use axum::{http::StatusCode, routing::get, Router};
use fred::prelude::{Builder, ClientLike, Config, ReconnectPolicy};
use tower_sessions::{cookie::Key, Session};
use tower_sessions_fred_store::{CookieSettings, RedisSessionStore, SessionLayer};

async fn count(session: Session) -> Result<String, StatusCode> {
    let visits: i64 = session
        .get("visits")
        .await
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?
        .unwrap_or(0)
        + 1;
    session
        .insert("visits", visits)
        .await
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
    Ok(format!("{visits}\n"))
}

async fn reset(session: Session) -> Result<&'static str, StatusCode> {
    session
        .flush()
        .await
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
    Ok("reset\n")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let redis_url = env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let listen = env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let key = match env::var("SESSION_SECRET") {
        Ok(secret) => CookieSettings::key_from_secret(secret.as_bytes()),
        Err(_) => Key::generate(),
    };

    // Reconnecting forever, backing off up to 5 s: while Redis is away, the store's breaker
    // answers at once instead of every request waiting for a command timeout.
    let pool = Builder::from_config(Config::from_url(&redis_url)?)
        .set_policy(ReconnectPolicy::new_exponential(0, 100, 5_000, 2))
        .build_pool(4)?;
    pool.init().await?;

    let store = RedisSessionStore::builder(pool)
        .key_prefix("example:")
        .anonymous_idle_timeout(Duration::from_secs(86_400))
        .typed_key::<i64>("visits")
        .build();
    // Plain HTTP for the example; keep cookies `Secure` behind TLS.
    let cookie = CookieSettings::new(key).with_secure(false);

    let app = Router::new()
        .route("/", get(count))
        .route("/reset", get(reset))
        .layer(SessionLayer::new(store, cookie));
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("listening on http://{listen}");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
