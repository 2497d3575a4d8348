//! Limits that cannot be turned on a victim: the hard lock is per (name, address), a name guessed
//! from many addresses slows down instead of locking, an address over its limit touches no name;
//! registrations are limited per address, never delay sign-ins, and unused accounts expire.

use std::time::{Duration, Instant};

use crate::helpers::{count, eventually, eventually_ok, in_parallel, TestApp, TestRedis};

#[tokio::test]
async fn the_owner_signs_in_from_another_address_after_an_attackers_failures() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[("DEMO_USERS", "olga:olgas password")]).await;
    let attacker = app.browser_from("127.0.0.1");
    let mut statuses = Vec::new();
    for i in 0..8 {
        statuses.push(attacker.login("olga", &format!("guess {i}")).await);
    }
    assert_eq!(count(&statuses, 401), 5, "{statuses:?}");
    assert_eq!(count(&statuses, 429), 3, "the pair is locked: {statuses:?}");

    let owner = app.browser_from("127.0.0.10");
    let started = Instant::now();
    let status = owner.login("olga", "olgas password").await;
    println!(
        "owner's sign-in from another address after 8 failed guesses: {status} in {:?}",
        started.elapsed()
    );
    assert_eq!(status, 200, "the owner is not locked out");
    assert_eq!(
        attacker.login("olga", "olgas password").await,
        429,
        "the attacker's address stays locked even with the password"
    );
}

#[tokio::test]
async fn guesses_from_many_addresses_slow_a_name_down_without_locking_its_owner_out() {
    const CAP: Duration = Duration::from_secs(1);
    let redis = TestRedis::start();
    let app = TestApp::spawn(
        &redis,
        &[
            ("DEMO_USERS", "pia:pias password"),
            ("LOGIN_SLOWDOWN_AFTER_FAILURES_PER_USER", "3"),
            ("LOGIN_SLOWDOWN_MAX_SECONDS", "1"),
        ],
    )
    .await;
    let mut statuses = Vec::new();
    for i in 1..=4 {
        let attacker = app.browser_from(&format!("127.0.1.{i}"));
        statuses.push(attacker.login("pia", "a wrong guess").await);
    }
    assert_eq!(statuses, [401, 401, 401, 401]);
    let res = app
        .browser_from("127.0.1.5")
        .login_response("pia", "another guess")
        .await;
    assert_eq!(res.status(), 429, "the next guess must wait");
    let body: serde_json::Value = res.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("Try again in"));

    // The owner asks until let in: an attempt refused by the slowdown is not counted.
    let owner = app.browser_from("127.0.1.20");
    let started = Instant::now();
    let status = eventually_ok("the owner gets in", Duration::from_secs(5), || async {
        match owner.login("pia", "pias password").await {
            429 => Err(429),
            status => Ok(status),
        }
    })
    .await;
    assert_eq!(status, 200, "the owner gets in within the cap");
    assert!(
        started.elapsed() < CAP + Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn an_address_over_its_limit_touches_no_name() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(
        &redis,
        &[
            ("DEMO_USERS", "quinn:quinns password"),
            ("LOGIN_MAX_FAILURES_PER_ADDRESS", "3"),
        ],
    )
    .await;
    let attacker = app.browser_from("127.0.2.1");
    for user in ["u1", "u2", "u3"] {
        assert_eq!(attacker.login(user, "whatever1").await, 401);
    }
    for _ in 0..5 {
        assert_eq!(attacker.login("quinn", "whatever1").await, 429);
    }
    let touched = redis.cli(&["--scan", "--pattern", "*quinn*"]);
    assert_eq!(
        touched.trim(),
        "sessionboard:user:{quinn}:account",
        "{touched}"
    );
    let owner = app.browser_from("127.0.2.2");
    assert_eq!(owner.login("quinn", "quinns password").await, 200);
}

#[tokio::test]
async fn registrations_are_limited_per_address() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[("REGISTRATION_MAX_PER_ADDRESS_PER_HOUR", "3")]).await;
    let one = app.browser_from("127.0.3.1");
    for name in ["reg1", "reg2", "reg3"] {
        one.register(name, "a good password").await;
    }
    let form = [("username", "reg4"), ("password", "a good password")];
    let res = one.post("/api/register", &form).await;
    assert_eq!(res.status(), 429);
    let body: serde_json::Value = res.json().await.unwrap();
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("Try again in"), "{message}");
    let wait: u64 = message
        .split("Try again in ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("a number of seconds");
    assert!((3500..=3600).contains(&wait), "{message}");
    assert_eq!(
        redis
            .cli(&["EXISTS", "sessionboard:user:{reg4}:account"])
            .trim(),
        "0"
    );
    app.browser_from("127.0.3.2")
        .register("reg4", "a good password")
        .await;
}

