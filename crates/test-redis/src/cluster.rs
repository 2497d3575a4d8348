//! A Redis Cluster of three masters with a replica each, on loopback.

use std::{
    net::TcpListener,
    process::{Command, Stdio},
    time::Duration,
};

use crate::{free_port, plain, wait_until, Redis};

/// Three masters and three replicas, every slot served and every replica in sync once started.
pub struct Cluster {
    pub nodes: Vec<Redis>,
}

/// A free port whose cluster bus port (port + 10000) is free too.
fn cluster_port() -> u16 {
    loop {
        let port = free_port();
        if port <= 55_535 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

impl Cluster {
    pub fn start() -> Cluster {
        let options = [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            "1000",
            "--cluster-replica-validity-factor",
            "0",
        ];
        let node = || {
            Redis::launch(cluster_port, Vec::new(), |port, dir| {
                let mut args = plain(port, dir);
                args.extend(options.map(String::from));
                args
            })
        };
        let nodes: Vec<Redis> = (0..6).map(|_| node()).collect();
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let created = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addrs)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("redis-cli --cluster create");
        assert!(created.success(), "cluster create");
        let cluster = Cluster { nodes };
        wait_until("the cluster is healthy", Duration::from_secs(20), || {
            cluster.live().all(|n| {
                n.info("cluster", "cluster_state") == "ok"
                    && (n.info("replication", "role") == "master"
                        || n.info("replication", "master_link_status") == "up")
            })
        });
        cluster
    }

    fn live(&self) -> impl Iterator<Item = &Redis> {
        self.nodes.iter().filter(|n| n.is_running())
    }

    pub fn url(&self) -> String {
        let first = self.nodes[0].port;
        let others: Vec<String> = self.nodes[1..]
            .iter()
            .map(|n| format!("node=127.0.0.1:{}", n.port))
            .collect();
        format!("redis-cluster://127.0.0.1:{first}?{}", others.join("&"))
    }

    /// Indexes of the nodes that are masters now.
    pub fn masters(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| {
                let node = &self.nodes[i];
                node.is_running() && node.info("replication", "role") == "master"
            })
            .collect()
    }

    /// Which node (index) holds `key` as master.
    pub fn master_of(&self, key: &str) -> Option<usize> {
        self.masters()
            .into_iter()
            .find(|&i| self.nodes[i].cli(&["EXISTS", key]).trim() == "1")
    }

    /// The keys matching `pattern` on every master, sorted.
    pub fn keys(&self, pattern: &str) -> Vec<String> {
        let masters = self.masters().into_iter();
        let mut keys: Vec<String> = masters.flat_map(|i| self.nodes[i].keys(pattern)).collect();
        keys.sort();
        keys
    }

    /// PTTL through any live node, following redirects (-3 if it answers no number).
    pub fn pttl(&self, key: &str) -> i64 {
        let node = self.live().next().expect("a live node");
        let out = node.cli(&["-c", "PTTL", key]);
        out.trim().parse().unwrap_or(-3)
    }
}
