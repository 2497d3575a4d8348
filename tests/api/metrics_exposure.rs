//! Where `/metrics` is served: in production only on `METRICS_ADDR`, never on the site's own
//! address; and every series whose labels come from a known set is there from the first scrape.

use tracing::Level;

use crate::{
    helpers::{free_port, http_client, TestApp, TestRedis},
    load::with_captured_logs,
};

#[test]
fn production_serves_metrics_only_on_metrics_addr() {
    let lines = with_captured_logs(|_| async {
        let redis = TestRedis::start();
        let production = TestApp::spawn(&redis, &[("LEPTOS_ENV", "PROD")]).await;
        assert_eq!(production.get("/metrics").await.status(), 404);
        assert_eq!(production.get("/healthz").await.status(), 200);

        let addr = format!("127.0.0.1:{}", free_port());
        let overrides = [("LEPTOS_ENV", "PROD"), ("METRICS_ADDR", addr.as_str())];
        let with_addr = TestApp::spawn(&redis, &overrides).await;
        assert_eq!(with_addr.get("/metrics").await.status(), 404);
        let scrape = http_client(false)
            .get(format!("http://{addr}/metrics"))
            .send()
            .await
            .expect("the metrics listener answers");
        assert_eq!(scrape.status(), 200);

        let development = TestApp::spawn(&redis, &[]).await;
        assert_eq!(development.get("/metrics").await.status(), 200);
    });
    let now = std::time::Instant::now();
    let said = lines
        .between(now - std::time::Duration::from_secs(600), now)
        .into_iter()
        .filter(|line| line.level <= Level::INFO && line.message.contains("METRICS_ADDR"))
        .count();
    assert_eq!(said, 1, "one start-up line says where metrics went");
}

#[tokio::test]
async fn labelled_series_start_at_zero() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[]).await;
    let text = app.get("/metrics").await.text().await.unwrap();
    let reasons = ["signed_out", "revoked", "forgotten", "expired"];
    let results = ["ok", "invalid", "limited"];
    let refusals = ["cross_site", "host_not_allowed"];
    let series = reasons
        .iter()
        .map(|r| format!(r#"sessionboard_sessions_ended_total{{reason="{r}"}}"#))
        .chain(
            results
                .iter()
                .map(|r| format!(r#"sessionboard_logins_total{{result="{r}"}}"#)),
        )
        .chain(
            refusals
                .iter()
                .map(|r| format!(r#"sessionboard_requests_refused_total{{reason="{r}"}}"#)),
        );
    for series in series {
        assert!(
            text.lines().any(|line| line == format!("{series} 0")),
            "{series} missing:\n{text}"
        );
    }
}
