//! What each way in guarantees beyond the shared behaviours (`behaviour.rs`): the own layer's
//! per-key saves, silent reads, 409 for a session that ended and 503 while Redis is away; the
//! stock layer's whole-record saves, which still never outlive the absolute deadline nor
//! re-create a deleted session.

mod common;

use std::{collections::HashMap, time::Duration};

use axum::http::StatusCode;
use common::{
    assert_about, assert_removal, assert_ttl_about, commands_between, id_of, routes, send,
    session_key, setup, store, AppOptions, TestRedis, Way,
};

fn counts(sent: &[(&str, u64)], in_script: &[(&str, u64)]) -> HashMap<String, u64> {
    sent.iter()
        .chain(in_script)
        .map(|(name, calls)| (name.to_string(), *calls))
        .collect()
}

/// Waits (bounded) until the pool has noticed that its server is gone.
async fn wait_disconnected(redis: &TestRedis) {
    use fred::prelude::ClientLike;

    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while redis
        .pool
        .clients()
        .iter()
        .any(|client| client.is_connected())
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the pool still thinks it is connected"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

mod own {
    use std::sync::Arc;

    use tower_sessions_fred_store::{CookieSettings, SessionLayer};

    use super::*;

    /// Every request reads the session, adds one to its own key and saves: with per-key saves
    /// none of the 100 concurrent writes is lost.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_read_modify_insert_on_distinct_keys_all_survive() {
        let (redis, _, app) = setup(Way::Own, AppOptions::default()).await;
        let cookie = send(&app, "/insert", None).await.expect_cookie();
        let mut requests = tokio::task::JoinSet::new();
        for i in 0..100 {
            let (app, cookie) = (app.clone(), cookie.clone());
            requests.spawn(async move { send(&app, &format!("/incr/k{i}"), Some(&cookie)).await });
        }
        while let Some(reply) = requests.join_next().await {
            let reply = reply.expect("the request task");
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
            assert_eq!(reply.body, "1");
        }
        let fields = redis.hgetall(&session_key(&cookie)).await;
        for i in 0..100 {
            assert_eq!(
                fields.get(&format!("d:k{i}")).map(String::as_str),
                Some("1"),
                "k{i} was lost"
            );
        }
        assert_eq!(fields["d:foo"], "42");
    }

    #[tokio::test]
    async fn a_request_that_only_reads_writes_nothing() {
        let (redis, _, app) = setup(Way::Own, AppOptions::default()).await;
        let cookie = send(&app, "/insert", None).await.expect_cookie();
        let key = session_key(&cookie);
        let (record, pttl) = (redis.hgetall(&key).await, redis.pttl(&key).await);

        let before = redis.command_counts().await;
        let reply = send(&app, "/get", Some(&cookie)).await;
        let after = redis.command_counts().await;

        assert_eq!(reply.body, "42");
        assert!(reply.set_cookies().is_empty(), "{:?}", reply.headers);
        let ran = commands_between(&before, &after);
        assert_eq!(
            ran,
            [("hgetall".to_string(), 1)].into(),
            "one HGETALL, no write"
        );
        assert_eq!(redis.hgetall(&key).await, record);
        assert!(redis.pttl(&key).await <= pttl, "the deadline did not move");
    }

    #[tokio::test]
    async fn a_request_that_never_reads_sends_no_command() {
        let (redis, _, app) = setup(Way::Own, AppOptions::default()).await;
        let cookie = send(&app, "/insert", None).await.expect_cookie();
        let before = redis.command_counts().await;
        let reply = send(&app, "/", Some(&cookie)).await;
        let after = redis.command_counts().await;
        assert_eq!(reply.status, StatusCode::OK);
        assert!(reply.set_cookies().is_empty());
        assert!(commands_between(&before, &after).is_empty());
    }

    /// A new session is one round trip (a script); a change is two (a read, then a script that
    /// sets only the changed field). `INFO commandstats` also counts the commands a script runs
    /// inside Redis: those are listed apart.
    #[tokio::test]
    async fn a_write_costs_at_most_two_round_trips() {
        let (redis, _, app) = setup(Way::Own, AppOptions::default()).await;
        // The first use of each script loads it into Redis.
        let cookie = send(&app, "/insert", None).await.expect_cookie();
        send(&app, "/incr/a", Some(&cookie)).await;

        let before = redis.command_counts().await;
        send(&app, "/insert", None).await.expect_cookie();
        let after = redis.command_counts().await;
        let sent = [("evalsha", 1)];
        let in_script = [("exists", 1), ("hset", 1), ("pexpireat", 1)];
        assert_eq!(
            commands_between(&before, &after),
            counts(&sent, &in_script),
            "a new session"
        );

        let before = redis.command_counts().await;
        assert_eq!(send(&app, "/incr/b", Some(&cookie)).await.body, "1");
        let after = redis.command_counts().await;
        let sent = [("hgetall", 1), ("evalsha", 1)];
        // The `hget` checks that no other request changed the key since this one read it; the
        // `hincrby` counts the record's version.
        let in_script = [("exists", 1), ("hget", 1), ("hset", 1), ("hincrby", 1)];
        assert_eq!(
            commands_between(&before, &after),
            counts(&sent, &in_script),
            "a change"
        );
    }

    /// A save writes only what its request changed: a change another request made meanwhile to
    /// another key survives.
    #[tokio::test]
    async fn a_concurrent_change_to_another_key_survives() {
        let (redis, _, app) = setup(Way::Own, AppOptions::default()).await;
        let cookie = send(&app, "/insert", None).await.expect_cookie();
        let reply = send(&app, "/concurrent_change", Some(&cookie)).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let fields = redis.hgetall(&session_key(&cookie)).await;
        assert_eq!(fields["d:n"], "1");
        assert_eq!(fields["d:foo"], "7", "the concurrent change stands");
    }

    /// The README's counter (`get` + `insert` of one key) from 50 concurrent requests: each is
    /// answered 200 or 409 `session_conflict`, and the stored count is exactly the number of
    /// 200s — no answered increment is lost, none is counted twice.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_read_modify_insert_on_one_key_never_loses_an_answered_update() {
        let (redis, _, app) = setup(Way::Own, AppOptions::default()).await;
        let cookie = send(&app, "/insert", None).await.expect_cookie();
        let mut requests = tokio::task::JoinSet::new();
        for _ in 0..50 {
            let (app, cookie) = (app.clone(), cookie.clone());
            requests.spawn(async move { send(&app, "/incr/n", Some(&cookie)).await });
        }
        let (mut succeeded, mut conflicts) = (0, 0);
        while let Some(reply) = requests.join_next().await {
            let reply = reply.expect("the request task");
            match reply.status {
                StatusCode::OK => succeeded += 1,
                StatusCode::CONFLICT => {
                    assert_eq!(reply.json()["code"], "session_conflict", "{}", reply.body);
                    conflicts += 1;
                }
                other => panic!("{other}: {}", reply.body),
            }
        }
        let fields = redis.hgetall(&session_key(&cookie)).await;
        assert_eq!(
            fields["d:n"],
            succeeded.to_string(),
            "{conflicts} conflicts"
        );
        assert_eq!(fields["d:foo"], "42");
    }

    /// A change to a key another request changed since this one read it is refused with
    /// nothing written; with `last_writer_wins` it is written over the other change.
    #[tokio::test]
    async fn a_conflicting_change_to_the_same_key_is_refused_unless_the_last_writer_wins() {
        let (redis, _, app) = setup(Way::Own, AppOptions::default()).await;
        let cookie = send(&app, "/insert", None).await.expect_cookie();
        let reply = send(&app, "/conflicting_change", Some(&cookie)).await;
        assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
        assert_eq!(reply.json()["code"], "session_conflict");
        let fields = redis.hgetall(&session_key(&cookie)).await;
        assert_eq!(fields["d:foo"], "7", "the other change stands");

        let options = AppOptions {
            last_writer_wins: true,
            ..AppOptions::default()
        };
        let (redis, _, app) = setup(Way::Own, options).await;
        let cookie = send(&app, "/insert", None).await.expect_cookie();
        let reply = send(&app, "/conflicting_change", Some(&cookie)).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let fields = redis.hgetall(&session_key(&cookie)).await;
        assert_eq!(fields["d:foo"], "43", "the last writer won");
    }

    #[tokio::test]
    async fn a_session_deleted_meanwhile_is_not_recreated_and_answers_409() {
        let (redis, _, app) = setup(Way::Own, AppOptions::default()).await;
        let cookie = send(&app, "/insert", None).await.expect_cookie();
        let reply = send(&app, "/revoke_then_insert", Some(&cookie)).await;
        assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
        assert_eq!(reply.json()["code"], "session_ended");
        assert_removal(&reply.expect_cookie());
        assert!(redis.keys().await.is_empty(), "not re-created");
    }

    /// A request that reads the session moves its idle deadline once it is due to move by
    /// more than the refresh fraction, and re-issues the cookie to match.
    #[tokio::test]
    async fn activity_moves_the_idle_deadline() {
        let idle = Duration::from_secs(2);
        let options = AppOptions {
            idle,
            ..AppOptions::default()
        };
        let (redis, _, app) = setup(Way::Own, options).await;
        let cookie = send(&app, "/insert", None).await.expect_cookie();
        let key = session_key(&cookie);
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(redis.pttl(&key).await < 1_500);

        let reply = send(&app, "/get", Some(&cookie)).await;
        assert_eq!(reply.body, "42");
        assert!(redis.pttl(&key).await > 1_500, "the deadline moved");
        let renewed = reply.expect_cookie();
        assert_eq!(id_of(&renewed), id_of(&cookie));
        assert_about(
            renewed.max_age().unwrap(),
            idle + Duration::from_secs(2),
            "Max-Age",
        );
    }

    /// `Expiry::AtDateTime` caps the session: a later date never extends it, and the cap
    /// outlasts the request that set it.
    #[tokio::test]
    async fn at_date_time_caps_the_session_and_never_extends_it() {
        let hour = Duration::from_secs(3600);
        let (redis, _, app) = setup(Way::Own, AppOptions::default()).await;
        let cookie = send(&app, "/insert", None).await.expect_cookie();
        let key = session_key(&cookie);

        let cookie = send(&app, "/set_expiry", Some(&cookie))
            .await
            .expect_cookie();
        assert_about(
            cookie.max_age().unwrap(),
            hour + Duration::from_secs(2),
            "a day later",
        );
        assert_ttl_about(redis.pttl(&key).await, hour, "a day later");

        let cookie = send(&app, "/set_expiry_in/600", Some(&cookie))
            .await
            .expect_cookie();
        assert_ttl_about(redis.pttl(&key).await, Duration::from_secs(600), "capped");
        assert_eq!(send(&app, "/incr/n", Some(&cookie)).await.body, "1");
        assert_ttl_about(redis.pttl(&key).await, Duration::from_secs(600), "still");
    }

    /// Rotating the signing key signs nobody out: a cookie signed with a previous key is
    /// accepted and re-issued signed with the current one.
    #[tokio::test]
    async fn a_cookie_signed_with_a_previous_key_is_accepted_and_re_signed() {
        let redis = TestRedis::start().await;
        let store = store(&redis, &AppOptions::default());
        let old_key = CookieSettings::key_from_secret(b"last year's secret");
        let old_app = routes(redis.pool.clone()).layer(SessionLayer::new(
            store.clone(),
            CookieSettings::new(old_key.clone()),
        ));
        let cookie = send(&old_app, "/insert", None).await.expect_cookie();

        let settings = CookieSettings::new(common::key()).with_previous_keys(vec![old_key]);
        let app = routes(redis.pool.clone()).layer(SessionLayer::new(store, settings));
        let reply = send(&app, "/get", Some(&cookie)).await;
        assert_eq!(reply.body, "42");
        let re_signed = reply.expect_cookie();
        assert_ne!(re_signed.value(), cookie.value());
        let id = id_of(&re_signed).expect("signed with the current key");
        assert_eq!(redis.keys().await, vec![common::session_key_of(&id)]);
    }

    /// While Redis is away the breaker refuses at once, and a change that could not be stored
    /// is answered 503 with a JSON body and `Retry-After`, not a bare 500.
    #[tokio::test]
    async fn redis_away_answers_503() {
        let (_redis, store, reply) = insert_while_redis_is_away(Way::Own).await;
        assert_eq!(
            reply.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            reply.body
        );
        assert_eq!(reply.json()["code"], "session_store_unavailable");
        assert!(reply.headers.contains_key("retry-after"));
        assert!(reply.session_cookie().is_none());
        assert!(store.breaker().refused() >= 1);
    }

    /// Without a reconnect policy fred does not report the lost connection: three calls in a
    /// row time out (each answered 503 `session_store_unconfirmed`: the write may have been
    /// sent), then the breaker opens and refuses at once.
    #[tokio::test]
    async fn redis_away_without_reconnect_policy_opens_the_breaker_after_three_timeouts() {
        let options = AppOptions {
            command_timeout: Some(Duration::from_millis(200)),
            ..AppOptions::default()
        };
        let (mut redis, store, app) = setup(Way::Own, options).await;
        redis.stop();
        for _ in 0..3 {
            let reply = send(&app, "/insert", None).await;
            assert_eq!(
                reply.status,
                StatusCode::SERVICE_UNAVAILABLE,
                "{}",
                reply.body
            );
            let code = reply.json()["code"].clone();
            assert!(
                code == "session_store_unconfirmed" || code == "session_store_unavailable",
                "{code}"
            );
        }
        assert_eq!(store.breaker().times_opened(), 1);
        let started = std::time::Instant::now();
        let reply = send(&app, "/insert", None).await;
        assert!(
            started.elapsed() < Duration::from_millis(150),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(reply.json()["code"], "session_store_unavailable");
    }

    /// Signed-in sessions are indexed per user: listed, revoked by handle, all others revoked;
    /// a revoked session is dead at its next request.
    #[tokio::test]
    async fn the_user_index_lists_and_revokes_sessions() {
        use axum::{
            extract::{Extension, Path},
            routing::get,
        };
        use tower_sessions::{cookie::Cookie, Session};
        use tower_sessions_fred_store::{RequestStore, SessionHandle};

        let redis = TestRedis::start().await;
        let store = store(&redis, &AppOptions::default());
        let app = routes(redis.pool.clone())
            .route(
                "/sign_in/{user}",
                get(
                    |Path(user): Path<String>,
                     Extension(request_store): Extension<Arc<RequestStore>>,
                     session: Session| async move {
                        let details = serde_json::json!({ "agent": "test agent" });
                        request_store
                            .prepare_sign_in(&user, &details)
                            .map_err(|err| err.to_string())?;
                        // A new id for a visitor's existing session; then store it now (an
                        // empty session is otherwise not stored).
                        if session.id().is_some() {
                            session.cycle_id().await.map_err(|err| err.to_string())?;
                        }
                        session.save().await.map_err(|err| err.to_string())
                    },
                ),
            )
            .layer(SessionLayer::new(
                store.clone(),
                CookieSettings::new(common::key()),
            ));
        let sign_in_from = |user: &'static str, visitor: Option<Cookie<'static>>| {
            let app = app.clone();
            async move {
                let reply = send(&app, &format!("/sign_in/{user}"), visitor.as_ref()).await;
                assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
                let cookie = reply.expect_cookie();
                let handle = SessionHandle::of(&id_of(&cookie).unwrap());
                (cookie, handle)
            }
        };
        let sign_in = |user: &'static str| sign_in_from(user, None);

        // Signing in a visitor keeps their data under a new id.
        let visitor = send(&app, "/insert", None).await.expect_cookie();
        let (laptop, laptop_handle) = sign_in_from("ada", Some(visitor.clone())).await;
        assert_ne!(id_of(&laptop), id_of(&visitor));
        assert_eq!(send(&app, "/get", Some(&laptop)).await.body, "42");
        assert!(!redis.exists(&session_key(&visitor)).await);
        assert_eq!(redis.hgetall(&session_key(&laptop)).await["m:user"], "ada");

        let (phone, phone_handle) = sign_in("ada").await;
        sign_in("bob").await;
        assert!(redis.exists("t:user:{ada}:sessions").await);

        let index = store.index();
        let listed = index.list("ada").await.unwrap();
        let mut handles: Vec<_> = listed.iter().map(|s| s.handle.clone()).collect();
        handles.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        let mut expected = vec![laptop_handle.clone(), phone_handle.clone()];
        expected.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        assert_eq!(handles, expected);
        let agent = |s: &tower_sessions_fred_store::ListedSession| {
            s.details::<serde_json::Value>().unwrap()["agent"].clone()
        };
        assert!(listed.iter().all(|s| agent(s) == "test agent"));

        // "Sign out that device".
        assert!(index.revoke("ada", &phone_handle).await.unwrap());
        let reply = send(&app, "/get_value", Some(&phone)).await;
        assert_eq!(reply.body, "None");
        assert_removal(&reply.expect_cookie());

        // "Sign out everywhere else".
        let (tablet, _) = sign_in("ada").await;
        assert_eq!(
            index
                .revoke_all_except("ada", Some(&laptop_handle))
                .await
                .unwrap(),
            1
        );
        assert_eq!(send(&app, "/get_value", Some(&tablet)).await.body, "None");
        let listed = index.list("ada").await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].handle, laptop_handle);
        assert_eq!(send(&app, "/incr/n", Some(&laptop)).await.body, "1");
        assert_eq!(index.list("bob").await.unwrap().len(), 1);

        // Signing out takes the session off the index at once, even when the request never
        // read the session (`/flush` does not): the record names its user.
        send(&app, "/flush", Some(&laptop)).await;
        let entries = redis.hgetall("t:user:{ada}:sessions").await;
        assert!(!entries.contains_key(laptop_handle.as_str()), "{entries:?}");
        assert!(index.list("ada").await.unwrap().is_empty());
    }

    /// The observer hears every Redis call by operation, new sessions, deadlines and deletions.
    #[tokio::test]
    async fn the_observer_hears_what_the_store_does() {
        use std::sync::Mutex;

        use tower_sessions_fred_store::{Operation, SessionHandle, StoreObserver};

        #[derive(Default)]
        struct Heard {
            calls: Mutex<Vec<Operation>>,
            created: Mutex<u32>,
            deadlines: Mutex<Vec<i64>>,
            deleted: Mutex<Vec<SessionHandle>>,
        }
        impl StoreObserver for Heard {
            fn redis_call(&self, operation: Operation, _: Duration) {
                self.calls.lock().unwrap().push(operation);
            }
            fn session_created(&self) {
                *self.created.lock().unwrap() += 1;
            }
            fn deadline_set(&self, _: &SessionHandle, deadline_ms: i64, _: bool) {
                self.deadlines.lock().unwrap().push(deadline_ms);
            }
            fn sessions_deleted(&self, handles: &[SessionHandle]) {
                self.deleted.lock().unwrap().extend_from_slice(handles);
            }
        }

        let redis = TestRedis::start().await;
        let heard = Arc::new(Heard::default());
        let store = tower_sessions_fred_store::RedisSessionStore::builder(redis.pool.clone())
            .key_prefix(common::PREFIX)
            .observer(heard.clone())
            .build();
        let app = routes(redis.pool.clone())
            .layer(SessionLayer::new(store, CookieSettings::new(common::key())));

        let cookie = send(&app, "/insert", None).await.expect_cookie();
        send(&app, "/incr/n", Some(&cookie)).await;
        send(&app, "/flush", Some(&cookie)).await;

        use Operation::*;
        assert_eq!(
            *heard.calls.lock().unwrap(),
            [SessionCreate, SessionLoad, SessionSave, SessionDelete]
        );
        assert_eq!(*heard.created.lock().unwrap(), 1);
        assert_eq!(heard.deadlines.lock().unwrap().len(), 1, "set at creation");
        let handle = SessionHandle::of(&id_of(&cookie).unwrap());
        assert_eq!(*heard.deleted.lock().unwrap(), [handle]);
    }

    /// The layer answers when too many requests already wait on Redis.
    #[tokio::test]
    async fn too_many_waiting_requests_answer_503_at_once() {
        let redis = TestRedis::start().await;
        let store = store(&redis, &AppOptions::default());
        let layer =
            SessionLayer::new(store, CookieSettings::new(common::key())).with_max_waiting(1);
        let gate = Arc::new(tokio::sync::Notify::new());
        let entered = Arc::new(tokio::sync::Notify::new());
        let (held, signal) = (gate.clone(), entered.clone());
        let app = routes(redis.pool.clone())
            .route(
                "/hold",
                axum::routing::get(move || async move {
                    signal.notify_one();
                    held.notified().await;
                }),
            )
            .layer(layer);

        let holder = {
            let app = app.clone();
            tokio::spawn(async move { send(&app, "/hold", None).await })
        };
        tokio::time::timeout(Duration::from_secs(5), entered.notified())
            .await
            .expect("the first request is inside");
        let reply = send(&app, "/", None).await;
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(reply.json()["code"], "session_store_unavailable");
        gate.notify_one();
        assert_eq!(holder.await.unwrap().status, StatusCode::OK);
    }
}

