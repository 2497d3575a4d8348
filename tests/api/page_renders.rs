//! A page render waits on nothing but its own data: not even another app (or another worker)
//! starting in the same process.

use std::time::{Duration, Instant};

use crate::helpers::{http_client, TestApp, TestRedis};

/// Building an app generates its route list; while leptos_router does that, no resource in the
/// process loads. Before the route list was generated once per process, a page rendered by one
/// app while another started waited for its data until the page deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_render_while_other_apps_start_in_the_same_process() {
    let redis = TestRedis::start();
    // A short command timeout: a render that waits for nothing would miss its deadline (2.4 s)
    // well within the test.
    let overrides = [("REDIS_COMMAND_TIMEOUT_MS", "200")];
    let app = TestApp::spawn(&redis, &overrides).await;
    let cookie = app.new_session_cookie().await;
    let base = format!("http://{}", app.addr);
    let rendering: Vec<_> = (0..6)
        .map(|_| {
            let (base, cookie) = (base.clone(), cookie.clone());
            tokio::spawn(async move {
                let client = http_client(false);
                let started = Instant::now();
                let mut pages = Vec::new();
                while started.elapsed() < Duration::from_secs(20) {
                    let res = client.get(&base).header("cookie", &cookie).send().await;
                    let res = res.expect("the page answers");
                    let status = res.status().as_u16();
                    let body = res.text().await.unwrap_or_default();
                    pages.push((status, body.contains("took too long to prepare")));
                    if pages.len() == 200 {
                        break;
                    }
                }
                pages
            })
        })
        .collect();
    let mut started_apps = 0;
    while rendering.iter().any(|r| !r.is_finished()) && started_apps < 80 {
        drop(TestApp::spawn(&redis, &overrides).await);
        started_apps += 1;
    }
    for pages in rendering {
        let pages = pages.await.expect("a render loop");
        assert!(!pages.is_empty());
        assert!(
            pages.iter().all(|&(status, late)| status == 200 && !late),
            "{} of {} pages were late or failed while {started_apps} apps started",
            pages
                .iter()
                .filter(|(status, late)| *status != 200 || *late)
                .count(),
            pages.len()
        );
    }
}
