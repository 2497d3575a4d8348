//! Session data is server-only unless its key is declared public: a value a handler keeps in
//! the session (here an OAuth state) never reaches the browser, through the API or the page.

use crate::helpers::{TestApp, TestRedis, SESSION_KEYS};

const SECRET: &str = "oauth-state-7f3c9a";

#[tokio::test]
async fn a_key_not_declared_public_never_leaves_the_server() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[]).await;
    let browser = app.new_browser();
    assert_eq!(browser.save_note("visible to the page").await.status(), 200);
    let keys = redis.keys(SESSION_KEYS);
    assert_eq!(keys.len(), 1, "{keys:?}");
    // A key a handler stored through the session API: `d:<key>`, its value JSON.
    redis.cli(&["HSET", &keys[0], "d:oauth_state", &format!("\"{SECRET}\"")]);
    redis.cli(&["HSET", &keys[0], "d:role", "{\"admin\":true}"]);

    let api = browser.get("/api/session").await.text().await.unwrap();
    assert!(api.contains("visible to the page"), "{api}");
    assert!(!api.contains(SECRET) && !api.contains("admin"), "{api}");
    let view = browser.session().await;
    assert_eq!(
        view.data.keys().collect::<Vec<_>>(),
        ["note"],
        "only public keys"
    );

    let page = browser.get("/").await.text().await.unwrap();
    assert!(
        page.contains("visible to the page"),
        "the page shows the note"
    );
    assert!(
        !page.contains(SECRET) && !page.contains("admin"),
        "nor in the page's HTML"
    );
}
