//! Issue 6: "Your sessions" (list and revoke) and no lost updates under concurrency.

mod common;

use std::{sync::Arc, time::Duration};

use common::{client, get_session, increment, login, post, TestApp, TestRedis};
use sessionboard::session_view::SessionView;

const USERS: &str = "hana:hanas password,ivan:ivans password";

async fn list(app: &TestApp, http: &reqwest::Client) -> Vec<serde_json::Value> {
    let res = http.get(app.url("/api/sessions")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn signed_in_jars(app: &TestApp, n: usize) -> Vec<reqwest::Client> {
    let mut jars = Vec::new();
    for _ in 0..n {
        let http = client();
        assert_eq!(login(app, &http, "hana", "hanas password").await, 200);
        jars.push(http);
    }
    jars
}

#[tokio::test]
async fn list_revoke_one_and_sign_out_the_others() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[("DEMO_USERS", USERS)]).await;
    let jars = signed_in_jars(&app, 3).await;
    for (i, jar) in jars.iter().enumerate() {
        let listed = list(&app, jar).await;
        assert_eq!(listed.len(), 3);
        assert_eq!(
            listed.iter().filter(|s| s["this_device"] == true).count(),
            1,
            "jar {i}"
        );
        let text = serde_json::to_string(&listed).unwrap();
        for key in redis.session_keys() {
            let id = key.split('{').nth(1).unwrap().trim_end_matches('}');
            assert!(!text.contains(id), "a session id leaked into the list");
        }
    }

    // The first jar signs out the second.
    let listed = list(&app, &jars[0]).await;
    let second = get_session(&app, &jars[1]).await.id_fingerprint;
    let handle = listed
        .iter()
        .find(|s| s["handle"] == second.as_str())
        .expect("second listed")["handle"]
        .as_str()
        .unwrap()
        .to_string();
    let res = post(
        &app,
        &jars[0],
        "/api/sessions/revoke",
        &[("handle", &handle)],
    )
    .await;
    assert_eq!(res.status(), 200);
    let view: SessionView = get_session(&app, &jars[1]).await;
    assert!(
        !view.active && view.user.is_none(),
        "the revoked session is dead at its next request"
    );
    assert_eq!(redis.session_keys().len(), 2, "its record is deleted");
    assert_eq!(list(&app, &jars[0]).await.len(), 2);

    // Then signs out all the others.
    let res = post(&app, &jars[0], "/api/sessions/revoke-others", &[]).await;
    assert_eq!(res.status(), 200);
    assert!(!get_session(&app, &jars[2]).await.active);
    let left = list(&app, &jars[0]).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["this_device"], true);
}

#[tokio::test]
async fn a_password_change_signs_out_every_other_session() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[("DEMO_USERS", USERS)]).await;
    let jars = signed_in_jars(&app, 3).await;
    let res = post(
        &app,
        &jars[0],
        "/api/password",
        &[("current", "wrong password"), ("new", "a new password")],
    )
    .await;
    assert_eq!(res.status(), 401, "the current password is checked");
    let res = post(
        &app,
        &jars[0],
        "/api/password",
        &[("current", "hanas password"), ("new", "a new password")],
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<usize>().await.unwrap(), 2);
    assert!(get_session(&app, &jars[0]).await.active);
    assert!(!get_session(&app, &jars[1]).await.active);
    assert!(!get_session(&app, &jars[2]).await.active);
    let fresh = client();
    assert_eq!(login(&app, &fresh, "hana", "hanas password").await, 401);
    assert_eq!(login(&app, &fresh, "hana", "a new password").await, 200);
}

#[tokio::test]
async fn expired_sessions_leave_the_list() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(
        &redis,
        &[
            ("DEMO_USERS", USERS),
            ("SESSION_TTL_SECONDS", "2"),
            ("SESSION_REFRESH_FRACTION", "0.1"),
        ],
    )
    .await;
    let jars = signed_in_jars(&app, 2).await;
    assert_eq!(list(&app, &jars[0]).await.len(), 2);
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        get_session(&app, &jars[0]).await; // only the first stays active
    }
    let listed = list(&app, &jars[0]).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["this_device"], true);
}

#[tokio::test]
async fn another_users_handle_is_not_found() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[("DEMO_USERS", USERS)]).await;
    let hana = signed_in_jars(&app, 1).await.remove(0);
    let ivan = client();
    assert_eq!(login(&app, &ivan, "ivan", "ivans password").await, 200);
    let ivans_handle = list(&app, &ivan).await[0]["handle"]
        .as_str()
        .unwrap()
        .to_string();
    let res = post(
        &app,
        &hana,
        "/api/sessions/revoke",
        &[("handle", &ivans_handle)],
    )
    .await;
    assert_eq!(res.status(), 404);
    let res = post(
        &app,
        &hana,
        "/api/sessions/revoke",
        &[("handle", "000000000000")],
    )
    .await;
    assert_eq!(res.status(), 404, "unknown and foreign handles look alike");
    assert!(get_session(&app, &ivan).await.active);
    let anonymous = client();
    assert_eq!(
        anonymous
            .get(app.url("/api/sessions"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}

/// 20 tasks × 50 increments on one session, spread over `apps` app instances sharing one Redis.
async fn concurrent_increments(apps: &[Arc<TestApp>]) -> i64 {
    let http = client();
    increment(&apps[0], &http).await;
    let mut tasks = Vec::new();
    for task in 0..20 {
        let app = apps[task % apps.len()].clone();
        let http = http.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..50 {
                let res = post(&app, &http, "/api/increment", &[]).await;
                assert_eq!(res.status(), 200);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    get_session(&apps[0], &http).await.counter
}

#[tokio::test]
async fn concurrent_increments_on_one_session_are_never_lost() {
    let redis = TestRedis::start();
    let app = Arc::new(TestApp::spawn(&redis, &[]).await);
    assert_eq!(concurrent_increments(&[app]).await, 1001);
}

#[tokio::test]
async fn concurrent_increments_through_two_app_instances_are_never_lost() {
    let redis = TestRedis::start();
    let one = Arc::new(TestApp::spawn(&redis, &[]).await);
    let two = Arc::new(TestApp::spawn(&redis, &[]).await);
    assert_eq!(concurrent_increments(&[one, two]).await, 1001);
}
