//! A master, its replica and three sentinels watching them, on loopback.

use std::time::Duration;

use crate::{free_port, wait_until, Redis};

/// The name the sentinels know the master by.
pub const SERVICE: &str = "main";

pub struct SentinelGroup {
    /// The master and its replica (which is which changes with a failover).
    pub servers: Vec<Redis>,
    pub sentinels: Vec<Redis>,
}

impl SentinelGroup {
    /// Started, and ready (see [`SentinelGroup::wait_ready`]).
    pub fn start() -> SentinelGroup {
        let master = Redis::start();
        let master_port = master.port.to_string();
        let replica = Redis::start_with(&["--replicaof", "127.0.0.1", &master_port]);
        let sentinel = || {
            Redis::launch(free_port, Vec::new(), |port, dir| {
                let conf = dir.file("sentinel.conf");
                let text = format!(
                    "port {port}\nbind 127.0.0.1\ndir {}\n\
                     sentinel monitor {SERVICE} 127.0.0.1 {master_port} 2\n\
                     sentinel down-after-milliseconds {SERVICE} 1000\n\
                     sentinel failover-timeout {SERVICE} 3000\n",
                    dir.0.display()
                );
                std::fs::write(&conf, text).expect("the sentinel's config");
                vec![conf, "--sentinel".to_string()]
            })
        };
        let group = SentinelGroup {
            servers: vec![master, replica],
            sentinels: (0..3).map(|_| sentinel()).collect(),
        };
        group.wait_ready();
        group
    }

    /// Every sentinel knows the replica and the two other sentinels, and a replica is in sync.
    pub fn wait_ready(&self) {
        wait_until("the sentinels are ready", Duration::from_secs(30), || {
            self.sentinels.iter().all(|s| {
                let master = s.cli(&["SENTINEL", "master", SERVICE]);
                let field = |name: &str| {
                    let mut lines = master.lines();
                    lines.by_ref().find(|l| l.trim() == name);
                    lines.next().unwrap_or_default().trim().to_string()
                };
                field("num-slaves") == "1" && field("num-other-sentinels") == "2"
            }) && self
                .servers
                .iter()
                .any(|n| n.is_running() && n.info("replication", "master_link_status") == "up")
        });
    }

    pub fn url(&self) -> String {
        let first = self.sentinels[0].port;
        let others: String = self.sentinels[1..]
            .iter()
            .map(|n| format!("&node=127.0.0.1:{}", n.port))
            .collect();
        format!("redis-sentinel://127.0.0.1:{first}?sentinelServiceName={SERVICE}{others}")
    }

    /// The port of the master the first sentinel names (0 if it names none).
    pub fn master_port(&self) -> u16 {
        let out = self.sentinels[0].cli(&["SENTINEL", "get-master-addr-by-name", SERVICE]);
        let port = out.lines().nth(1).and_then(|p| p.trim().parse().ok());
        port.unwrap_or(0)
    }

    pub fn master(&mut self) -> &mut Redis {
        let port = self.master_port();
        let master = self.servers.iter_mut().find(|n| n.port == port);
        master.expect("the master is one of ours")
    }
}
