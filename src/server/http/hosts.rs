//! Requests for a host this site is not (`ALLOWED_HOSTS`) are answered 400 before routing, so
//! before any session work. The probes answer whatever the host: an orchestrator asks by the
//! container's address, which no user-facing name covers.

use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use axum::{body::Body, extract::Request, response::Response};
use prometheus_client::metrics::counter::Counter;
use tower::{Layer, Service};

use super::responses::json_error;
use crate::{
    server::{allowed_hosts::AllowedHosts, observability::request_id_of},
    shared::error::ErrorCode,
};

const PROBES: [&str; 2] = ["/healthz", "/readyz"];

/// The layer around the router; `None` when any host is allowed (`ALLOWED_HOSTS=*`).
#[derive(Clone)]
pub struct CheckHostLayer(Arc<Check>);

struct Check {
    hosts: AllowedHosts,
    refused: Counter,
}

impl CheckHostLayer {
    pub fn new(hosts: &AllowedHosts, refused: Counter) -> Option<Self> {
        let hosts = hosts.clone();
        (hosts != AllowedHosts::Any).then(|| CheckHostLayer(Arc::new(Check { hosts, refused })))
    }
}

impl<S> Layer<S> for CheckHostLayer {
    type Service = CheckHost<S>;

    fn layer(&self, inner: S) -> CheckHost<S> {
        CheckHost {
            check: self.0.clone(),
            inner,
        }
    }
}

#[derive(Clone)]
pub struct CheckHost<S> {
    check: Arc<Check>,
    inner: S,
}

impl<S> Service<Request<Body>> for CheckHost<S>
where
    S: Service<Request<Body>, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Checked<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        if self.check.hosts.admit(&request) || PROBES.contains(&request.uri().path()) {
            return Checked::Passed {
                future: self.inner.call(request),
            };
        }
        self.check.refused.inc();
        Checked::Refused {
            response: Some(json_error(
                ErrorCode::HostNotAllowed,
                "This server does not serve the host this request names.",
                request_id_of(request.headers()),
            )),
        }
    }
}

pin_project_lite::pin_project! {
    /// The inner service's future, or the refusal at once.
    #[project = CheckedProjection]
    pub enum Checked<F> {
        Passed { #[pin] future: F },
        Refused { response: Option<Response> },
    }
}

impl<F> Future for Checked<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            CheckedProjection::Passed { future } => future.poll(cx),
            CheckedProjection::Refused { response } => {
                Poll::Ready(Ok(response.take().unwrap_or_default()))
            }
        }
    }
}
