//! The app on a Redis Cluster, a sentinel group, TLS servers and a minimal ACL user: the core
//! flows on each, two instances sharing one cluster, and failovers measured under load (run
//! with `--nocapture` to see the figures).

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use sessionboard::shared::{clock::now_ms, dto::SessionView};

use test_redis::{Certificates, Cluster, SentinelGroup, SERVICE};

use crate::helpers::{
    eventually, eventually_ok, in_parallel, Browser, TestApp, TestRedis, SESSION_KEYS,
};

const USERS: &str = "hana:hanas password";
/// `REDIS_PORT` when `REDIS_URL` says where Redis is.
const NO_PORT: u16 = 1;

/// Increment, note, sign-in, sessions list, revoke, sign-out and the exact TTL, on any topology.
/// `keys` lists the session keys, `pttl` reads a key's TTL.
async fn core_flows(app: &TestApp, keys: impl Fn() -> Vec<String>, pttl: impl Fn(&str) -> i64) {
    let phone = app.new_browser();
    assert_eq!(phone.increment().await, 1);
    assert_eq!(phone.increment().await, 2);
    assert_eq!(phone.save_note("on every topology").await.status(), 200);
    let view = phone.session().await;
    assert_eq!(view.data["note"], "on every topology");
    let deadline = keys()
        .iter()
        .map(|key| now_ms() + pttl(key))
        .min_by_key(|deadline| (deadline - view.expires_at).abs())
        .expect("a session key");
    assert!(
        (deadline - view.expires_at).abs() <= 1_000,
        "Redis TTL matches the app's"
    );

    assert_eq!(phone.login("hana", "hanas password").await, 200);
    assert_eq!(phone.session().await.user.as_deref(), Some("hana"));
    let laptop = app.new_browser();
    assert_eq!(laptop.login("hana", "hanas password").await, 200);
    let listed = phone.sessions().await;
    assert_eq!(listed.len(), 2);
    let laptops = laptop.session().await.id_fingerprint;
    assert_eq!(phone.revoke(&laptops).await.status(), 200);
    assert!(laptop.session().await.user.is_none(), "revoked");
    phone.logout().await;
    assert!(phone.session().await.user.is_none(), "signed out");
}

/// One writer's record under load: seconds (since the trigger) of each failed increment, how
/// many increments were acknowledged, and the session's counter before and after.
struct Writer {
    errors: Vec<f64>,
    /// The longest any one increment took to answer, in seconds.
    slowest: f64,
    acknowledged: i64,
    before: i64,
    after: Option<i64>,
}

impl Writer {
    fn error_seconds(&self) -> f64 {
        match (self.errors.first(), self.errors.last()) {
            (Some(first), Some(last)) => last - first + 0.05,
            _ => 0.0,
        }
    }

    fn lost(&self) -> i64 {
        self.after
            .map_or(self.acknowledged, |after| {
                self.before + self.acknowledged - after
            })
            .max(0)
    }
}

async fn increment_status(browser: &Browser) -> (u16, i64) {
    let res = browser.post("/api/increment", &[]).await;
    let status = res.status().as_u16();
    let counter = res.json::<i64>().await.unwrap_or_default();
    (status, counter)
}

/// One increment's answer: which writer sent it, when it was answered, and whether it was
/// acknowledged.
#[derive(Debug, Clone, Copy)]
struct Answer {
    writer: usize,
    at: Instant,
    acknowledged: bool,
}

/// Increments through every browser, one after the other on each, until told to finish; every
/// answer is shared as it comes, so the test waits for what the load has seen instead of for a
/// number of seconds.
struct WriteLoad {
    stop: Arc<AtomicBool>,
    answers: Arc<Mutex<Vec<Answer>>>,
    writers: usize,
    /// Per writer: the counter before, the slowest answer (seconds), the counter after.
    tasks: tokio::task::JoinHandle<Vec<(i64, f64, Option<i64>)>>,
}