#[tokio::test]
async fn accounts_that_never_signed_in_expire() {
    const UNUSED_FOR: Duration = Duration::from_millis(500);
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[("ACCOUNT_UNUSED_TTL_SECONDS", "0.5")]).await;
    app.register("used", "a good password").await;
    let ttl = redis.pttl("sessionboard:user:{used}:account");
    assert!((1..=500).contains(&ttl), "{ttl}");
    assert_eq!(app.login("used", "a good password").await, 200);
    assert_eq!(
        redis.pttl("sessionboard:user:{used}:account"),
        -1,
        "kept once used"
    );
    // On the wall clock, the one Redis counts the account's deadline on.
    let asked = sessionboard::shared::clock::now_ms();
    app.register("unused", "a good password").await;
    let unused = "sessionboard:user:{unused}:account";
    eventually("the unused account expires", UNUSED_FOR * 4, || async {
        redis.pttl(unused) == -2
    })
    .await;
    let expired_after = sessionboard::shared::clock::now_ms() - asked;
    assert!(
        expired_after >= UNUSED_FOR.as_millis() as i64,
        "expired after {expired_after} ms"
    );
    let default = TestApp::spawn(&redis, &[]).await;
    default.register("later", "a good password").await;
    let ttl = redis.pttl("sessionboard:user:{later}:account");
    assert!(ttl > 29 * 24 * 3600 * 1000, "30 days by default: {ttl}");
}

#[tokio::test]
async fn sign_ins_do_not_wait_behind_a_burst_of_registrations() {
    let redis = TestRedis::start();
    // The burst is 150 registrations, connections and new sessions from one address at once.
    let app = TestApp::spawn(
        &redis,
        &[
            ("DEMO_USERS", "rosa:rosas password"),
            ("REGISTRATION_MAX_PER_ADDRESS_PER_HOUR", "1000"),
            ("SERVER_MAX_CONNECTIONS_PER_ADDRESS", "1000"),
            ("SESSION_NEW_PER_ADDRESS_PER_MINUTE", "1000"),
        ],
    )
    .await;
    let owner = app.browser_from("127.0.4.1");
    let started = Instant::now();
    assert_eq!(owner.login("rosa", "rosas password").await, 200);
    let quiet = started.elapsed();

    let flood = app.browser_from("127.0.4.2");
    let burst = tokio::spawn(async move {
        in_parallel(150, move |i| {
            let flood = flood.clone();
            async move {
                let name = format!("flood{i}");
                let form = [("username", name.as_str()), ("password", "a good password")];
                flood.post("/api/register", &form).await.status().as_u16()
            }
        })
        .await
    });
    // The burst is under way once its first account is stored.
    eventually(
        "the burst registers its first account",
        Duration::from_secs(10),
        || async {
            !redis
                .cli(&["--scan", "--pattern", "sessionboard:user:{flood*}:account"])
                .trim()
                .is_empty()
        },
    )
    .await;
    let owner = app.browser_from("127.0.4.3");
    let started = Instant::now();
    assert_eq!(owner.login("rosa", "rosas password").await, 200);
    let during = started.elapsed();
    let statuses = burst.await.unwrap();
    println!("sign-in: {quiet:?} alone, {during:?} during a burst of 150 registrations");
    assert_eq!(count(&statuses, 200), 150);
    assert!(during < Duration::from_secs(1), "{during:?}");
}

/// The wait a 429's message asks for, in whole seconds.
async fn told_to_wait(res: reqwest::Response) -> u64 {
    let body: serde_json::Value = res.json().await.expect("JSON");
    let message = body["message"].as_str().expect("a message").to_string();
    message
        .split("Try again in ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no wait in {message:?}"))
}

#[tokio::test]
async fn refused_attempts_do_not_count_toward_the_owners_lock() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(
        &redis,
        &[
            ("DEMO_USERS", "rosa:rosas password"),
            ("LOGIN_SLOWDOWN_AFTER_FAILURES_PER_USER", "2"),
            ("LOGIN_SLOWDOWN_MAX_SECONDS", "1"),
        ],
    )
    .await;
    for i in 1..=3 {
        let attacker = app.browser_from(&format!("127.0.5.{i}"));
        attacker.login("rosa", "a wrong guess").await;
    }
    // The owner, without a device cookie, is refused by the name's slowdown more times than the
    // hard lock allows failures — none of them reached the password check.
    let owner = app.browser_from("127.0.5.20");
    let mut wait = 0;
    for _ in 0..7 {
        let res = owner.login_response("rosa", "rosas password").await;
        assert_eq!(res.status(), 429);
        wait = told_to_wait(res).await;
    }
    // Waiting as told (the wait is rounded up) lets the owner in: asking meanwhile, refused and
    // not counted, the owner is in within the wait.
    let told = Duration::from_secs(wait);
    let status = eventually_ok("the owner gets in within the wait told", told, || async {
        match owner.login("rosa", "rosas password").await {
            429 => Err(429),
            status => Ok(status),
        }
    })
    .await;
    assert_eq!(status, 200);
}