mod stock {
    use tower_sessions::SessionManagerLayer;

    use super::*;

    /// The stock layer asks the store to keep the session for as long as its `Expiry` says
    /// (two weeks for `OnSessionEnd`, a day for a date a day away): the key still ends at the
    /// absolute deadline.
    #[tokio::test]
    async fn the_key_never_outlives_the_absolute_timeout() {
        let options = AppOptions {
            absolute: Some(Duration::from_secs(60)),
            ..AppOptions::default()
        };
        let (redis, _, app) = setup(Way::Stock, options).await;
        let cookie = send(&app, "/insert", None).await.expect_cookie();
        let key = session_key(&cookie);
        for uri in ["/remove_expiry", "/set_expiry", "/incr/n"] {
            assert_eq!(send(&app, uri, Some(&cookie)).await.status, StatusCode::OK);
            let pttl = redis.pttl(&key).await;
            assert!((0..=60_000).contains(&pttl), "{uri}: PTTL {pttl}");
        }
    }

    #[tokio::test]
    async fn a_session_deleted_meanwhile_is_not_recreated_by_a_save() {
        let (redis, _, app) = setup(Way::Stock, AppOptions::default()).await;
        let cookie = send(&app, "/insert", None).await.expect_cookie();
        let reply = send(&app, "/revoke_then_insert", Some(&cookie)).await;
        // The stock layer hears nothing of it; the session simply stays deleted.
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert!(redis.keys().await.is_empty(), "not re-created");
        assert_eq!(send(&app, "/get_value", Some(&cookie)).await.body, "None");
    }

