//! What an operator sees: `/metrics` families that move with what happens, request ids that
//! round-trip into responses, JSON errors and JSON log lines, and expired sessions counted.
//! Every app has its own metrics registry, so each test reads only its own app's numbers.

use std::{
    io::Write,
    sync::{Arc, Mutex},
    time::Duration,
};

use serde_json::Value;
use sessionboard::server::observability::json_lines;
use tracing_subscriber::{layer::SubscriberExt, EnvFilter};

use crate::helpers::{eventually_ok, free_port, http_client, TestApp, TestRedis};

/// The value of one sample (`name{labels} value`) in a scrape; 0 when it is absent.
fn sample(scrape: &str, series: &str) -> f64 {
    scrape
        .lines()
        .find_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            (name == series).then(|| value.parse().ok())?
        })
        .unwrap_or(0.0)
}

async fn scrape(app: &TestApp) -> String {
    let res = app.get("/metrics").await;
    assert_eq!(res.status(), 200);
    res.text().await.expect("metrics text")
}

#[tokio::test]
async fn metric_families_appear_and_move_with_sign_ins_and_sessions() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[]).await;
    let name = app.register("metrics-user", "correct horse 1").await;
    assert_eq!(app.login(&name, "wrong password 1").await, 401);
    let after_failure = scrape(&app).await;
    let invalid = r#"sessionboard_logins_total{result="invalid"}"#;
    assert_eq!(sample(&after_failure, invalid), 1.0, "{after_failure}");
    assert_eq!(
        sample(&after_failure, "sessionboard_registrations_total"),
        1.0
    );

    assert_eq!(app.login(&name, "correct horse 1").await, 200);
    app.session().await;
    app.get("/api/not-a-function").await;
    app.get("/no/such/page/12345").await;
    let other = app.new_browser();
    other.increment().await;
    other.forget().await;
    app.logout().await;

    let text = scrape(&app).await;
    for family in [
        "sessionboard_http_requests_total",
        "sessionboard_http_request_duration_seconds",
        "sessionboard_redis_command_duration_seconds",
        "sessionboard_redis_up",
        "sessionboard_redis_reconnects_total",
        "sessionboard_sessions_created_total",
        "sessionboard_sessions_ended_total",
        "sessionboard_sessions_live",
        "sessionboard_logins_total",
        "sessionboard_registrations_total",
    ] {
        assert!(
            text.contains(&format!("\n{family}")),
            "{family} missing:\n{text}"
        );
    }
    assert_eq!(
        sample(&text, r#"sessionboard_logins_total{result="ok"}"#),
        1.0
    );
    let session_reads =
        r#"sessionboard_http_requests_total{route="/api/session",method="GET",status="200"}"#;
    assert_eq!(sample(&text, session_reads), 1.0, "{text}");
    // Unknown paths never become labels of their own.
    assert!(
        !text.contains("not-a-function") && !text.contains("12345"),
        "{text}"
    );
    assert!(text.contains(r#"route="/api/{*fn_name}""#), "{text}");
    assert!(text.contains(r#"route="unmatched""#), "{text}");
    assert_eq!(
        sample(&text, "sessionboard_sessions_created_total"),
        2.0,
        "{text}"
    );
    let ended = |reason: &str| {
        sample(
            &text,
            &format!(r#"sessionboard_sessions_ended_total{{reason="{reason}"}}"#),
        )
    };
    assert_eq!(
        (ended("signed_out"), ended("forgotten")),
        (1.0, 1.0),
        "{text}"
    );
    assert_eq!(sample(&text, "sessionboard_redis_up"), 1.0);
    let loads = r#"sessionboard_redis_command_duration_seconds_count{operation="session_load"}"#;
    assert!(sample(&text, loads) >= 1.0, "{text}");
}

#[tokio::test]
async fn the_live_session_gauge_counts_sessions_until_they_end() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[]).await;
    let browsers: Vec<_> = (0..3).map(|_| app.new_browser()).collect();
    for browser in &browsers {
        browser.increment().await;
    }
    browsers[0].forget().await;
    // The gauge's bookkeeping is written in the background.
    eventually_ok("the live gauge reads 2", Duration::from_secs(5), || async {
        let live = sample(&scrape(&app).await, "sessionboard_sessions_live");
        if live == 2.0 {
            Ok(())
        } else {
            Err(format!("live sessions: {live}"))
        }
    })
    .await;
}

#[tokio::test]
async fn redis_up_reads_zero_within_the_command_timeout_after_redis_stops() {
    let mut redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[("REDIS_COMMAND_TIMEOUT_MS", "1000")]).await;
    assert_eq!(sample(&scrape(&app).await, "sessionboard_redis_up"), 1.0);
    redis.stop();
    eventually_ok("redis_up reads 0", Duration::from_millis(1000), || async {
        let text = scrape(&app).await;
        match sample(&text, "sessionboard_redis_up") == 0.0 {
            true => Ok(()),
            false => Err(text),
        }
    })
    .await;
    redis.resume();
    eventually_ok(
        "redis_up reads 1 after a reconnect",
        Duration::from_secs(10),
        || async {
            let text = scrape(&app).await;
            let reconnects = sample(&text, "sessionboard_redis_reconnects_total");
            match sample(&text, "sessionboard_redis_up") == 1.0 && reconnects >= 1.0 {
                true => Ok(()),
                false => Err(text),
            }
        },
    )
    .await;
}

#[tokio::test]
async fn an_expired_session_is_counted_and_leaves_the_index_when_expiry_events_are_on() {
    let redis = TestRedis::start();
    let settings = [
        ("SESSION_EXPIRY_EVENTS", "true"),
        ("SESSION_TTL_SECONDS", "0.5"),
    ];
    let app = TestApp::spawn(&redis, &settings).await;
    let name = app.register("expiring-user", "correct horse 2").await;
    assert_eq!(app.login(&name, "correct horse 2").await, 200);
    let index = format!("sessionboard:user:{{{name}}}:sessions");
    assert_eq!(redis.cli(&["HLEN", &index]).trim(), "1");
    let expired = r#"sessionboard_sessions_ended_total{reason="expired"}"#;
    eventually_ok(
        "the expiry counted and pruned",
        Duration::from_secs(10),
        || async {
            let text = scrape(&app).await;
            let pruned = redis.cli(&["HLEN", &index]).trim() == "0";
            match sample(&text, expired) == 1.0 && pruned {
                true => Ok(()),
                false => Err(format!("not counted or not pruned:\n{text}")),
            }
        },
    )
    .await;
    assert!(
        redis
            .cli(&["CONFIG", "GET", "notify-keyspace-events"])
            .contains('x'),
        "the app turned the notifications on"
    );
}

#[tokio::test]
async fn x_request_id_round_trips_and_an_unusable_one_is_replaced() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[]).await;
    let client = http_client(false);
    let url = format!("http://{}/healthz", app.addr);
    let echoed = |res: &reqwest::Response| {
        let id = res.headers().get("x-request-id").expect("an x-request-id");
        id.to_str().expect("text").to_string()
    };
    let res = client
        .get(&url)
        .header("x-request-id", "trace-42.a_b")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed(&res), "trace-42.a_b");
    for bad in [
        "a".repeat(65),
        "has space".to_string(),
        "quote\"d".to_string(),
    ] {
        let res = client
            .get(&url)
            .header("x-request-id", &bad)
            .send()
            .await
            .unwrap();
        let id = echoed(&res);
        assert!(id != bad && id.len() == 36, "{bad:?} replaced by {id:?}");
    }
    let generated = echoed(&client.get(&url).send().await.unwrap());
    assert_eq!(generated.len(), 36, "a UUID: {generated}");
}

