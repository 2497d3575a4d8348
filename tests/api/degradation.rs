//! Redis down or slow under load: requests are refused fast instead of waiting the command
//! timeout, too many waiting requests are shed, and the app is back at its next reconnect to
//! Redis. (How an outage is logged: `outage_logs`.)

use std::time::{Duration, Instant};

use sessionboard::server::{http::page_deadline::page_deadline, redis::BreakerState};
use tower_sessions_fred_store::NearCacheSettings;

use crate::{
    helpers::{eventually, http_client, TestApp, TestRedis, AOF, SAME_ORIGIN_JSON},
    load::{quantile, with_captured_logs, Load, Sample},
};

/// Kills Redis (SIGKILL) or starts it again without blocking the runtime.
pub(crate) async fn stop(mut redis: TestRedis) -> TestRedis {
    tokio::task::spawn_blocking(move || {
        redis.stop();
        redis
    })
    .await
    .expect("stop redis")
}

pub(crate) async fn resume(mut redis: TestRedis) -> TestRedis {
    tokio::task::spawn_blocking(move || {
        redis.resume();
        redis
    })
    .await
    .expect("resume redis")
}

/// A session with its counter at 3; its cookie.
pub(crate) async fn session_at_three(app: &TestApp) -> String {
    let cookie = app.new_session_cookie().await;
    for _ in 0..2 {
        let res = app.post_with_cookie("/api/increment", &cookie, &[]).await;
        assert_eq!(res.status(), 200);
    }
    cookie
}

/// The first answer to a request started after `after` with this status: when it completed.
fn first_answer(samples: &[Sample], after: Instant, status: u16) -> Option<Instant> {
    samples
        .iter()
        .filter(|s| s.started >= after && s.status == Some(status))
        .map(|s| s.started + s.latency)
        .min()
}

/// Redis has been seen away: the clients were refused (503, not a page) `refusals` times since
/// `killed`, and a page was rendered once the outage was noticed.
pub(crate) fn outage_seen(samples: &[Sample], killed: Instant, refusals: usize) -> bool {
    let Some(detected) = first_answer(samples, killed, 503) else {
        return false;
    };
    let refused = samples
        .iter()
        .filter(|s| s.started >= killed && s.status == Some(503) && !s.page)
        .count();
    refused >= refusals && samples.iter().any(|s| s.page && s.started >= detected)
}

/// Neither hung nor 500, and a page rendered while the store was away shows the banner. An
/// unanswered request is shown with when it started relative to `fault` (Redis killed, paused).
pub(crate) fn assert_all_answered_cleanly(samples: &[Sample], fault: Instant) {
    let relative = |at: Instant| match at.checked_duration_since(fault) {
        Some(after) => format!("{after:?} after the fault"),
        None => format!("{:?} before the fault", fault - at),
    };
    let unanswered: Vec<String> = samples
        .iter()
        .filter(|s| s.status.is_none() || s.failure.is_some())
        .map(|s| {
            format!(
                "{} {:?}, started {}, took {:?}: {:?}",
                if s.page { "page" } else { "read" },
                s.status,
                relative(s.started),
                s.latency,
                s.failure
            )
        })
        .collect();
    assert!(
        unanswered.is_empty(),
        "requests without an answer: {unanswered:#?}"
    );
    let failed: Vec<&Sample> = samples.iter().filter(|s| s.status == Some(500)).collect();
    assert!(failed.is_empty(), "500s: {:?}", failed.first());
    // The page deadline is a last resort: a render that reached it waited on something that
    // never woke it, and its stack is in the log.
    let late = samples.iter().filter(|s| s.past_deadline).count();
    assert_eq!(late, 0, "pages that missed their render deadline");
    for sample in samples.iter().filter(|s| s.status == Some(503) && !s.page) {
        assert!(
            sample
                .body
                .contains("\"code\":\"session_store_unavailable\"")
                && sample.body.contains("\"message\""),
            "{}",
            sample.body
        );
    }
}