    /// Mirrors tower-sessions' `set_expiry`: under the stock layer a later date extends the
    /// session (still within the absolute deadline).
    #[tokio::test]
    async fn a_later_date_time_extends_the_session() {
        let (redis, _, app) = setup(Way::Stock, AppOptions::default()).await;
        let cookie = send(&app, "/insert", None).await.expect_cookie();
        assert_about(
            cookie.max_age().unwrap(),
            Duration::from_secs(3600),
            "an hour",
        );
        let cookie = send(&app, "/set_expiry", Some(&cookie))
            .await
            .expect_cookie();
        let day = Duration::from_secs(86_400);
        assert_about(cookie.max_age().unwrap(), day, "a day");
        assert_ttl_about(redis.pttl(&session_key(&cookie)).await, day, "a day");
    }

    /// Mirrors tower-sessions' `session_max_age` and `change_expiry_type`: without an
    /// `Expiry` the cookie is a browser-session cookie until a handler sets a date.
    #[tokio::test]
    async fn without_expiry_the_cookie_is_a_browser_session_cookie() {
        let redis = TestRedis::start().await;
        let store = store(&redis, &AppOptions::default());
        let layer = SessionManagerLayer::new(store)
            .with_secure(true)
            .with_signed(common::key());
        let app = routes(redis.pool.clone()).layer(layer);
        let cookie = send(&app, "/insert", None).await.expect_cookie();
        assert_eq!(cookie.max_age(), None);
        assert!(
            redis.pttl(&session_key(&cookie)).await > 0,
            "Redis still ends it"
        );
        let cookie = send(&app, "/set_expiry", Some(&cookie))
            .await
            .expect_cookie();
        assert_about(
            cookie.max_age().unwrap(),
            Duration::from_secs(86_400),
            "a day",
        );
    }

