//! Following a sentinel failover.
//!
//! fred asks the sentinels for the master only when it (re)connects, and a master demoted by a
//! planned `SENTINEL FAILOVER` stays up and keeps accepting writes until the sentinels turn it
//! into a replica, seconds later — writes that its new master then throws away. So we listen to
//! `+switch-master` on every sentinel and move the pool to the new master as soon as one
//! announces it.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use fred::{
    clients::SubscriberClient,
    prelude::{ClientLike, Config, EventInterface, Pool, PubsubInterface, ServerConfig},
    types::{config::Server, Builder},
};

use super::{failure, reconnect_policy};

const SWITCH_MASTER: &str = "+switch-master";
/// How often and how long to retry until the pool sits on the announced master: the other
/// sentinels may still name the old one for a moment.
const FOLLOW_ATTEMPTS: u32 = 40;
const FOLLOW_PAUSE: Duration = Duration::from_millis(250);

/// The clients subscribed to the sentinels; quit them on shutdown.
#[derive(Clone, Default)]
pub struct SentinelWatch {
    clients: Vec<SubscriberClient>,
}

impl SentinelWatch {
    /// Subscribes to every sentinel of `config` (nothing for other topologies).
    pub fn start(config: &Config, pool: &Pool, timeout: Duration) -> SentinelWatch {
        let ServerConfig::Sentinel {
            hosts,
            service_name,
            username,
            password,
        } = &config.server
        else {
            return SentinelWatch::default();
        };
        let following = Arc::new(Mutex::new(None::<String>));
        let clients = hosts
            .iter()
            .filter_map(|host| {
                let sentinel = Config {
                    server: ServerConfig::Centralized {
                        server: host.clone(),
                    },
                    username: username.clone(),
                    password: password.clone(),
                    tls: config.tls.clone(),
                    ..Config::default()
                };
                let client = Builder::from_config(sentinel)
                    .with_connection_config(|conn| {
                        conn.connection_timeout = timeout;
                        conn.internal_command_timeout = timeout;
                    })
                    .set_policy(reconnect_policy())
                    .build_subscriber_client()
                    .ok()?;
                listen(&client, host, service_name.clone(), pool.clone(), following.clone());
                Some(client)
            })
            .collect();
        SentinelWatch { clients }
    }

    pub async fn quit(&self) {
        for client in &self.clients {
            let _ = client.quit().await;
        }
    }
}

fn listen(
    client: &SubscriberClient,
    host: &Server,
    service: String,
    pool: Pool,
    following: Arc<Mutex<Option<String>>>,
) {
    client.on_message(move |message| {
        let text = message.value.as_string().unwrap_or_default();
        // "<service> <old ip> <old port> <new ip> <new port>"
        let parts: Vec<&str> = text.split_whitespace().collect();
        if let [name, old_host, old_port, new_host, new_port] = parts[..] {
            if name == service {
                let old = format!("{old_host}:{old_port}");
                let new = format!("{new_host}:{new_port}");
                let mut current = following.lock().unwrap_or_else(|e| e.into_inner());
                if current.as_deref() != Some(new.as_str()) {
                    *current = Some(new.clone());
                    tokio::spawn(follow(pool.clone(), old, new, following.clone()));
                }
            }
        }
        async { Ok(()) }
    });
    let client = client.clone();
    let host = format!("{}:{}", host.host, host.port);
    tokio::spawn(async move {
        let _ = client.manage_subscriptions();
        let connected = async {
            client.init().await?;
            client.subscribe(SWITCH_MASTER).await
        };
        if let Err(err) = connected.await {
            tracing::warn!(sentinel = %host, error = %failure::safe_text(&err), "cannot listen to this sentinel yet; retrying in the background");
        }
    });
}

/// Reconnects the pool until every connection sits on `new`, or gives up after a bounded time.
async fn follow(pool: Pool, old: String, new: String, following: Arc<Mutex<Option<String>>>) {
    tracing::warn!(old_master = %old, new_master = %new, "the sentinels moved the Redis master; reconnecting");
    for _ in 0..FOLLOW_ATTEMPTS {
        let _ = tokio::time::timeout(FOLLOW_PAUSE * 8, pool.force_reconnection()).await;
        let servers = pool.active_connections();
        let on_new = |s: &Server| format!("{}:{}", s.host, s.port) == new;
        if !servers.is_empty() && servers.iter().all(on_new) {
            tracing::info!(new_master = %new, "now writing to the new Redis master");
            return;
        }
        tokio::time::sleep(FOLLOW_PAUSE).await;
    }
    tracing::error!(new_master = %new, "could not move every connection to the new Redis master; fred keeps reconnecting");
    following.lock().unwrap_or_else(|e| e.into_inner()).take();
}