/// What a Redis outage under load looked like from the clients.
struct Outage {
    /// How long Redis was down.
    lasted: Duration,
    answered_during: usize,
    detected_after: Duration,
    /// Requests started between detection and Redis coming back.
    once_detected: Vec<Sample>,
    recovered: Duration,
    lines: Vec<String>,
}

/// `connections` clients reading one session while Redis is killed until they have been refused
/// `refusals` times; asserts that nothing hung or failed with 500, pages showed the banner, and
/// the session survived.
fn outage_under_load(connections: usize, refusals: usize) -> Outage {
    let _one_at_a_time = ONE_OUTAGE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut figures = None;
    let out = &mut figures;
    with_captured_logs(move |lines| async move {
        let redis = TestRedis::start_with(&AOF);
        let timeout = OUTAGE_COMMAND_TIMEOUT.as_millis().to_string();
        let app = TestApp::spawn(&redis, &[("REDIS_COMMAND_TIMEOUT_MS", &timeout)]).await;
        let cookie = session_at_three(&app).await;
        let base = format!("http://{}", app.addr);
        let started = Instant::now();
        let load = Load::start(base, cookie.clone(), connections, Duration::from_secs(20));
        let running = "every client is answered before the outage";
        load.wait_until_all_answered_since(running, started, Duration::from_secs(5))
            .await;

        let killed = Instant::now();
        let redis = stop(redis).await;
        let refused = format!("the clients are refused {refusals} times");
        load.wait_until(&refused, Duration::from_secs(15), |samples| {
            outage_seen(samples, killed, refusals)
        })
        .await;
        let resuming = Instant::now();
        let redis = resume(redis).await;
        let back = Instant::now();
        let recovered = wait_for_session(&app, &cookie, back).await;
        let again = "every client is answered again after the outage";
        load.wait_until_all_answered_since(again, back + recovered, Duration::from_secs(5))
            .await;
        let samples = load.finish().await;

        assert_all_answered_cleanly(&samples, killed);
        let detected = first_answer(&samples, killed, 503).expect("the outage was noticed");
        let once_detected: Vec<Sample> = samples
            .iter()
            .filter(|s| s.started >= detected && s.started < resuming)
            .cloned()
            .collect();
        assert!(once_detected.iter().all(|s| s.status == Some(503)));
        // A page tells the visitor the store is away, with the banner.
        assert!(once_detected.iter().filter(|s| s.page).all(|s| s.banner));
        let (status, view) = app.session_with_cookie(&cookie).await;
        assert_eq!(
            (status, view.map(|v| v.counter)),
            (200, Some(3)),
            "session intact"
        );
        assert_eq!(app.state.redis.breaker().current(), BreakerState::Closed);
        *out = Some(Outage {
            lasted: back - killed,
            answered_during: samples
                .iter()
                .filter(|s| s.started >= killed && s.started < back)
                .count(),
            detected_after: detected - killed,
            once_detected,
            recovered,
            lines: lines
                .between(killed, Instant::now())
                .iter()
                .map(|l| format!("{} {}", l.level, l.message))
                .collect(),
        });
        drop(redis);
    });
    figures.expect("the outage ran")
}

/// The outage tests' command timeout: what a request that waited on the missing Redis would
/// take at least. Refused requests are judged against it, not against a number of milliseconds
/// that holds only on an idle machine.
const OUTAGE_COMMAND_TIMEOUT: Duration = Duration::from_millis(2_000);

/// fred's reconnect delay is `min(n × 50 ms, 2 s)`: the app notices Redis is back at its next
/// reconnect attempt, at most this long after Redis is.
const LONGEST_RECONNECT_DELAY: Duration = Duration::from_secs(2);