    /// The stock layer saves only a modified session: a read writes nothing, and so does not
    /// move the idle deadline either.
    #[tokio::test]
    async fn a_request_that_only_reads_writes_nothing_and_moves_no_deadline() {
        let (redis, _, app) = setup(Way::Stock, AppOptions::default()).await;
        let cookie = send(&app, "/insert", None).await.expect_cookie();
        let before = redis.command_counts().await;
        let reply = send(&app, "/get", Some(&cookie)).await;
        let after = redis.command_counts().await;
        assert_eq!(reply.body, "42");
        assert!(reply.set_cookies().is_empty());
        let ran = commands_between(&before, &after);
        assert_eq!(ran, [("hgetall".to_string(), 1)].into());
    }

    /// A save rewrites the whole record, so a change another request made meanwhile to another
    /// key is overwritten with this request's stale copy: a lost update.
    #[tokio::test]
    async fn a_concurrent_change_to_another_key_is_overwritten() {
        let (redis, _, app) = setup(Way::Stock, AppOptions::default()).await;
        let cookie = send(&app, "/insert", None).await.expect_cookie();
        let reply = send(&app, "/concurrent_change", Some(&cookie)).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let fields = redis.hgetall(&session_key(&cookie)).await;
        assert_eq!(fields["d:n"], "1");
        assert_eq!(fields["d:foo"], "42", "the concurrent 7 was overwritten");
    }

