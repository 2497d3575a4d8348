//! "Your sessions": a user's sessions on several devices, listed and revoked, signed out by a
//! password change; and no counter update lost when requests on one session race.

use std::time::Duration;

use crate::helpers::{eventually_ok, in_parallel, Browser, TestApp, TestRedis, SESSION_KEYS};

const USERS: &str = "hana:hanas password,ivan:ivans password";

/// `n` devices, each signed in as hana.
async fn hanas_devices(app: &TestApp, n: usize) -> Vec<Browser> {
    let mut devices = Vec::new();
    for _ in 0..n {
        let device = app.new_browser();
        assert_eq!(device.login("hana", "hanas password").await, 200);
        devices.push(device);
    }
    devices
}

#[tokio::test]
async fn list_revoke_one_and_sign_out_the_others() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[("DEMO_USERS", USERS)]).await;
    let devices = hanas_devices(&app, 3).await;
    for (i, device) in devices.iter().enumerate() {
        let listed = device.sessions().await;
        assert_eq!(listed.len(), 3);
        assert_eq!(
            listed.iter().filter(|s| s["this_device"] == true).count(),
            1,
            "device {i}"
        );
        let text = serde_json::to_string(&listed).unwrap();
        for key in redis.keys(SESSION_KEYS) {
            let id = key.split('{').nth(1).unwrap().trim_end_matches('}');
            assert!(!text.contains(id), "a session id leaked into the list");
        }
    }

    // The first device signs out the second.
    let listed = devices[0].sessions().await;
    let second = devices[1].session().await.id_fingerprint;
    let handle = listed
        .iter()
        .find(|s| s["handle"] == second.as_str())
        .expect("second listed")["handle"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(devices[0].revoke(&handle).await.status(), 200);
    let view = devices[1].session().await;
    assert!(
        !view.active && view.user.is_none(),
        "the revoked session is dead at its next request"
    );
    assert_eq!(redis.keys(SESSION_KEYS).len(), 2, "its record is deleted");
    assert_eq!(devices[0].sessions().await.len(), 2);

    // Then signs out all the others: the third is the only one left.
    assert_eq!(devices[0].revoke_others().await, 1);
    assert!(!devices[2].session().await.active);
    let left = devices[0].sessions().await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["this_device"], true);
}

#[tokio::test]
async fn a_password_change_signs_out_every_other_session() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[("DEMO_USERS", USERS)]).await;
    let devices = hanas_devices(&app, 3).await;
    let res = devices[0]
        .change_password("wrong password", "a new password")
        .await;
    assert_eq!(res.status(), 401, "the current password is checked");
    let res = devices[0]
        .change_password("hanas password", "a new password")
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<usize>().await.unwrap(), 2);
    assert!(devices[0].session().await.active);
    assert!(!devices[1].session().await.active);
    assert!(!devices[2].session().await.active);
    let fresh = app.new_browser();
    assert_eq!(fresh.login("hana", "hanas password").await, 401);
    assert_eq!(fresh.login("hana", "a new password").await, 200);
}

#[tokio::test]
async fn expired_sessions_leave_the_list() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(
        &redis,
        &[
            ("DEMO_USERS", USERS),
            ("SESSION_TTL_SECONDS", "1"),
            ("SESSION_REFRESH_FRACTION", "0.1"),
        ],
    )
    .await;
    let devices = hanas_devices(&app, 2).await;
    assert_eq!(devices[0].sessions().await.len(), 2);
    // Only the first stays active: it reads at every look at the list.
    let listed = eventually_ok(
        "the idle device leaves the list",
        Duration::from_secs(3),
        || async {
            devices[0].session().await;
            let listed = devices[0].sessions().await;
            match listed.len() {
                1 => Ok(listed),
                _ => Err(listed),
            }
        },
    )
    .await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["this_device"], true);
}

#[tokio::test]
async fn another_users_handle_is_not_found() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[("DEMO_USERS", USERS)]).await;
    let hana = hanas_devices(&app, 1).await.remove(0);
    let ivan = app.new_browser();
    assert_eq!(ivan.login("ivan", "ivans password").await, 200);
    let ivans_handle = ivan.sessions().await[0]["handle"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(hana.revoke(&ivans_handle).await.status(), 404);
    assert_eq!(
        hana.revoke("000000000000").await.status(),
        404,
        "unknown and foreign handles look alike"
    );
    assert!(ivan.session().await.active);
    let anonymous = app.new_browser();
    assert_eq!(anonymous.get("/api/sessions").await.status(), 401);
}

/// 20 tasks × 50 increments on one session, spread over `apps` app instances sharing one Redis.
async fn concurrent_increments(apps: &[TestApp]) -> i64 {
    let browser = apps[0].new_browser();
    browser.increment().await;
    in_parallel(20, |task| {
        let tab = browser.at(&apps[task % apps.len()]);
        async move {
            for _ in 0..50 {
                tab.increment().await;
            }
        }
    })
    .await;
    browser.session().await.counter
}

#[tokio::test]
async fn concurrent_increments_on_one_session_are_never_lost() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[]).await;
    assert_eq!(concurrent_increments(&[app]).await, 1001);
}

#[tokio::test]
async fn concurrent_increments_through_two_app_instances_are_never_lost() {
    let redis = TestRedis::start();
    let one = TestApp::spawn(&redis, &[]).await;
    let two = TestApp::spawn(&redis, &[]).await;
    assert_eq!(concurrent_increments(&[one, two]).await, 1001);
}

#[tokio::test]
async fn sessions_are_named_by_browser_and_system_with_the_raw_user_agent_kept() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[("DEMO_USERS", "xena:xenas password")]).await;
    let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
                  Chrome/156.0.0.0 Safari/537.36";
    let mut headers = crate::helpers::SAME_ORIGIN_JSON.to_vec();
    headers.push(("user-agent", chrome));
    let form = [("username", "xena"), ("password", "xenas password")];
    let res = app.post_with_headers("/api/login", &headers, &form).await;
    assert_eq!(res.status(), 200);
    let listed = app.sessions().await;
    assert_eq!(listed[0]["device"], "Chrome 156 on Linux");
    assert_eq!(listed[0]["user_agent"], chrome);
}