#[test]
fn killed_redis_under_load_is_answered_without_waiting_and_recovers_at_the_next_reconnect() {
    let outage = outage_under_load(8, 500);
    eprintln!("Redis was down {:?} until 500 refusals", outage.lasted);
    // A page begun just as Redis returns may carry the breaker's one probe, which may wait out
    // the command timeout; rendering adds its CPU on top (debug build, busy machine).
    // At most the page deadline (a render is answered "try again" then, whatever it waits on).
    let pages = outage.once_detected.iter().filter(|s| s.page);
    let slowest_page = pages.map(|s| s.latency).max().unwrap_or_default();
    assert!(
        slowest_page < page_deadline(OUTAGE_COMMAND_TIMEOUT) + Duration::from_secs(1),
        "{slowest_page:?}"
    );
    // Every other answer once the outage was noticed is a refusal that sent no command: far
    // below the command timeout, however busy the machine.
    let once_detected: Vec<&Sample> = outage.once_detected.iter().filter(|s| !s.page).collect();
    let slowest = once_detected
        .iter()
        .max_by_key(|s| s.latency)
        .expect("requests");
    assert!(
        slowest.latency < OUTAGE_COMMAND_TIMEOUT / 2,
        "slowest answer once detected: {:?} (status {:?}; p50 {:?}, p99 {:?})",
        slowest.latency,
        slowest.status,
        quantile(&once_detected, 0.5),
        quantile(&once_detected, 0.99),
    );
    assert!(
        outage.recovered <= LONGEST_RECONNECT_DELAY,
        "recovered after {:?}",
        outage.recovered
    );
    assert!(outage.lines.len() <= 5, "{:#?}", outage.lines);
}

/// The figures of the note (`cargo test --features ssr --test api under_32_connections --
/// --nocapture`; run alone for figures that are the machine's, not the other tests').
#[test]
fn an_outage_of_two_thousand_refusals_under_32_connections_reports_its_figures() {
    const CONNECTIONS: usize = 32;
    const REFUSALS: usize = 2_000;
    let outage = outage_under_load(CONNECTIONS, REFUSALS);
    let once_detected: Vec<&Sample> = outage.once_detected.iter().collect();
    eprintln!(
        "outage figures ({CONNECTIONS} connections, Redis killed until {REFUSALS} refusals: \
         {:?}): {} requests answered during the outage (detected after {:?}); once detected p50 \
         {:?}, p99 {:?}, max {:?}; recovered {:?} after Redis answered again; {} log lines \
         written: {:#?}",
        outage.lasted,
        outage.answered_during,
        outage.detected_after,
        quantile(&once_detected, 0.5),
        quantile(&once_detected, 0.99),
        quantile(&once_detected, 1.0),
        outage.recovered,
        outage.lines.len(),
        outage.lines,
    );
    // Closed-loop clients in the same process: latency here is CPU queueing, so only what
    // cannot depend on the machine is asserted.
    assert!(quantile(&once_detected, 0.99) < OUTAGE_COMMAND_TIMEOUT / 2);
    assert!(outage.recovered <= LONGEST_RECONNECT_DELAY);
    assert!(outage.lines.len() <= 5, "{:#?}", outage.lines);
}

/// Polls until the session reads again (for at most 5 s after `back`, which may be still to
/// come); how long after `back` that was.
pub(crate) async fn wait_for_session(app: &TestApp, cookie: &str, back: Instant) -> Duration {
    let within = back.saturating_duration_since(Instant::now()) + Duration::from_secs(5);
    eventually("the session reads again", within, || async {
        app.session_with_cookie(cookie).await.0 == 200
    })
    .await;
    Instant::now().saturating_duration_since(back)
}

