//! An outage is logged once each way, whatever the log filter: no library logs each request
//! refused while Redis is away.

use std::time::{Duration, Instant};

use crate::{
    degradation::{
        assert_all_answered_cleanly, outage_seen, resume, session_at_three, stop, wait_for_session,
        ONE_OUTAGE_AT_A_TIME,
    },
    helpers::{TestApp, TestRedis},
    load::{with_captured_logs_under, Line, Lines, Load},
};

#[test]
fn an_outage_of_a_thousand_refused_requests_writes_at_most_five_log_lines() {
    let logged = outage_log_lines(None, 1_000);
    let shown = show(&logged);
    assert!(logged.len() <= 5, "{shown:#?}");
    assert!(
        logged.iter().any(|l| l.level == tracing::Level::WARN)
            && logged.iter().any(|l| l.message.contains("were refused")),
        "one WARN when it went, one INFO with the refusals when it came back: {shown:#?}"
    );
    assert!(
        logged.iter().all(|l| l.level != tracing::Level::ERROR),
        "{shown:#?}"
    );
}

/// An operator's usual filters let no library log each refused request: the outage is still one
/// WARN. (Under `info` the request log writes its line per request by design; that target is the
/// access log, not a failure report, so it is left out of the count.)
#[test]
fn an_outage_under_rust_log_warn_or_info_still_writes_a_handful_of_lines() {
    for rust_log in ["warn", "info"] {
        let logged: Vec<Line> = outage_log_lines(Some(rust_log), 500)
            .into_iter()
            .filter(|l| l.target != "sessionboard::request")
            .collect();
        let shown = show(&logged);
        // The WARN when it went, under `info` the INFO when it came back.
        assert!(logged.len() <= 2, "RUST_LOG={rust_log}: {shown:#?}");
        assert!(
            logged.iter().any(|l| l.level == tracing::Level::WARN),
            "RUST_LOG={rust_log}: {shown:#?}"
        );
    }
}

fn show(lines: &[Line]) -> Vec<String> {
    lines
        .iter()
        .map(|l| format!("{} {} {}", l.level, l.target, l.message))
        .collect()
}

/// The lines the app logged, filtered as with `RUST_LOG=rust_log`, from killing Redis under load
/// (kept down until the clients were refused `refusals` times) until the app read the session
/// again.
fn outage_log_lines(rust_log: Option<&str>, refusals: usize) -> Vec<Line> {
    let _one_at_a_time = ONE_OUTAGE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut window = None;
    let span = &mut window;
    let lines = with_captured_logs_under(rust_log, move |_: Lines| async move {
        let redis = TestRedis::start();
        let app = TestApp::spawn(&redis, &[]).await;
        let cookie = session_at_three(&app).await;
        let started = Instant::now();
        let load = Load::start(
            format!("http://{}", app.addr),
            cookie.clone(),
            4,
            Duration::from_secs(20),
        );
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
        let redis = resume(redis).await;
        eprintln!(
            "Redis was down {:?} until {refusals} refusals",
            killed.elapsed()
        );
        wait_for_session(&app, &cookie, Instant::now()).await;
        let again = "every client is answered again after the outage";
        load.wait_until_all_answered_since(again, Instant::now(), Duration::from_secs(5))
            .await;
        let samples = load.finish().await;
        assert_all_answered_cleanly(&samples, killed);
        *span = Some((killed, Instant::now()));
        drop(redis);
    });
    let (from, to) = window.expect("the test ran");
    lines.between(from, to)
}