#[tokio::test]
async fn json_errors_carry_the_request_id() {
    let mut redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[]).await;
    let id = [
        ("x-request-id", "err-1"),
        ("accept", "application/json"),
        ("sec-fetch-site", "same-origin"),
    ];
    let form = [("username", "nobody"), ("password", "wrong password")];
    let res = app.post_with_headers("/api/login", &id, &form).await;
    assert_eq!(res.status(), 401);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["request_id"], "err-1", "{body}");

    let cross_site = [("x-request-id", "err-2"), ("sec-fetch-site", "cross-site")];
    let res = app
        .post_with_headers("/api/increment", &cross_site, &[])
        .await;
    assert_eq!(res.status(), 403);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        (&body["code"], &body["request_id"]),
        (&"cross_site_request".into(), &"err-2".into())
    );

    let unknown = [("x-request-id", "err-4"), ("sec-fetch-site", "same-origin")];
    let res = app
        .post_with_headers("/api/no-such-thing", &unknown, &[])
        .await;
    assert_eq!(res.status(), 404);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["request_id"], "err-4", "{body}");

    redis.stop();
    let same_site = [("x-request-id", "err-3"), ("sec-fetch-site", "same-origin")];
    let res = app
        .post_with_headers("/api/increment", &same_site, &[])
        .await;
    assert_eq!(res.status(), 503);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["request_id"], "err-3", "{body}");
}

