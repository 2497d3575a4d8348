//! Following a sentinel failover.
//!
//! fred asks the sentinels for the master only when it (re)connects, and a master demoted by a
//! planned `SENTINEL FAILOVER` stays up and keeps accepting writes until the sentinels turn it
//! into a replica, seconds later — writes that its new master then throws away. So we listen to
//! `+switch-master` on every sentinel and move the pool to the new master as soon as one
//! announces it.
//!
//! Following alone still loses the writes made between the replica's promotion and the switch
//! (about a second). So when a sentinel starts a failover (`+try-failover`, published a few
//! sentinel ticks before it promotes the replica), a [`Fence`] goes up: new requests wait for the
//! switch (or answer 503 when it takes too long) instead of writing to a master on its way out.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use tokio::sync::Notify;

use fred::{
    clients::SubscriberClient,
    prelude::{ClientLike, Config, EventInterface, Pool, PubsubInterface, ServerConfig},
    types::{config::Server, Builder},
};

use super::{failure, reconnect_policy};

const SWITCH_MASTER: &str = "+switch-master";
const TRY_FAILOVER: &str = "+try-failover";
/// A failover that ended without a switch: the fence comes down.
const ABORTED: [&str; 4] = [
    "-failover-abort-not-elected",
    "-failover-abort-no-good-slave",
    "-failover-abort-slave-timeout",
    "+failover-end-for-timeout",
];
/// A fence older than this is ignored: a switch we missed must not hold requests forever.
const FENCE_LIMIT: Duration = Duration::from_secs(10);

/// Up while a failover of our master is under way.
#[derive(Clone, Default)]
pub struct Fence(Arc<FenceState>);

#[derive(Default)]
struct FenceState {
    since: Mutex<Option<Instant>>,
    lifted: Notify,
}

impl Fence {
    fn raise(&self) {
        let mut since = self.0.since.lock().unwrap_or_else(|e| e.into_inner());
        since.get_or_insert_with(Instant::now);
    }

    fn lift(&self) {
        self.0
            .since
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        self.0.lifted.notify_waiters();
    }

    fn is_up(&self) -> bool {
        let since = *self.0.since.lock().unwrap_or_else(|e| e.into_inner());
        since.is_some_and(|since| since.elapsed() < FENCE_LIMIT)
    }

    /// Waits while a failover is under way, at most `limit`; `false` when it still is.
    pub async fn pass(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let lifted = self.0.lifted.notified();
            if !self.is_up() {
                return true;
            }
            if tokio::time::timeout_at(deadline, lifted).await.is_err() {
                return !self.is_up();
            }
        }
    }
}
/// How often and how long to retry until the pool sits on the announced master: the other
/// sentinels may still name the old one for a moment.
const FOLLOW_ATTEMPTS: u32 = 40;
const FOLLOW_PAUSE: Duration = Duration::from_millis(250);

/// The clients subscribed to the sentinels; quit them on shutdown.
#[derive(Clone, Default)]
pub struct SentinelWatch {
    clients: Vec<SubscriberClient>,
    pub fence: Fence,
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
        let fence = Fence::default();
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
                let target = Target {
                    service: service_name.clone(),
                    pool: pool.clone(),
                    following: following.clone(),
                    fence: fence.clone(),
                };
                listen(&client, host, target);
                Some(client)
            })
            .collect();
        SentinelWatch { clients, fence }
    }

    pub async fn quit(&self) {
        for client in &self.clients {
            let _ = client.quit().await;
        }
    }
}

/// What a sentinel's events act on.
#[derive(Clone)]
struct Target {
    service: String,
    pool: Pool,
    following: Arc<Mutex<Option<String>>>,
    fence: Fence,
}

impl Target {
    fn on_event(&self, channel: &str, text: &str) {
        let parts: Vec<&str> = text.split_whitespace().collect();
        if channel == SWITCH_MASTER {
            // "<service> <old ip> <old port> <new ip> <new port>"
            if let [name, old_host, old_port, new_host, new_port] = parts[..] {
                if name == self.service {
                    self.switch(
                        format!("{old_host}:{old_port}"),
                        format!("{new_host}:{new_port}"),
                    );
                }
            }
            return;
        }
        // "master <service> <ip> <port> …"
        if parts.get(1) != Some(&self.service.as_str()) {
            return;
        }
        if channel == TRY_FAILOVER {
            tracing::warn!(master = %format!("{}:{}", parts.get(2).unwrap_or(&"?"), parts.get(3).unwrap_or(&"?")), "a sentinel failover has started; holding requests until the new master is known");
            self.fence.raise();
        } else if ABORTED.contains(&channel) {
            tracing::warn!(event = %channel, "the sentinel failover ended without a new master");
            self.fence.lift();
        }
    }

    fn switch(&self, old: String, new: String) {
        let mut current = self.following.lock().unwrap_or_else(|e| e.into_inner());
        if current.as_deref() != Some(new.as_str()) {
            *current = Some(new.clone());
            self.fence.raise();
            tokio::spawn(follow(self.clone(), old, new));
        }
    }
}

fn listen(client: &SubscriberClient, host: &Server, target: Target) {
    client.on_message(move |message| {
        let text = message.value.as_string().unwrap_or_default();
        target.on_event(&message.channel, &text);
        async { Ok(()) }
    });
    let client = client.clone();
    let host = format!("{}:{}", host.host, host.port);
    tokio::spawn(async move {
        // Re-subscribes after every reconnection; the task ends with the client.
        drop(client.manage_subscriptions());
        let connected = async {
            client.init().await?;
            let mut channels = vec![SWITCH_MASTER, TRY_FAILOVER];
            channels.extend(ABORTED);
            client.subscribe(channels).await
        };
        if let Err(err) = connected.await {
            tracing::warn!(sentinel = %host, error = %failure::safe_text(&err), "cannot listen to this sentinel yet; retrying in the background");
        }
    });
}

/// Reconnects the pool until every connection sits on `new`, or gives up after a bounded time.
async fn follow(target: Target, old: String, new: String) {
    let Target {
        pool,
        following,
        fence,
        ..
    } = target;
    tracing::warn!(old_master = %old, new_master = %new, "the sentinels moved the Redis master; reconnecting");
    for _ in 0..FOLLOW_ATTEMPTS {
        let _ = tokio::time::timeout(FOLLOW_PAUSE * 8, pool.force_reconnection()).await;
        let servers = pool.active_connections();
        let on_new = |s: &Server| format!("{}:{}", s.host, s.port) == new;
        if !servers.is_empty() && servers.iter().all(on_new) {
            tracing::info!(new_master = %new, "now writing to the new Redis master");
            fence.lift();
            return;
        }
        tokio::time::sleep(FOLLOW_PAUSE).await;
    }
    tracing::error!(new_master = %new, "could not move every connection to the new Redis master; fred keeps reconnecting");
    following.lock().unwrap_or_else(|e| e.into_inner()).take();
    fence.lift();
}