/// Guesses at `user` from twelve addresses of 127.0.6.0/24, each as soon as the slowdown
/// allows, until `stop` (or 20 s); how many guesses were made.
pub(crate) fn guess_continuously(
    app: &TestApp,
    user: &'static str,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<usize> {
    let attackers: Vec<_> = (1..=12)
        .map(|i| app.browser_from(&format!("127.0.6.{i}")))
        .collect();
    tokio::spawn(async move {
        let mut guesses = 0;
        let deadline = Instant::now() + Duration::from_secs(20);
        while !stop.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < deadline {
            let attacker = &attackers[guesses % attackers.len()];
            attacker.login(user, "a wrong guess").await;
            guesses += 1;
        }
        guesses
    })
}

/// Until guesses have slowed `user`'s name down (for networks it never signed in from): its
/// next attempt is set for later.
pub(crate) async fn wait_for_the_slowdown(redis: &TestRedis, user: &str) {
    let slowdown = format!("sessionboard:login-slowdown:user:{{{user}}}");
    eventually(
        "the guesses slow the name down",
        Duration::from_secs(10),
        || async { redis.cli(&["HEXISTS", &slowdown, "next"]).trim() == "1" },
    )
    .await;
}

#[tokio::test]
async fn the_owners_browser_signs_in_during_distributed_guessing() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(
        &redis,
        &[
            ("DEMO_USERS", "sven:svens password"),
            ("LOGIN_SLOWDOWN_AFTER_FAILURES_PER_USER", "2"),
            ("LOGIN_SLOWDOWN_MAX_SECONDS", "30"),
        ],
    )
    .await;
    // The owner's browser signed in before: it holds a device cookie for sven. (From a network
    // of its own: the guessers' and the stranger's is another, so not a known one.)
    let owner = app.browser_from("127.0.12.100");
    assert_eq!(owner.login("sven", "svens password").await, 200);
    owner.logout().await;

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let guessing = guess_continuously(&app, "sven", stop.clone());
    wait_for_the_slowdown(&redis, "sven").await;
    let stranger = app.browser_from("127.0.6.101");
    let from_elsewhere = stranger.login("sven", "svens password").await;
    let started = Instant::now();
    let from_owner = owner.login("sven", "svens password").await;
    let took = started.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let guesses = guessing.await.expect("guessing task");

    assert_eq!(
        from_elsewhere, 429,
        "without the device cookie the name's slowdown applies"
    );
    assert_eq!(
        from_owner, 200,
        "the owner's browser is not behind anyone's guesses"
    );
    println!("owner signed in in {took:?} during {guesses} guesses from 12 addresses");
}

#[tokio::test]
async fn a_device_cookie_is_locked_after_its_own_failures() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[("DEMO_USERS", "tove:toves password")]).await;
    let browser = app.browser_from("127.0.7.1");
    assert_eq!(browser.login("tove", "toves password").await, 200);
    browser.logout().await;
    // A thief with this browser's cookie gets the lock's few guesses, not more.
    let mut statuses = Vec::new();
    for i in 0..6 {
        statuses.push(browser.login("tove", &format!("guess {i}")).await);
    }
    assert_eq!(count(&statuses, 401), 5, "{statuses:?}");
    assert_eq!(statuses[5], 429);
    assert_eq!(browser.login("tove", "toves password").await, 429);
    // The lock is the cookie's alone: the owner, elsewhere, is not affected.
    let elsewhere = app.browser_from("127.0.7.2");
    assert_eq!(elsewhere.login("tove", "toves password").await, 200);
}

#[tokio::test]
async fn signing_in_through_a_device_cookie_buys_an_address_no_extra_guesses() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(
        &redis,
        &[
            ("DEMO_USERS", "mal:mals password"),
            ("LOGIN_MAX_FAILURES_PER_ADDRESS", "3"),
        ],
    )
    .await;
    let attacker = app.browser_from("127.0.8.1");
    assert_eq!(attacker.login("mal", "mals password").await, 200);
    attacker.logout().await;
    for user in ["u1", "u2"] {
        assert_eq!(attacker.login(user, "a guess").await, 401);
    }
    // Its own account, through its device cookie: counted on the token, not on the address.
    for _ in 0..3 {
        assert_eq!(attacker.login("mal", "mals password").await, 200);
        attacker.logout().await;
    }
    assert_eq!(attacker.login("u3", "a guess").await, 401);
    assert_eq!(
        attacker.login("u4", "a guess").await,
        429,
        "the address had its three guesses"
    );
}
