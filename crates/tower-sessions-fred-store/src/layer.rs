//! [`SessionLayer`]: gives every request a tower-sessions [`Session`] on Redis, and after the
//! handler saves what it changed and sets or clears the cookie.
//!
//! It plays the part of tower-sessions' `SessionManagerLayer`, which cannot do what this crate
//! is for: give each request its own store (so a save writes only what that request changed,
//! see [`RequestStore`]), answer a failed save with a JSON 503/409 instead of a bare 500, and
//! accept cookies signed with previous keys. Handlers see the standard `Session` either way.
//!
//! It also bounds how many requests may be inside it — waiting on Redis — at once: beyond that
//! a request is answered 503 at once instead of joining a queue that a slow Redis would only
//! make longer.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use http::{
    header::{CONTENT_TYPE, RETRY_AFTER},
    HeaderName, HeaderValue, Request, Response,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower_layer::Layer;
use tower_service::Service;
use tower_sessions::{session::Id, Expiry, Session};

use crate::{
    cookie::{append_cookie, read_cookie, removal_cookie, session_cookie, Incoming},
    expiry, now_ms,
    refusal::JsonRefusals,
    CookieSettings, NewSessionPolicy, RedisSessionStore, RenderRefusal, RequestStore,
    SessionFailure, SessionHandle,
};

/// A key read only to make tower-sessions load the record.
const EXPIRY_PROBE: &str = "";

/// The session layer. Cloning it shares it (one `Arc`).
///
/// ```no_run
/// use axum::{http::StatusCode, routing::get, Router};
/// use tower_sessions::Session;
/// use tower_sessions_fred_store::{CookieSettings, RedisSessionStore, SessionLayer};
///
/// // A read error (the store is away) becomes a 503; a change the layer cannot store, or one that
/// // lost a race with another request's change of "n", is answered 503 or 409 by the layer.
/// async fn count(session: Session) -> Result<String, StatusCode> {
///     let unavailable = |_| StatusCode::SERVICE_UNAVAILABLE;
///     let n: i64 = session.get("n").await.map_err(unavailable)?.unwrap_or(0) + 1;
///     session.insert("n", n).await.map_err(unavailable)?;
///     Ok(n.to_string())
/// }
///
/// # async fn app(pool: fred::prelude::Pool) {
/// let store = RedisSessionStore::builder(pool).key_prefix("myapp:").build();
/// let key = CookieSettings::key_from_secret(b"a long random secret from your config");
/// let app: Router = Router::new()
///     .route("/", get(count))
///     .layer(SessionLayer::new(store, CookieSettings::new(key)));
/// # }
/// ```
#[derive(Clone)]
pub struct SessionLayer {
    config: Arc<Config>,
}

#[derive(Clone)]
struct Config {
    store: RedisSessionStore,
    cookie: CookieSettings,
    /// One permit per request inside the layer.
    waiting: Arc<Semaphore>,
    new_sessions: Option<Arc<dyn NewSessionPolicy>>,
    refusals: Arc<dyn RenderRefusal>,
    request_id_header: HeaderName,
}

impl SessionLayer {
    /// Sessions in `store`, named by `cookie`; at most 256 requests waiting on the store at once,
    /// no limit on new sessions, refusals as `{"code", "message", "request_id"}` JSON.
    pub fn new(store: RedisSessionStore, cookie: CookieSettings) -> Self {
        SessionLayer {
            config: Arc::new(Config {
                store,
                cookie,
                waiting: Arc::new(Semaphore::new(256)),
                new_sessions: None,
                refusals: Arc::new(JsonRefusals),
                request_id_header: HeaderName::from_static("x-request-id"),
            }),
        }
    }

    fn with(self, change: impl FnOnce(&mut Config)) -> Self {
        let mut config = Arc::unwrap_or_clone(self.config);
        change(&mut config);
        SessionLayer {
            config: Arc::new(config),
        }
    }

    /// At most `requests` inside the layer at once (whether their handler uses the session or
    /// not: put the layer only on the routes that need sessions); more are answered 503 at once.
    pub fn with_max_waiting(self, requests: usize) -> Self {
        self.with(|config| config.waiting = Arc::new(Semaphore::new(requests.max(1))))
    }

    /// Asks `policy` before a request stores a brand-new session.
    pub fn with_new_session_policy(self, policy: Arc<dyn NewSessionPolicy>) -> Self {
        self.with(|config| config.new_sessions = Some(policy))
    }

