//! A form posted without JavaScript is answered with a redirect back to its page (303, so the
//! browser follows it with a GET), also when it is refused: the page then shows the message,
//! and a `Location` that is not plain ASCII never leaves this site.

use reqwest::{header::HeaderValue, redirect::Policy, Client, Response};

use crate::helpers::{TestApp, TestRedis};

fn no_redirects() -> Client {
    Client::builder()
        .redirect(Policy::none())
        .cookie_store(true)
        .build()
        .unwrap()
}

/// A browser's own form post: same-origin, asking for HTML.
async fn post_form(client: &Client, app: &TestApp, path: &str, referer: HeaderValue) -> Response {
    client
        .post(app.url(path))
        .header("accept", "text/html")
        .header("sec-fetch-site", "same-origin")
        .header("referer", referer)
        .form(&[("note", "x".repeat(250))])
        .send()
        .await
        .unwrap()
}

fn location(res: &Response) -> String {
    res.headers()
        .get("location")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_refused_form_post_redirects_back_and_the_page_shows_the_message() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[]).await;
    let client = no_redirects();
    let page = HeaderValue::from_str(&app.url("/")).unwrap();
    let res = post_form(&client, &app, "/api/note", page).await;
    assert_eq!(res.status(), 303, "{}", location(&res));
    let back = location(&res);
    assert!(back.starts_with("/?") && back.contains("__err="), "{back}");

    let shown = client.get(app.url(&back)).send().await.unwrap();
    assert_eq!(shown.status(), 200);
    let html = shown.text().await.unwrap();
    assert!(
        html.contains("data-testid=\"note-error\"") && html.contains("at most 200"),
        "the page shows the refusal where the hydrated page would"
    );
}

#[tokio::test]
async fn a_form_post_that_succeeds_is_sent_back_with_see_other() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[]).await;
    let page = HeaderValue::from_str(&app.url("/")).unwrap();
    let res = no_redirects()
        .post(app.url("/api/increment"))
        .header("accept", "text/html")
        .header("sec-fetch-site", "same-origin")
        .header("referer", page)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    // Leptos strips a previous error from the page's address, leaving its `?`.
    assert!(
        matches!(location(&res).as_str(), "/" | "/?"),
        "{}",
        location(&res)
    );
}

#[tokio::test]
async fn a_referer_that_is_not_ascii_sends_the_browser_home() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[]).await;
    for referer in [&b"//evil.example/\xff"[..], b"http://evil.example/\xc3\xa9"] {
        let referer = HeaderValue::from_bytes(referer).unwrap();
        let res = post_form(&no_redirects(), &app, "/api/increment", referer.clone()).await;
        assert!(res.status().is_redirection(), "{}", res.status());
        assert_eq!(location(&res), "/", "Referer {referer:?}");
    }
}