impl WriteLoad {
    fn start(browsers: &[Browser]) -> WriteLoad {
        let stop = Arc::new(AtomicBool::new(false));
        let answers = Arc::new(Mutex::new(Vec::new()));
        let browsers = browsers.to_vec();
        let writers = browsers.len();
        let (stopping, shared) = (stop.clone(), answers.clone());
        let tasks = tokio::spawn(in_parallel(writers, move |writer| {
            let browser = browsers[writer].clone();
            let (stop, answers) = (stopping.clone(), shared.clone());
            async move {
                let before = browser.session().await.counter;
                let mut slowest = 0.0f64;
                while !stop.load(Ordering::Relaxed) {
                    let sent = Instant::now();
                    let (status, _) = increment_status(&browser).await;
                    slowest = slowest.max(sent.elapsed().as_secs_f64());
                    let answer = Answer {
                        writer,
                        at: Instant::now(),
                        acknowledged: status == 200,
                    };
                    lock(&answers).push(answer);
                }
                let what = "the session reads again after the failover";
                let view = eventually_ok(what, Duration::from_secs(10), || async {
                    let res = browser.get("/api/session").await;
                    match res.status().as_u16() {
                        200 => Ok(res.json::<SessionView>().await.unwrap()),
                        other => Err(other),
                    }
                })
                .await;
                (before, slowest, view.active.then_some(view.counter))
            }
        }));
        WriteLoad {
            stop,
            answers,
            writers,
            tasks,
        }
    }

    /// Waits (at most `within`) until every writer has had `count` increments acknowledged
    /// since `since`; panics with `what` otherwise.
    async fn wait_for_acknowledged(
        &self,
        what: &str,
        within: Duration,
        count: usize,
        since: Instant,
    ) {
        eventually(what, within, || {
            let answers = lock(&self.answers);
            let done = (0..self.writers).all(|writer| {
                answers
                    .iter()
                    .filter(|a| a.writer == writer && a.acknowledged && a.at >= since)
                    .count()
                    >= count
            });
            async move { done }
        })
        .await
    }

    /// Stops the writers; each one's record, its errors in seconds since `trigger`.
    async fn finish(self, trigger: Instant) -> Vec<Writer> {
        self.stop.store(true, Ordering::Relaxed);
        let ends = self.tasks.await.expect("load");
        let answers = std::mem::take(&mut *lock(&self.answers));
        ends.into_iter()
            .enumerate()
            .map(|(writer, (before, slowest, after))| {
                let own = answers.iter().filter(|a| a.writer == writer);
                Writer {
                    errors: own
                        .clone()
                        .filter(|a| !a.acknowledged)
                        .map(|a| a.at.saturating_duration_since(trigger).as_secs_f64())
                        .collect(),
                    slowest,
                    acknowledged: own.filter(|a| a.acknowledged).count() as i64,
                    before,
                    after,
                }
            })
            .collect()
    }
}