    /// Renders the layer's own answers in your error shape.
    pub fn with_refusals(self, refusals: Arc<dyn RenderRefusal>) -> Self {
        self.with(|config| config.refusals = refusals)
    }

    /// The header whose value a refusal quotes as its request id (default `x-request-id`).
    pub fn with_request_id_header(self, header: HeaderName) -> Self {
        self.with(|config| config.request_id_header = header)
    }

    /// The store underneath.
    pub fn store(&self) -> &RedisSessionStore {
        &self.config.store
    }

    /// The cookie settings.
    pub fn cookie(&self) -> &CookieSettings {
        &self.config.cookie
    }
}

/// The session a response was for, in the response's extensions: lets a request log name the
/// session by its [`SessionHandle`] (worked out only when asked) and never by its id.
#[derive(Debug, Clone, Copy)]
pub struct ServedSession(Id);

impl ServedSession {
    /// The session's handle.
    pub fn handle(&self) -> SessionHandle {
        SessionHandle::of(&self.0)
    }
}

/// A request inside the session layer: its session, and what the response needs to know.
/// For a middleware of your own that runs the layer's two steps around other work:
/// [`SessionLayer::begin`], then [`Begun::finish`].
pub struct Begun {
    config: Arc<Config>,
    session: Session,
    request_store: Arc<RequestStore>,
    incoming: Incoming,
    request_id: Option<String>,
    _waiting: OwnedSemaphorePermit,
}

impl SessionLayer {
    /// Gives `request` its session (read from the cookie, loaded from Redis only when a handler
    /// asks): a [`Session`] and an `Arc<RequestStore>` in its extensions. Refused at once, with
    /// the answer to send, when too many requests are already waiting on the store.
    // The refusal is the answer itself; boxing it would save nothing and allocate.
    #[allow(clippy::result_large_err)]
    pub fn begin<B, R: From<String>>(
        &self,
        request: &mut Request<B>,
    ) -> Result<Begun, Response<R>> {
        let config = &self.config;
        let request_id = request
            .headers()
            .get(&config.request_id_header)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string);
        let Ok(waiting) = config.waiting.clone().try_acquire_owned() else {
            tracing::debug!("too many requests waiting on the session store; refused one");
            return Err(refusal_response(
                config,
                &SessionFailure::Busy,
                request_id.as_deref(),
            ));
        };
        let incoming = read_cookie(request.headers(), &config.cookie);
        let gate = config
            .new_sessions
            .as_ref()
            .map(|policy| policy.gate(request.headers(), request.extensions()));
        let request_store = RequestStore::new(config.store.clone(), gate);
        let idle = time::Duration::milliseconds(config.store.policy().idle_ms());
        let session = Session::new(
            incoming.id,
            request_store.clone(),
            Some(Expiry::OnInactivity(idle)),
        );
        request.extensions_mut().insert(request_store.clone());
        request.extensions_mut().insert(session.clone());
        Ok(Begun {
            config: config.clone(),
            session,
            request_store,
            incoming,
            request_id,
            _waiting: waiting,
        })
    }
}

impl Begun {
    /// After the handler: saves what it changed (or answers a refusal instead of `response` when
    /// a change it made could not be stored), sets or clears the cookie, and puts a
    /// [`ServedSession`] in the response's extensions.
    pub async fn finish<R: From<String>>(self, response: Response<R>) -> Response<R> {
        let mut response = self.save_and_set_cookie(response).await;
        if let Some(id) = self.session.id().or(self.incoming.id) {
            response.extensions_mut().insert(ServedSession(id));
        }
        response
    }