    /// A change is two round trips (a read, then a script that rewrites every data field).
    #[tokio::test]
    async fn a_change_costs_two_round_trips() {
        let (redis, _, app) = setup(Way::Stock, AppOptions::default()).await;
        let cookie = send(&app, "/insert", None).await.expect_cookie();
        // The first use of the script loads it into Redis.
        send(&app, "/incr/a", Some(&cookie)).await;

        let before = redis.command_counts().await;
        assert_eq!(send(&app, "/incr/b", Some(&cookie)).await.body, "1");
        let after = redis.command_counts().await;
        let sent = [("hgetall", 1), ("evalsha", 1)];
        let in_script = [
            ("exists", 1),
            ("hkeys", 1),
            ("hset", 2),
            ("hincrby", 1),
            ("hget", 1),
            ("pexpireat", 1),
        ];
        assert_eq!(commands_between(&before, &after), counts(&sent, &in_script));
    }

    /// The store fails fast while Redis is away, but the stock layer answers a failed save
    /// with a bare 500.
    #[tokio::test]
    async fn redis_away_answers_500() {
        let (_redis, store, reply) = insert_while_redis_is_away(Way::Stock).await;
        assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(reply.body.is_empty());
        assert!(store.breaker().refused() >= 1);
    }
}

/// An app of `way` on a Redis that is then stopped, and the answer to an insert: within a bound
/// far below a hang (the breaker refuses without waiting for a command timeout of 300 ms).
async fn insert_while_redis_is_away(
    way: Way,
) -> (
    TestRedis,
    tower_sessions_fred_store::RedisSessionStore,
    common::Reply,
) {
    let options = AppOptions {
        command_timeout: Some(Duration::from_millis(300)),
        ..AppOptions::default()
    };
    let redis = TestRedis::start_reconnecting().await;
    let (mut redis, store, app) = common::on(redis, way, options);
    redis.stop();
    wait_disconnected(&redis).await;
    let started = std::time::Instant::now();
    let reply = send(&app, "/insert", None).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    (redis, store, reply)
}