#[tokio::test]
async fn metrics_addr_serves_metrics_there_only() {
    let redis = TestRedis::start();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let app = TestApp::spawn(&redis, &[("METRICS_ADDR", &addr)]).await;
    assert_eq!(app.get("/metrics").await.status(), 404);
    let res = http_client(false)
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .expect("the metrics listener answers");
    assert_eq!(res.status(), 200);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("sessionboard_redis_up 1"));
}

/// A buffer the JSON log format writes into.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The app's JSON log format, installed as this test binary's global subscriber (no other test
/// installs one): tests run in parallel, so the lines of this test are found by its own request
/// id. (A thread-scoped subscriber is not reliable here: tracing caches per call site whether
/// anyone listens, and other threads race to fill that cache.)
#[tokio::test]
async fn json_log_lines_parse_and_carry_the_request_id_and_no_session_id() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::registry()
        .with(EnvFilter::new("sessionboard=info"))
        .with(json_lines(move || writer.clone()));
    tracing::subscriber::set_global_default(subscriber).expect("the only global subscriber");
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[]).await;
    let cookie = app.new_session_cookie().await;
    let res = http_client(false)
        .get(format!("http://{}/api/session", app.addr))
        .header("cookie", &cookie)
        .header("x-request-id", "log-test-1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();

    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let line = lines
        .iter()
        .find(|line| line["request_id"] == "log-test-1")
        .unwrap_or_else(|| panic!("no line with the request id:\n{text}"));
    assert_eq!(line["method"], "GET");
    assert_eq!(line["route"], "/api/session");
    assert_eq!(line["status"], 200);
    assert!(line["latency_ms"].as_f64().is_some(), "{line}");
    let fingerprint = line["session"].as_str().expect("a session fingerprint");
    assert_eq!(fingerprint.len(), 12, "{line}");
    let cookie_value = cookie.split_once('=').unwrap().1;
    let id = cookie_value.split('.').next_back().unwrap_or(cookie_value);
    assert!(
        !text.contains(cookie_value) && !text.contains(id),
        "a session id in the log"
    );
}

#[tokio::test]
async fn metrics_switched_off_serve_no_metrics_and_the_app_works_on() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[("METRICS_ENABLED", "false")]).await;
    let scrape = http_client(false)
        .get(format!("http://{}/metrics", app.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(scrape.status(), 404);
    let browser = app.new_browser();
    assert_eq!(browser.increment().await, 1);
    assert_eq!(browser.session().await.counter, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_answered_on_several_threads_are_each_counted_once() {
    let redis = TestRedis::start();
    let app = Arc::new(TestApp::spawn(&redis, &[]).await);
    let cookie = app.new_session_cookie().await;
    let readers: Vec<_> = (0..8)
        .map(|_| {
            let (app, cookie) = (app.clone(), cookie.clone());
            tokio::spawn(async move {
                for _ in 0..25 {
                    assert_eq!(app.session_with_cookie(&cookie).await.0, 200);
                }
            })
        })
        .collect();
    for reader in readers {
        reader.await.expect("reader task");
    }

    let text = scrape(&app).await;
    let route = r#"route="/api/session""#;
    let answered =
        format!(r#"sessionboard_http_requests_total{{{route},method="GET",status="200"}}"#);
    assert_eq!(sample(&text, &answered), 200.0, "{text}");
    let timed = format!("sessionboard_http_request_duration_seconds_count{{{route}}}");
    assert_eq!(sample(&text, &timed), 200.0, "{text}");
    let all_buckets =
        format!(r#"sessionboard_http_request_duration_seconds_bucket{{le="+Inf",{route}}}"#);
    assert_eq!(sample(&text, &all_buckets), 200.0, "{text}");
    // Each read is answered from memory or loads the session from Redis, and only then.
    let loads = r#"sessionboard_redis_command_duration_seconds_count{operation="session_load"}"#;
    let hits = sample(&text, "sessionboard_session_near_cache_hits_total");
    let misses = sample(&text, "sessionboard_session_near_cache_misses_total");
    assert_eq!(hits + misses, 200.0, "{text}");
    assert_eq!(sample(&text, loads), misses, "{text}");
    assert!(hits > 0.0, "{text}");
}