fn lock<T>(shared: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Prints and returns (max seconds of errors, sessions lost, acknowledged increments lost).
fn report(what: &str, writers: &[Writer]) -> (f64, usize, i64) {
    let seconds = writers
        .iter()
        .map(Writer::error_seconds)
        .fold(0.0, f64::max);
    let sessions_lost = writers.iter().filter(|w| w.after.is_none()).count();
    let lost: i64 = writers.iter().map(Writer::lost).sum();
    let acked: i64 = writers.iter().map(|w| w.acknowledged).sum();
    let slowest = writers.iter().map(|w| w.slowest).fold(0.0, f64::max);
    println!("FAILOVER {what}: {} writers, {seconds:.1} s of errors, slowest answer {slowest:.1} s, {sessions_lost} sessions lost, {lost} of {acked} acknowledged increments lost", writers.len());
    (seconds, sessions_lost, lost)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_serves_two_instances_and_keeps_sessions_through_a_master_kill() {
    let mut cluster = Cluster::start();
    let env = [
        ("REDIS_URL", cluster.url()),
        ("DEMO_USERS", USERS.to_string()),
        // Dozens of browsers keep connections open to the first instance.
        ("SERVER_MAX_CONNECTIONS_PER_ADDRESS", "1000".to_string()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let one = TestApp::spawn_on(NO_PORT, &env).await;
    let two = TestApp::spawn_on(NO_PORT, &env).await;
    core_flows(&one, || cluster.keys(SESSION_KEYS), |key| cluster.pttl(key)).await;

    // A cookie from one instance works on the other; increments through both add up.
    let visitor = one.new_browser();
    assert_eq!(visitor.increment().await, 1);
    let there = visitor.at(&two);
    assert_eq!(
        there.session().await.id_fingerprint,
        visitor.session().await.id_fingerprint
    );
    let (a, b) = (visitor.clone(), there.clone());
    in_parallel(40, move |i| {
        let browser = if i % 2 == 0 { a.clone() } else { b.clone() };
        async move { browser.increment().await }
    })
    .await;
    assert_eq!(visitor.session().await.counter, 41);
    // Revoking on one instance signs out on the other.
    let (phone, laptop) = (one.new_browser(), two.new_browser());
    assert_eq!(phone.login("hana", "hanas password").await, 200);
    assert_eq!(laptop.login("hana", "hanas password").await, 200);
    let handle = laptop.session().await.id_fingerprint;
    assert_eq!(phone.revoke(&handle).await.status(), 200);
    assert!(laptop.session().await.user.is_none());

    // SIGKILL the master holding the first writer's session while 24 sessions take increments.
    let mut writers = Vec::new();
    let mut homes = Vec::new();
    for _ in 0..24 {
        let known = cluster.keys(SESSION_KEYS);
        let browser = one.new_browser();
        browser.increment().await;
        let key = cluster
            .keys(SESSION_KEYS)
            .into_iter()
            .find(|k| !known.contains(k));
        homes.push(key.and_then(|key| cluster.master_of(&key)));
        writers.push(browser);
    }
    let victim = homes[0].expect("the first session's master");
    let load = WriteLoad::start(&writers);
    let running = "every writer is acknowledged before the kill";
    load.wait_for_acknowledged(running, Duration::from_secs(5), 5, Instant::now())
        .await;
    let trigger = Instant::now();
    let until = trigger + Duration::from_secs(9);
    cluster.nodes[victim].stop();
    let left = || until.saturating_duration_since(Instant::now());
    eventually(
        "a replica takes over from the killed master",
        left(),
        || {
            let taken_over = cluster.masters().len() == 3;
            async move { taken_over }
        },
    )
    .await;
    let after = "every writer is acknowledged since the takeover";
    load.wait_for_acknowledged(after, left(), 10, Instant::now())
        .await;
    let results = load.finish(trigger).await;
    let (on, off): (Vec<_>, Vec<_>) = results
        .into_iter()
        .zip(&homes)
        .partition(|(_, home)| **home == Some(victim));
    let on: Vec<Writer> = on.into_iter().map(|(w, _)| w).collect();
    let off: Vec<Writer> = off.into_iter().map(|(w, _)| w).collect();
    let (_, lost_on, _) = report("cluster master kill, sessions on the failed master", &on);
    let (_, lost_off, _) = report("cluster master kill, sessions on the other masters", &off);
    assert_eq!(lost_on + lost_off, 0, "no session lost");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sentinel_group_follows_planned_and_crash_failovers() {
    let mut group = SentinelGroup::start();
    let env = [
        ("REDIS_URL", group.url()),
        ("DEMO_USERS", USERS.to_string()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = TestApp::spawn_on(NO_PORT, &env).await;
    let first_master = group.master_port();
    {
        let master = group
            .servers
            .iter()
            .find(|n| n.port == first_master)
            .unwrap();
        core_flows(&app, || master.keys(SESSION_KEYS), |key| master.pttl(key)).await;
    }
    let writers: Vec<Browser> = (0..4).map(|_| app.new_browser()).collect();

    // A planned failover under concurrent increments: nothing acknowledged may be lost.
    let load = WriteLoad::start(&writers);
    let running = "every writer is acknowledged before the failover";
    load.wait_for_acknowledged(running, Duration::from_secs(5), 5, Instant::now())
        .await;
    let trigger = Instant::now();
    let until = trigger + Duration::from_secs(7);
    let left = || until.saturating_duration_since(Instant::now());
    assert_eq!(
        group.sentinels[0]
            .cli(&["SENTINEL", "FAILOVER", SERVICE])
            .trim(),
        "OK"
    );
    eventually("the sentinels name a new master", left(), || {
        let moved = group.master_port() != first_master;
        async move { moved }
    })
    .await;
    let after = "every writer is acknowledged since the master moved";
    load.wait_for_acknowledged(after, left(), 10, Instant::now())
        .await;
    let planned = load.finish(trigger).await;
    let (_, sessions_lost, lost) = report("sentinel planned failover", &planned);
    assert_ne!(group.master_port(), first_master, "the master moved");

    // Do now what the sentinels do some seconds later: the old master follows the new one.
    let new_master = group.master_port().to_string();
    let old = group
        .servers
        .iter()
        .find(|n| n.port == first_master)
        .unwrap();
    old.cli(&["REPLICAOF", "127.0.0.1", &new_master]);
    group.wait_ready();

    // SIGKILL the new master under load.
    let load = WriteLoad::start(&writers);
    let running = "every writer is acknowledged before the kill";
    load.wait_for_acknowledged(running, Duration::from_secs(5), 5, Instant::now())
        .await;
    let trigger = Instant::now();
    let until = trigger + Duration::from_secs(9);
    let left = || until.saturating_duration_since(Instant::now());
    group.master().stop();
    eventually("the sentinels promote the old master again", left(), || {
        let back = group.master_port() == first_master;
        async move { back }
    })
    .await;
    let after = "every writer is acknowledged since the old master took over";
    load.wait_for_acknowledged(after, left(), 10, Instant::now())
        .await;
    let crashed = load.finish(trigger).await;
    let (_, crash_sessions_lost, _) = report("sentinel master kill", &crashed);
    assert_eq!(
        group.master_port(),
        first_master,
        "the old master is master again"
    );
    assert_eq!(sessions_lost + crash_sessions_lost, 0, "no session lost");
    assert_eq!(
        lost, 0,
        "a planned failover loses no acknowledged increment"
    );
}

#[tokio::test]
async fn a_private_ca_and_a_client_certificate_work_from_the_settings_alone() {
    let certs = Certificates::generate();
    let (ca, cert, key) = (
        certs.file("ca.crt"),
        certs.file("client.crt"),
        certs.file("client.key"),
    );
    let server = certs.server(false);
    let tls = [
        ("REDIS_TLS", "true"),
        ("REDIS_TLS_CA_FILE", ca.as_str()),
        ("DEMO_USERS", USERS),
    ];
    let app = TestApp::spawn_on(server.port, &tls).await;
    core_flows(&app, || server.keys(SESSION_KEYS), |key| server.pttl(key)).await;

    // Without the CA the certificate is not trusted, and the start says which setting to fix.
    let err = TestApp::try_spawn(
        server.port,
        &[("REDIS_TLS", "true"), ("REDIS_STARTUP_WAIT_SECONDS", "3")],
    )
    .await
    .err()
    .expect("refused");
    assert!(
        err.contains("REDIS_TLS_CA_FILE") && !err.contains('\n'),
        "{err}"
    );

    let strict = certs.server(true);
    let url = format!("rediss://127.0.0.1:{}", strict.port);
    let with_cert = [
        ("REDIS_URL", url.as_str()),
        ("REDIS_TLS_CA_FILE", ca.as_str()),
        ("REDIS_TLS_CLIENT_CERT_FILE", cert.as_str()),
        ("REDIS_TLS_CLIENT_KEY_FILE", key.as_str()),
        ("DEMO_USERS", USERS),
    ];
    let app = TestApp::spawn_on(NO_PORT, &with_cert).await;
    core_flows(&app, || strict.keys(SESSION_KEYS), |key| strict.pttl(key)).await;
    let without = [
        ("REDIS_URL", url.as_str()),
        ("REDIS_TLS_CA_FILE", ca.as_str()),
        ("REDIS_STARTUP_WAIT_SECONDS", "3"),
    ];
    let started = Instant::now();
    let err = TestApp::try_spawn(NO_PORT, &without)
        .await
        .err()
        .expect("refused");
    assert!(err.contains("REDIS_TLS_CLIENT_CERT_FILE"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "stopped at once, not after the wait"
    );
}

/// The minimal ACL of docs/operations.md "Redis topologies", with the default key prefix.
pub const ACL_RULES: &str =
    "resetkeys ~sessionboard:* resetchannels -@all +ping +role +cluster|slots \
+hget +hgetall +hmget +hset +hdel +hincrby +del +exists +incr +decr +pexpire +pexpireat +persist +pttl \
+evalsha +script|load +wait +zadd +zrem +zremrangebyscore +zcard +zscore +get";

/// What the session near cache (on by default) adds: client tracking, and the heartbeat's
/// flush epoch, a string under the prefix.
pub const NEAR_CACHE_ACL_RULES: &str = "+client|tracking +set";

#[tokio::test]
async fn a_minimal_acl_user_runs_the_app_and_a_prefix_outside_it_stops_the_start() {
    let redis = TestRedis::start();
    let mut rules: Vec<&str> = vec!["ACL", "SETUSER", "sessionboard", "on", ">app-password-1"];
    rules.extend(ACL_RULES.split(' '));
    assert_eq!(redis.cli(&rules).trim(), "OK");
    let user = [
        ("REDIS_USERNAME", "sessionboard"),
        ("REDIS_PASSWORD", "app-password-1"),
        ("DEMO_USERS", USERS),
    ];
    // Without the near cache's permissions the start stops, naming what is missing.
    let err = TestApp::try_spawn(redis.port, &user)
        .await
        .err()
        .expect("refused");
    assert!(
        err.contains("client|tracking")
            && err.contains("sessionboard:near-cache-epoch")
            && err.contains("SESSION_NEAR_CACHE=false"),
        "{err}"
    );
    let mut without_cache = user.to_vec();
    without_cache.push(("SESSION_NEAR_CACHE", "false"));
    let app = TestApp::spawn(&redis, &without_cache).await;
    assert_eq!(app.increment().await, 1, "runs without the near cache");

    let mut rules = vec!["ACL", "SETUSER", "sessionboard"];
    rules.extend(NEAR_CACHE_ACL_RULES.split(' '));
    assert_eq!(redis.cli(&rules).trim(), "OK");
    let app = TestApp::spawn(&redis, &user).await;
    core_flows(&app, || redis.keys(SESSION_KEYS), |key| redis.pttl(key)).await;
    assert_eq!(app.login("hana", "hanas password").await, 200);
    assert_eq!(
        app.change_password("hanas password", "hanas new password")
            .await
            .status(),
        200
    );

    let started = Instant::now();
    let mut outside = user.to_vec();
    outside.push(("REDIS_KEY_PREFIX", "elsewhere:"));
    let err = TestApp::try_spawn(redis.port, &outside)
        .await
        .err()
        .expect("refused");
    assert!(
        err.contains("NOPERM") && err.contains("REDIS_KEY_PREFIX"),
        "{err}"
    );
    let mut wrong = user.to_vec();
    wrong[1] = ("REDIS_PASSWORD", "not-the-password");
    let err = TestApp::try_spawn(redis.port, &wrong)
        .await
        .err()
        .expect("refused");
    assert!(err.contains("REDIS_PASSWORD"), "{err}");
    // RESP3's handshake cannot carry a password with a space: said so, not "wrong password".
    wrong[1] = ("REDIS_PASSWORD", "a password with spaces");
    let err = TestApp::try_spawn(redis.port, &wrong)
        .await
        .err()
        .expect("refused");
    assert!(
        err.contains("whitespace") && err.contains("SESSION_NEAR_CACHE=false"),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "refusals stop the start at once"
    );
}

/// Mean milliseconds of a first visit (a new session) and of a sign-in.
async fn write_latency(app: &TestApp) -> (f64, f64) {
    let (mut visit, mut sign_in) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..10 {
        let browser = app.new_browser();
        let started = Instant::now();
        assert_eq!(increment_status(&browser).await.0, 200);
        visit += started.elapsed();
        let started = Instant::now();
        assert_eq!(browser.login("hana", "hanas password").await, 200);
        sign_in += started.elapsed();
    }
    (visit.as_secs_f64() * 100.0, sign_in.as_secs_f64() * 100.0)
}

#[tokio::test]
async fn sign_ins_wait_for_the_replicas_asked_for() {
    let master = TestRedis::start();
    let master_port = master.port.to_string();
    let replica = TestRedis::start_with(&["--replicaof", "127.0.0.1", &master_port]);
    eventually("the replica syncs", Duration::from_secs(10), || {
        let synced = replica.info("replication", "master_link_status") == "up";
        async move { synced }
    })
    .await;
    let plain = TestApp::spawn(&master, &[("DEMO_USERS", USERS)]).await;
    let waiting = TestApp::spawn(
        &master,
        &[("DEMO_USERS", USERS), ("REDIS_WAIT_REPLICAS", "1")],
    )
    .await;
    let (visit, sign_in) = write_latency(&plain).await;
    let (visit_waiting, sign_in_waiting) = write_latency(&waiting).await;
    println!("WAIT latency: first visit {visit:.1} ms -> {visit_waiting:.1} ms, sign-in {sign_in:.1} ms -> {sign_in_waiting:.1} ms (REDIS_WAIT_REPLICAS 0 -> 1, loopback)");

    // Two replicas asked for, one there: the sign-in is not acknowledged.
    let strict = TestApp::spawn(&master, &[("REDIS_WAIT_REPLICAS", "2")]).await;
    let started = Instant::now();
    assert_eq!(strict.login("hana", "hanas password").await, 503);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "bounded by the command timeout"
    );
}
