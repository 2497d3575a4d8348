//! `SESSION_NEAR_CACHE`: two instances of the app on one Redis, each keeping the sessions it
//! read. A read of an unchanged session sends nothing to Redis; a change made on one instance
//! (a note, a revocation, a sign-out) is seen on the other once Redis' invalidation arrives.

use std::time::Duration;

use sessionboard::shared::dto::SessionView;

use crate::helpers::{eventually_ok, Browser, TestApp, TestRedis};

const NEAR_CACHE: [(&str, &str); 2] = [
    ("SESSION_NEAR_CACHE", "true"),
    ("DEMO_USERS", "hana:hanas password"),
];

/// Asks `browser` (for at most 2 s) until `done` holds for its session.
async fn seen(browser: &Browser, what: &str, done: impl Fn(&SessionView) -> bool) {
    eventually_ok(what, Duration::from_secs(2), || async {
        let view = browser.session().await;
        if done(&view) {
            Ok(())
        } else {
            Err(view)
        }
    })
    .await
}

#[tokio::test]
async fn a_note_saved_on_one_instance_is_read_on_the_other_and_then_from_memory() {
    let redis = TestRedis::start();
    let a = TestApp::spawn(&redis, &NEAR_CACHE).await;
    let b = TestApp::spawn(&redis, &NEAR_CACHE).await;
    let on_a = a.new_browser();
    assert_eq!(on_a.save_note("first").await.status(), 200);
    let on_b = on_a.at(&b);
    assert_eq!(on_b.session().await.data["note"], "first");

    redis.cli(&["CONFIG", "RESETSTAT"]);
    for _ in 0..20 {
        assert_eq!(on_b.session().await.data["note"], "first");
    }
    let counts = redis.command_counts();
    assert!(
        !counts.contains_key("hgetall"),
        "read from memory: {counts:?}"
    );

    assert_eq!(on_a.save_note("second").await.status(), 200);
    seen(&on_b, "B reads the new note", |view| {
        view.data["note"] == "second"
    })
    .await;
    // And on A at once: its own write dropped its copy before it answered.
    assert_eq!(on_a.session().await.data["note"], "second");
}

#[tokio::test]
async fn a_session_revoked_on_one_instance_is_signed_out_on_the_other() {
    let redis = TestRedis::start();
    let a = TestApp::spawn(&redis, &NEAR_CACHE).await;
    let b = TestApp::spawn(&redis, &NEAR_CACHE).await;
    let laptop = a.new_browser();
    assert_eq!(laptop.login("hana", "hanas password").await, 200);
    let phone = b.new_browser();
    assert_eq!(phone.login("hana", "hanas password").await, 200);
    // B holds the phone's session in memory.
    assert_eq!(phone.session().await.user.as_deref(), Some("hana"));
    assert_eq!(phone.session().await.user.as_deref(), Some("hana"));

    let handle = phone.session().await.id_fingerprint;
    assert_eq!(laptop.revoke(&handle).await.status(), 200);
    let signed_out = |view: &SessionView| view.user.is_none() && !view.active;
    seen(&phone, "B signs the revoked phone out", signed_out).await;

    // The laptop signs out through B; A, which holds the laptop's session in memory, sees it.
    let laptop_on_b = laptop.at(&b);
    laptop_on_b.logout().await;
    seen(&laptop, "A signs the laptop out", |view| {
        view.user.is_none()
    })
    .await;
}

/// Ports of the apps' own Redis setting are unused: the URL names the topology.
const NO_PORT: u16 = 1;

/// On a cluster and on a sentinel group, tracking is on for every connection the pool makes:
/// what one instance changes, the other sees, and no increment is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_stay_in_step_on_a_cluster_and_behind_sentinels() {
    let cluster = test_redis::Cluster::start();
    let sentinels = test_redis::SentinelGroup::start();
    for url in [cluster.url(), sentinels.url()] {
        let env = [("REDIS_URL", url.as_str()), NEAR_CACHE[0], NEAR_CACHE[1]];
        let a = TestApp::spawn_on(NO_PORT, &env).await;
        let b = TestApp::spawn_on(NO_PORT, &env).await;
        let on_a = a.new_browser();
        assert_eq!(on_a.save_note("first").await.status(), 200, "{url}");
        let on_b = on_a.at(&b);
        assert_eq!(on_b.session().await.data["note"], "first", "{url}");
        assert_eq!(on_a.save_note("second").await.status(), 200, "{url}");
        seen(&on_b, "B reads the new note", |view| {
            view.data["note"] == "second"
        })
        .await;
        for browser in [&on_a, &on_b, &on_a, &on_b] {
            browser.increment().await;
        }
        seen(&on_b, "B counts 4", |view| view.counter == 4).await;
        seen(&on_a, "A counts 4", |view| view.counter == 4).await;
    }
}
