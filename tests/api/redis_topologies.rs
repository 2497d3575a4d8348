//! Real Redis deployments on loopback for the topology tests: a 6-node cluster, a sentinel group,
//! TLS servers with a CA made at test time, each process stopped by pid when dropped.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use crate::helpers::{eventually, free_port};

/// A folder of the test's own under the system temp folder, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "sessionboard-{name}-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }

    pub fn file(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One `redis-server` (or sentinel) process, killed by pid on drop.
pub struct Node {
    pub port: u16,
    child: Option<Child>,
    /// Extra `redis-cli` arguments (TLS files) needed to talk to it.
    cli_prefix: Vec<String>,
}

impl Node {
    /// `redis-server <args…>`, waiting until `redis-cli PING` answers on `port`.
    pub async fn start(port: u16, args: &[String], cli_prefix: Vec<String>) -> Node {
        let child = Command::new("redis-server")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed");
        let node = Node {
            port,
            child: Some(child),
            cli_prefix,
        };
        eventually("redis-server answers", Duration::from_secs(10), || {
            let answers = node.cli(&["PING"]).trim() == "PONG";
            async move { answers }
        })
        .await;
        node
    }

    /// SIGKILL: a crash, not a shutdown.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(&self.cli_prefix)
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli must be installed");
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

    /// Session keys on this node (not following the cluster).
    pub fn session_keys(&self) -> Vec<String> {
        let out = self.cli(&["--scan", "--pattern", "sessionboard:session:*"]);
        out.lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// A free port whose cluster bus port (port + 10000) is free too.
fn cluster_port() -> u16 {
    loop {
        let port = free_port();
        if port <= 55_535 && std::net::TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

/// Three masters and three replicas.
pub struct Cluster {
    pub nodes: Vec<Node>,
    _dir: Scratch,
}

impl Cluster {
    pub async fn start() -> Cluster {
        let dir = Scratch::new("cluster");
        let mut nodes = Vec::new();
        for _ in 0..6 {
            let port = cluster_port();
            let p = port.to_string();
            let conf = format!("nodes-{port}.conf");
            let mut list = args(&["--port", &p, "--bind", "127.0.0.1", "--save", ""]);
            list.extend(args(&["--appendonly", "no", "--cluster-enabled", "yes"]));
            list.extend(args(&["--cluster-config-file", &conf]));
            list.extend(args(&["--cluster-node-timeout", "1000"]));
            list.extend(args(&["--cluster-replica-validity-factor", "0"]));
            list.extend(args(&["--dir", &dir.0.display().to_string()]));
            nodes.push(Node::start(port, &list, Vec::new()).await);
        }
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let created = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("redis-cli --cluster create");
        assert!(created.success(), "cluster create");
        let cluster = Cluster { nodes, _dir: dir };
        cluster.wait_healthy().await;
        cluster
    }

    /// `cluster_state:ok` everywhere and every replica in sync with its master.
    pub async fn wait_healthy(&self) {
        eventually("the cluster is healthy", Duration::from_secs(20), || {
            let healthy = self.live().all(|n| {
                n.info("cluster", "cluster_state") == "ok"
                    && (n.info("replication", "role") == "master"
                        || n.info("replication", "master_link_status") == "up")
            });
            async move { healthy }
        })
        .await;
    }

    fn live(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|n| n.child.is_some())
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
                self.nodes[i].child.is_some()
                    && self.nodes[i].info("replication", "role") == "master"
            })
            .collect()
    }

    /// Which node (index) holds `key` as master.
    pub fn master_of(&self, key: &str) -> Option<usize> {
        self.masters()
            .into_iter()
            .find(|&i| self.nodes[i].cli(&["EXISTS", key]).trim() == "1")
    }

    pub fn session_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .masters()
            .into_iter()
            .flat_map(|i| self.nodes[i].session_keys())
            .collect();
        keys.sort();
        keys
    }

    /// PTTL through any live node, following redirects.
    pub fn pttl(&self, key: &str) -> i64 {
        let node = self.live().next().expect("a live node");
        let out = Command::new("redis-cli")
            .args([
                "-c",
                "-h",
                "127.0.0.1",
                "-p",
                &node.port.to_string(),
                "PTTL",
                key,
            ])
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(-3)
    }
}

/// A master, its replica and three sentinels watching them as `main`.
pub struct SentinelGroup {
    pub servers: Vec<Node>,
    pub sentinels: Vec<Node>,
    _dir: Scratch,
}

pub const SERVICE: &str = "main";

impl SentinelGroup {
    pub async fn start() -> SentinelGroup {
        let dir = Scratch::new("sentinel");
        let d = dir.0.display().to_string();
        let base = |port: u16| {
            let mut list = args(&["--port", &port.to_string(), "--bind", "127.0.0.1"]);
            list.extend(args(&["--save", "", "--appendonly", "no", "--dir", &d]));
            list
        };
        let master_port = free_port();
        let master = Node::start(master_port, &base(master_port), Vec::new()).await;
        let replica_port = free_port();
        let mut list = base(replica_port);
        list.extend(args(&[
            "--replicaof",
            "127.0.0.1",
            &master_port.to_string(),
        ]));
        let replica = Node::start(replica_port, &list, Vec::new()).await;
        let mut sentinels = Vec::new();
        for _ in 0..3 {
            let port = free_port();
            let conf = dir.file(&format!("sentinel-{port}.conf"));
            let text = format!(
                "port {port}\nbind 127.0.0.1\ndir {d}\n\
                 sentinel monitor {SERVICE} 127.0.0.1 {master_port} 2\n\
                 sentinel down-after-milliseconds {SERVICE} 1000\n\
                 sentinel failover-timeout {SERVICE} 3000\n"
            );
            std::fs::write(&conf, text).expect("sentinel conf");
            let sentinel = Node::start(port, &args(&[&conf, "--sentinel"]), Vec::new()).await;
            sentinels.push(sentinel);
        }
        let group = SentinelGroup {
            servers: vec![master, replica],
            sentinels,
            _dir: dir,
        };
        group.wait_ready().await;
        group
    }

    /// Every sentinel knows the replica and the two other sentinels, and the replica is in sync.
    pub async fn wait_ready(&self) {
        eventually("the sentinels are ready", Duration::from_secs(30), || {
            let ready = self.sentinels.iter().all(|s| {
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
                .any(|n| n.child.is_some() && n.info("replication", "master_link_status") == "up");
            async move { ready }
        })
        .await;
    }

    pub fn url(&self) -> String {
        let first = self.sentinels[0].port;
        let others: Vec<String> = self.sentinels[1..]
            .iter()
            .map(|n| format!("&node=127.0.0.1:{}", n.port))
            .collect();
        format!(
            "redis-sentinel://127.0.0.1:{first}?sentinelServiceName={SERVICE}{}",
            others.join("")
        )
    }

    /// Port of the master the (first live) sentinel names.
    pub fn master_port(&self) -> u16 {
        let out = self.sentinels[0].cli(&["SENTINEL", "get-master-addr-by-name", SERVICE]);
        out.lines()
            .nth(1)
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or(0)
    }

    pub fn master(&mut self) -> &mut Node {
        let port = self.master_port();
        self.servers
            .iter_mut()
            .find(|n| n.port == port)
            .expect("the master is ours")
    }
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, made with the openssl CLI.
pub struct Certificates {
    pub dir: Scratch,
}

fn openssl(dir: &Path, list: &[&str]) {
    let status = Command::new("openssl")
        .args(list)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl must be installed");
    assert!(status.success(), "openssl {list:?}");
}

impl Certificates {
    pub fn generate() -> Certificates {
        let dir = Scratch::new("tls");
        let d = dir.0.as_path();
        let key = |name: &str| {
            let pkey = [
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
            ];
            let mut list = pkey.to_vec();
            list.extend(["-out", name]);
            openssl(d, &list);
        };
        key("ca.key");
        openssl(
            d,
            &[
                "req",
                "-x509",
                "-new",
                "-key",
                "ca.key",
                "-days",
                "2",
                "-subj",
                "/CN=sessionboard test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
                "-out",
                "ca.crt",
            ],
        );
        for (name, usage) in [("server", "serverAuth"), ("client", "clientAuth")] {
            key(&format!("{name}.key"));
            let csr = format!("{name}.csr");
            openssl(
                d,
                &[
                    "req",
                    "-new",
                    "-key",
                    &format!("{name}.key"),
                    "-subj",
                    &format!("/CN={name}"),
                    "-out",
                    &csr,
                ],
            );
            let ext = format!("{name}.ext");
            let text = format!("basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage={usage}\n");
            std::fs::write(d.join(&ext), text).expect("ext file");
            openssl(
                d,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &csr,
                    "-CA",
                    "ca.crt",
                    "-CAkey",
                    "ca.key",
                    "-CAcreateserial",
                    "-days",
                    "2",
                    "-extfile",
                    &ext,
                    "-out",
                    &format!("{name}.crt"),
                ],
            );
        }
        Certificates { dir }
    }

    pub fn file(&self, name: &str) -> String {
        self.dir.file(name)
    }

    /// A TLS-only `redis-server`; with `client_certs`, it refuses clients without a certificate
    /// signed by the CA.
    pub async fn server(&self, client_certs: bool) -> Node {
        let port = free_port();
        let auth = if client_certs { "yes" } else { "no" };
        let mut list = args(&[
            "--port",
            "0",
            "--tls-port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
        ]);
        list.extend(args(&[
            "--save",
            "",
            "--appendonly",
            "no",
            "--tls-auth-clients",
            auth,
        ]));
        for (flag, file) in [
            ("--tls-cert-file", "server.crt"),
            ("--tls-key-file", "server.key"),
            ("--tls-ca-cert-file", "ca.crt"),
        ] {
            list.extend([flag.to_string(), self.file(file)]);
        }
        let mut cli = args(&["--tls", "--cacert", &self.file("ca.crt")]);
        cli.extend(args(&[
            "--cert",
            &self.file("client.crt"),
            "--key",
            &self.file("client.key"),
        ]));
        Node::start(port, &list, cli).await
    }
}
