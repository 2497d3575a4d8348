//! A page is answered within a deadline whatever its render waits on: a last resort that should
//! never fire. Every Redis call a render makes is bounded by the command timeout, so only a
//! render nothing wakes can reach it; the ERROR line then carries the async stacks
//! (async-backtrace's frames) of the renders in flight, showing which await the late one is
//! parked on. `tokio::time::timeout` alone (or tower-http's) would answer without saying where.

use std::{future::Future, time::Duration};

use axum::{
    http::StatusCode,
    response::{Html, IntoResponse, Response},
};

use crate::server::error::retry_soon;

/// The longest a page may take: two Redis calls at their timeout (the session, and the
/// signed-in user's sessions), plus time to render on a busy machine.
pub fn page_deadline(command_timeout: Duration) -> Duration {
    command_timeout * 2 + Duration::from_secs(2)
}

/// `render`'s answer, or a 503 "try again" page once `deadline` has passed.
pub async fn render_within(deadline: Duration, render: impl Future<Output = Response>) -> Response {
    let mut render = std::pin::pin!(async_backtrace::frame!(render));
    match tokio::time::timeout(deadline, render.as_mut()).await {
        Ok(response) => response,
        Err(_) => {
            tracing::error!(
                ?deadline,
                parked = %async_backtrace::taskdump_tree(false),
                "a page render missed its deadline; answered 503"
            );
            too_slow()
        }
    }
}

fn too_slow() -> Response {
    let page = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
        <title>sessionboard</title></head><body><main><h1>sessionboard</h1>\
        <p>The page took too long to prepare. Reload it in a moment: nothing was lost.</p>\
        </main></body></html>";
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, Html(page)).into_response();
    retry_soon(response.headers_mut());
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::header::RETRY_AFTER;

    #[tokio::test]
    async fn a_render_is_answered_as_it_is_or_with_a_503_at_the_deadline() {
        let in_time = async { StatusCode::OK.into_response() };
        let response = render_within(Duration::from_secs(5), in_time).await;
        assert_eq!(response.status(), StatusCode::OK);
        let started = std::time::Instant::now();
        let response = render_within(Duration::from_millis(50), std::future::pending()).await;
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[RETRY_AFTER], "1");
    }

    #[tokio::test]
    async fn a_parked_render_shows_where_it_waits() {
        #[async_backtrace::framed]
        async fn waiting_for_a_wake_that_never_comes() -> Response {
            std::future::pending().await
        }
        let mut render = std::pin::pin!(async_backtrace::frame!(
            waiting_for_a_wake_that_never_comes()
        ));
        let polled = tokio::time::timeout(Duration::from_millis(10), render.as_mut()).await;
        assert!(polled.is_err());
        let stacks = async_backtrace::taskdump_tree(false);
        assert!(
            stacks.contains("waiting_for_a_wake_that_never_comes")
                && stacks.contains("page_deadline.rs"),
            "{stacks}"
        );
    }
}