/// The outage tests load the machine for seconds at a time: one at a time, so that one's load is
/// not mistaken for another's hung request.
pub(crate) static ONE_OUTAGE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_redis_holds_no_request_past_the_command_timeout_and_the_breaker_recovers() {
    const TIMEOUT_MS: u64 = 400;
    let redis = TestRedis::start();
    let app = TestApp::spawn(
        &redis,
        &[
            ("REDIS_COMMAND_TIMEOUT_MS", "400"),
            ("REDIS_BREAKER_TIMEOUTS", "3"),
            ("REDIS_BREAKER_PROBE_INTERVAL_MS", "100"),
        ],
    )
    .await;
    let cookie = session_at_three(&app).await;
    let started = Instant::now();
    let load = Load::start(
        format!("http://{}", app.addr),
        cookie.clone(),
        16,
        Duration::from_secs(15),
    );
    let running = "every client is answered before the pause";
    load.wait_until_all_answered_since(running, started, Duration::from_secs(5))
        .await;

    let paused = Instant::now();
    redis.cli(&["CLIENT", "PAUSE", "2000", "ALL"]);
    // Reads are answered from memory until a heartbeat goes unanswered: the next beat is due
    // within a quarter of `max_silence` and fails at the command timeout. Only then do reads
    // ask Redis, and they time out one command timeout later.
    let heartbeat = NearCacheSettings::default().max_silence / 4;
    let timeout = Duration::from_millis(TIMEOUT_MS);
    eventually(
        "the breaker opens on timeouts",
        heartbeat + 2 * timeout + Duration::from_millis(250),
        || {
            let open = app.state.redis.breaker().current() != BreakerState::Closed;
            async move { open }
        },
    )
    .await;
    let unpaused = paused + Duration::from_millis(2000);
    let recovered = wait_for_session(&app, &cookie, unpaused).await;
    let again = "every client is answered again after the pause";
    load.wait_until_all_answered_since(again, Instant::now(), Duration::from_secs(5))
        .await;
    let samples = load.finish().await;

    assert_all_answered_cleanly(&samples, paused);
    let slowest = samples.iter().map(|s| s.latency).max().unwrap_or_default();
    assert!(
        slowest <= Duration::from_millis(TIMEOUT_MS + 250),
        "slowest answer {slowest:?} with a {TIMEOUT_MS} ms command timeout"
    );
    assert!(app.state.redis.breaker().times_opened() >= 1);
    assert_eq!(app.state.redis.breaker().current(), BreakerState::Closed);
    assert!(
        recovered <= Duration::from_secs(1),
        "recovered after {recovered:?}"
    );
    let refused = samples
        .iter()
        .filter(|s| s.status == Some(503) && s.latency < Duration::from_millis(50))
        .count();
    assert!(refused > 0, "the open breaker answered at once");
    let (status, view) = app.session_with_cookie(&cookie).await;
    assert_eq!((status, view.map(|v| v.counter)), (200, Some(3)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_the_waiting_limit_requests_are_refused_at_once_as_json() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(
        &redis,
        &[
            ("REDIS_MAX_WAITING_REQUESTS", "4"),
            ("REDIS_BREAKER_TIMEOUTS", "1000"),
            ("REDIS_COMMAND_TIMEOUT_MS", "1500"),
        ],
    )
    .await;
    let cookie = session_at_three(&app).await;
    // Writes: a read of a session this instance holds is answered from memory, without waiting.
    let url = format!("http://{}/api/increment", app.addr);
    redis.cli(&["CLIENT", "PAUSE", "1000", "ALL"]);
    let requests = (0..12).map(|_| {
        let (url, cookie) = (url.clone(), cookie.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            let mut request = http_client(false).post(url).header("cookie", cookie);
            for (name, value) in SAME_ORIGIN_JSON {
                request = request.header(name, value);
            }
            let res = request
                .header("content-type", "application/x-www-form-urlencoded")
                .body("")
                .send()
                .await
                .expect("an answer");
            let retry_after = res.headers().get("retry-after").is_some();
            let status = res.status().as_u16();
            let body: serde_json::Value = res.json().await.expect("JSON");
            (status, started.elapsed(), retry_after, body)
        })
    });
    let mut answers = Vec::new();
    for request in requests.collect::<Vec<_>>() {
        answers.push(request.await.expect("request task"));
    }
    let shed: Vec<_> = answers
        .iter()
        .filter(|(status, took, _, _)| *status == 503 && *took < Duration::from_millis(200))
        .collect();
    assert!(shed.len() >= 8, "{answers:?}");
    for (_, _, retry_after, body) in &shed {
        assert!(*retry_after);
        assert_eq!(body["code"], "session_store_unavailable");
        assert!(body["message"].is_string());
    }
    let waited = answers.iter().filter(|(status, ..)| *status == 200).count();
    assert!(waited <= 4, "{answers:?}");
}
