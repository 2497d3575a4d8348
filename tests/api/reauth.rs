//! Revoking sessions asks for the password again unless it was entered in this session within
//! the re-authentication window (ASVS 3.3.4, 3.7.1).

use std::time::Duration;

use crate::helpers::{eventually, Browser, TestApp, TestRedis};

async fn code(res: reqwest::Response) -> (u16, String) {
    let status = res.status().as_u16();
    let body: serde_json::Value = res.json().await.unwrap_or_default();
    (
        status,
        body["code"].as_str().unwrap_or_default().to_string(),
    )
}

/// Waits until the window has passed for `browser`'s session: revoking an unknown handle (which
/// changes nothing) is asked for the password instead of being answered 404.
async fn window_passed(browser: &Browser) {
    eventually(
        "the re-authentication window passes",
        Duration::from_secs(3),
        || async {
            let res = browser.revoke("000000000000").await;
            match code(res).await {
                (404, _) => false,
                (401, code) if code == "reauth_required" => true,
                other => panic!("revoking an unknown handle: {other:?}"),
            }
        },
    )
    .await;
}

#[tokio::test]
async fn revoking_sessions_after_the_window_needs_the_password() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(
        &redis,
        &[
            ("DEMO_USERS", "vera:veras password"),
            ("REAUTH_WINDOW_SECONDS", "0.5"),
        ],
    )
    .await;
    let other = app.new_browser();
    assert_eq!(other.login("vera", "veras password").await, 200);
    assert_eq!(app.login("vera", "veras password").await, 200);
    let handle = other.sessions().await[0]["handle"]
        .as_str()
        .unwrap()
        .to_string();
    window_passed(&app).await;

    let required = (401, "reauth_required".to_string());
    assert_eq!(code(app.revoke(&handle).await).await, required);
    assert_eq!(
        code(app.post("/api/sessions/revoke-others", &[]).await).await,
        required
    );
    let wrong = [("password", "not her password")];
    let res = app.post("/api/sessions/revoke-others", &wrong).await;
    assert_eq!(code(res).await, (401, "invalid_credentials".to_string()));
    assert_eq!(
        other.session().await.user.as_deref(),
        Some("vera"),
        "nothing revoked"
    );

    let right = [("handle", handle.as_str()), ("password", "veras password")];
    let res = app.post("/api/sessions/revoke", &right).await;
    assert_eq!(res.status(), 200);
    assert!(other.session().await.user.is_none(), "revoked");
    assert_eq!(
        app.revoke_others().await,
        0,
        "the password was just entered"
    );
}

#[tokio::test]
async fn a_password_change_counts_as_entering_the_password() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(
        &redis,
        &[
            ("DEMO_USERS", "wes:wess password"),
            ("REAUTH_WINDOW_SECONDS", "0.5"),
        ],
    )
    .await;
    assert_eq!(app.login("wes", "wess password").await, 200);
    window_passed(&app).await;
    let res = app.change_password("wess password", "a new password").await;
    assert_eq!(res.status(), 200);
    assert_eq!(app.revoke_others().await, 0);
}