    /// Saves what the request changed, moves the deadline when due, and sets the cookie.
    async fn save_and_set_cookie<R: From<String>>(&self, mut response: Response<R>) -> Response<R> {
        let (session, request_store) = (&self.session, &self.request_store);
        let cookie = &self.config.cookie;
        // A handler that chose another expiry: `AtDateTime` ends the session at that date at the
        // latest, `OnSessionEnd` makes this response's cookie a browser-session cookie. Either
        // needs the stored deadlines, so the session is loaded if the handler did not.
        let expiry = session.expiry();
        let expiry_changed = !matches!(expiry, Some(Expiry::OnInactivity(_)));
        if expiry_changed && request_store.loaded().is_none() && session.id().is_some() {
            // Any read loads the record; a failure leaves the expiry as it was.
            let _ = session.get_value(EXPIRY_PROBE).await;
        }
        if session.is_empty().await {
            // Signed out, flushed, or a cookie for a session that is gone: the browser drops it.
            if self.incoming.cookie_present {
                append_cookie(&mut response, removal_cookie(cookie));
            }
            return response;
        }
        if let Some(Expiry::AtDateTime(at)) = expiry {
            request_store.cap_absolute(expiry::date_ms(at));
        }
        // Only a session the handler loaded is refreshed: requests that never look at the
        // session cost no Redis command at all.
        request_store.slide_deadline(false);
        let deadline_moves = request_store.has_pending_deadline();
        // A store failure the handler met and answered with an error: trying again would only
        // make the client wait a second command timeout.
        let answered_failure = request_store.failure().is_some() && !response.status().is_success();
        let attempt = (session.is_modified() || deadline_moves)
            && !answered_failure
            && !response.status().is_server_error();
        let mut saved = false;
        if attempt {
            match session.save().await {
                Ok(()) => saved = true,
                Err(err) => {
                    if let Some(refusal) = self.refuse_lost_change() {
                        return refusal;
                    }
                    // Only the deadline could not be moved: the session ends at its previous
                    // deadline and the next request tries again.
                    tracing::debug!(error = %err, "could not move a session deadline");
                }
            }
        }
        if request_store.failure() == Some(SessionFailure::Ended) && self.incoming.cookie_present {
            // The session is gone (signed out elsewhere, revoked, expired): so is its cookie.
            append_cookie(&mut response, removal_cookie(cookie));
            return response;
        }
        let Some(id) = session.id() else {
            return response;
        };
        let needs_cookie = Some(id) != self.incoming.id
            || self.incoming.resign
            || expiry_changed
            || (deadline_moves && saved);
        if let (true, Some(deadline)) = (needs_cookie, request_store.deadline()) {
            let max_age = match expiry {
                Some(Expiry::OnSessionEnd) => None,
                _ => Some(expiry::cookie_max_age(deadline, now_ms())),
            };
            append_cookie(&mut response, session_cookie(cookie, id, max_age));
        }
        response
    }

    /// A change the handler made could not be stored: the client must not be told it worked. A
    /// failed deadline move alone is not refused (the answer stands; the next request tries
    /// again).
    fn refuse_lost_change<R: From<String>>(&self) -> Option<Response<R>> {
        let lost_data = self.request_store.failed_with_data();
        let failure = self.request_store.failure()?;
        let refused = match &failure {
            SessionFailure::Rejected(detail) => {
                tracing::error!(%detail, "a handler stored a session value the application cannot read");
                true
            }
            SessionFailure::TooManyNew(_) | SessionFailure::Conflict => true,
            SessionFailure::Ended
            | SessionFailure::Unavailable(_)
            | SessionFailure::Unconfirmed(_)
            | SessionFailure::Busy => lost_data,
        };
        if !refused {
            return None;
        }
        let mut response = refusal_response(&self.config, &failure, self.request_id.as_deref());
        if failure == SessionFailure::Ended && self.incoming.cookie_present {
            append_cookie(&mut response, removal_cookie(&self.config.cookie));
        }
        Some(response)
    }
}

/// The layer's own answer: the renderer's JSON, the refusal's status and `Retry-After`.
fn refusal_response<R: From<String>>(
    config: &Config,
    refusal: &SessionFailure,
    request_id: Option<&str>,
) -> Response<R> {
    let body = config.refusals.render(refusal, request_id);
    let mut response = Response::new(R::from(body));
    *response.status_mut() = refusal.status();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(wait) = refusal.retry_after() {
        let seconds = wait.as_millis().div_ceil(1000).max(1);
        headers.insert(RETRY_AFTER, HeaderValue::from(seconds as u64));
    }
    response
}

impl<S> Layer<S> for SessionLayer {
    type Service = SessionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`SessionLayer`] wraps around an inner one.
#[derive(Clone)]
pub struct SessionService<S> {
    inner: S,
    layer: SessionLayer,
}

impl<S, B, R> Service<Request<B>> for SessionService<S>
where
    S: Service<Request<B>, Response = Response<R>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Send,
    B: Send + 'static,
    R: From<String> + Send + 'static,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<R>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // The clone that was polled ready serves this request; a fresh clone stays behind.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let begun = self.layer.begin(&mut request);
        Box::pin(async move {
            match begun {
                Ok(begun) => {
                    let response = inner.call(request).await?;
                    Ok(begun.finish(response).await)
                }
                Err(refused) => Ok(refused),
            }
        })
    }
}
