//! The behaviours tower-sessions' own integration tests check, written once and run both ways
//! in: under the stock `SessionManagerLayer` (`stock::*`) and under this crate's `SessionLayer`
//! (`own::*`). Where the two ways legitimately differ (the stock layer's `SameSite=Strict`, the
//! own layer's 2 s of cookie beyond the Redis deadline), the expectation says so.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::{
    assert_about, assert_removal, assert_ttl_about, id_of, send, session_key, session_key_of,
    setup, signed_cookie, AppOptions, Way, COOKIE,
};
use tower_sessions::{
    cookie::{Cookie, Key},
    session::Id,
};

/// Generates `stock::<name>` and `own::<name>` for each behaviour `<name>(way)`.
macro_rules! both_ways {
    ($($name:ident),* $(,)?) => {
        mod stock {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Way::Stock).await
                }
            )*
        }
        mod own {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Way::Own).await
                }
            )*
        }
    };
}

both_ways!(
    no_session_set,
    insert_session,
    get_session,
    get_no_value,
    remove,
    remove_last_value,
    clear_session,
    cycle_session_id,
    flush_session,
    flush_with_domain,
    cookie_domain_and_path,
    set_expiry_at_date_time,
    set_expiry_on_session_end,
    change_expiry_type,
    idle_timeout_ends_the_session,
    absolute_timeout_caps_the_key_ttl,
    bogus_session_cookie,
    malformed_session_cookie,
    unsigned_or_foreign_cookie_is_not_trusted,
    unknown_session_id,
    undecodable_records_read_as_no_session,
);

const HOUR: Duration = Duration::from_secs(3600);

/// How long the cookie of a fresh session lives: the idle timeout, plus the 2 s the own layer
/// keeps its cookie beyond the Redis deadline.
fn cookie_life(way: Way, idle: Duration) -> Duration {
    match way {
        Way::Stock => idle,
        Way::Own => idle + Duration::from_secs(2),
    }
}

async fn no_session_set(way: Way) {
    let (redis, _, app) = setup(way, AppOptions::default()).await;
    let reply = send(&app, "/", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, "Hello, world!");
    assert!(reply.set_cookies().is_empty(), "{:?}", reply.headers);
    assert!(redis.keys().await.is_empty());
}

async fn insert_session(way: Way) {
    let (redis, _, app) = setup(way, AppOptions::default()).await;
    let reply = send(&app, "/insert", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    let cookie = reply.expect_cookie();
    assert_eq!(cookie.name(), COOKIE);
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(cookie.same_site(), Some(way.same_site()));
    assert_eq!(cookie.secure(), Some(true));
    assert_eq!(cookie.path(), Some("/"));
    assert_about(
        cookie.max_age().expect("Max-Age"),
        cookie_life(way, HOUR),
        "Max-Age",
    );
    // One hash under the prefix, holding the value as JSON; its TTL is the idle timeout.
    let key = session_key(&cookie);
    assert_eq!(redis.keys().await, vec![key.clone()]);
    assert_eq!(redis.hgetall(&key).await["d:foo"], "42");
    assert_ttl_about(redis.pttl(&key).await, HOUR, "session key");
}

async fn get_session(way: Way) {
    let (_redis, _, app) = setup(way, AppOptions::default()).await;
    let cookie = send(&app, "/insert", None).await.expect_cookie();
    let reply = send(&app, "/get", Some(&cookie)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, "42");
}

async fn get_no_value(way: Way) {
    let (redis, _, app) = setup(way, AppOptions::default()).await;
    let reply = send(&app, "/get_value", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, "None");
    assert!(reply.session_cookie().is_none(), "nothing to keep");
    assert!(redis.keys().await.is_empty());
}

async fn remove(way: Way) {
    let (redis, _, app) = setup(way, AppOptions::default()).await;
    let cookie = send(&app, "/insert", None).await.expect_cookie();
    assert_eq!(
        send(&app, "/remove", Some(&cookie)).await.status,
        StatusCode::OK
    );
    assert_eq!(send(&app, "/get_value", Some(&cookie)).await.body, "None");
    let fields = redis.hgetall(&session_key(&cookie)).await;
    assert!(!fields.contains_key("d:foo"), "{fields:?}");
}

async fn remove_last_value(way: Way) {
    let (redis, _, app) = setup(way, AppOptions::default()).await;
    let cookie = send(&app, "/insert", None).await.expect_cookie();
    let reply = send(&app, "/remove_value", Some(&cookie)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(send(&app, "/get_value", Some(&cookie)).await.body, "None");
    let fields = redis.hgetall(&session_key(&cookie)).await;
    assert!(!fields.contains_key("d:foo"), "{fields:?}");
}

async fn clear_session(way: Way) {
    let (redis, _, app) = setup(way, AppOptions::default()).await;
    let cookie = send(&app, "/insert", None).await.expect_cookie();
    assert_eq!(send(&app, "/incr/n", Some(&cookie)).await.body, "1");
    let reply = send(&app, "/clear", Some(&cookie)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(send(&app, "/get_value", Some(&cookie)).await.body, "None");
    // The data goes; the session stays, under the same id.
    let key = session_key(&cookie);
    assert_eq!(redis.keys().await, vec![key.clone()]);
    let fields = redis.hgetall(&key).await;
    assert!(
        fields.keys().all(|field| !field.starts_with("d:")),
        "{fields:?}"
    );
    assert!(fields.contains_key("m:created"), "{fields:?}");
}

async fn cycle_session_id(way: Way) {
    let (redis, _, app) = setup(way, AppOptions::default()).await;
    let first = send(&app, "/insert", None).await.expect_cookie();
    let reply = send(&app, "/cycle_id", Some(&first)).await;
    assert_eq!(reply.status, StatusCode::OK);
    let second = reply.expect_cookie();
    assert_ne!(first.value(), second.value());
    assert_ne!(id_of(&first), id_of(&second));

    let reply = send(&app, "/get", Some(&second)).await;
    assert_eq!(reply.body, "42", "the data moved to the new id");
    // The old id is gone for good.
    assert_eq!(redis.keys().await, vec![session_key(&second)]);
    assert_eq!(send(&app, "/get_value", Some(&first)).await.body, "None");
}

async fn flush_session(way: Way) {
    let (redis, _, app) = setup(way, AppOptions::default()).await;
    let cookie = send(&app, "/insert", None).await.expect_cookie();
    let reply = send(&app, "/flush", Some(&cookie)).await;
    assert_eq!(reply.status, StatusCode::OK);
    let removal = reply.expect_cookie();
    assert_removal(&removal);
    assert_eq!(removal.path(), Some("/"));
    assert!(redis.keys().await.is_empty());
    assert_eq!(send(&app, "/get_value", Some(&cookie)).await.body, "None");
}

async fn flush_with_domain(way: Way) {
    let options = AppOptions {
        domain: Some("localhost".into()),
        ..AppOptions::default()
    };
    let (_redis, _, app) = setup(way, options).await;
    let cookie = send(&app, "/insert", None).await.expect_cookie();
    assert_eq!(cookie.domain(), Some("localhost"));
    let removal = send(&app, "/flush", Some(&cookie)).await.expect_cookie();
    assert_removal(&removal);
    assert_eq!(removal.domain(), Some("localhost"));
    assert_eq!(removal.path(), Some("/"));
}

async fn cookie_domain_and_path(way: Way) {
    let options = AppOptions {
        domain: Some("example.test".into()),
        path: Some("/app".into()),
        ..AppOptions::default()
    };
    let (_redis, _, app) = setup(way, options).await;
    let cookie = send(&app, "/insert", None).await.expect_cookie();
    assert_eq!(cookie.domain(), Some("example.test"));
    assert_eq!(cookie.path(), Some("/app"));
    assert_eq!(send(&app, "/get", Some(&cookie)).await.body, "42");
    let removal = send(&app, "/flush", Some(&cookie)).await.expect_cookie();
    assert_removal(&removal);
    assert_eq!(removal.domain(), Some("example.test"));
    assert_eq!(removal.path(), Some("/app"));
}

async fn set_expiry_at_date_time(way: Way) {
    let (redis, _, app) = setup(way, AppOptions::default()).await;
    let cookie = send(&app, "/insert", None).await.expect_cookie();
    assert_about(cookie.max_age().unwrap(), cookie_life(way, HOUR), "Max-Age");

    // A date sooner than the idle deadline ends the session then, in the cookie and in Redis.
    let ten_minutes = Duration::from_secs(600);
    let reply = send(&app, "/set_expiry_in/600", Some(&cookie)).await;
    assert_eq!(reply.status, StatusCode::OK);
    let cookie = reply.expect_cookie();
    assert_about(
        cookie.max_age().expect("Max-Age"),
        cookie_life(way, ten_minutes),
        "Max-Age",
    );
    assert_ttl_about(redis.pttl(&session_key(&cookie)).await, ten_minutes, "key");
    assert_eq!(send(&app, "/get", Some(&cookie)).await.body, "42");
}

async fn set_expiry_on_session_end(way: Way) {
    let (redis, _, app) = setup(way, AppOptions::default()).await;
    let cookie = send(&app, "/insert", None).await.expect_cookie();
    let reply = send(&app, "/remove_expiry", Some(&cookie)).await;
    assert_eq!(reply.status, StatusCode::OK);
    let cookie = reply.expect_cookie();
    assert_eq!(cookie.max_age(), None, "a browser-session cookie");
    assert_eq!(cookie.expires(), None);
    // Redis still ends the session.
    assert!(redis.pttl(&session_key(&cookie)).await > 0);
    assert_eq!(send(&app, "/get", Some(&cookie)).await.body, "42");
}

async fn change_expiry_type(way: Way) {
    let (_redis, _, app) = setup(way, AppOptions::default()).await;
    let cookie = send(&app, "/insert", None).await.expect_cookie();
    assert_about(
        cookie.max_age().unwrap(),
        cookie_life(way, HOUR),
        "on inactivity",
    );

    let cookie = send(&app, "/remove_expiry", Some(&cookie))
        .await
        .expect_cookie();
    assert_eq!(cookie.max_age(), None, "on session end");

    let cookie = send(&app, "/set_expiry_in/600", Some(&cookie))
        .await
        .expect_cookie();
    let max_age = cookie.max_age().expect("at a date: Max-Age again");
    assert_about(
        max_age,
        cookie_life(way, Duration::from_secs(600)),
        "at date",
    );

    assert_eq!(send(&app, "/get", Some(&cookie)).await.body, "42");
}

async fn idle_timeout_ends_the_session(way: Way) {
    let idle = Duration::from_secs(2);
    let options = AppOptions {
        idle,
        ..AppOptions::default()
    };
    let (redis, _, app) = setup(way, options).await;
    let cookie = send(&app, "/insert", None).await.expect_cookie();
    assert_about(cookie.max_age().unwrap(), cookie_life(way, idle), "Max-Age");
    let key = session_key(&cookie);
    assert_ttl_about(redis.pttl(&key).await, idle, "key");

    assert!(
        redis.wait_gone(&key, Duration::from_secs(6)).await,
        "Redis ends the session at its idle deadline"
    );
    let reply = send(&app, "/get_value", Some(&cookie)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, "None");
    assert_removal(&reply.expect_cookie());
    assert!(redis.keys().await.is_empty());
}

async fn absolute_timeout_caps_the_key_ttl(way: Way) {
    let options = AppOptions {
        absolute: Some(Duration::from_secs(60)),
        ..AppOptions::default()
    };
    let (redis, _, app) = setup(way, options).await;
    let cookie = send(&app, "/insert", None).await.expect_cookie();
    let key = session_key(&cookie);
    let pttl = redis.pttl(&key).await;
    assert!((55_000..=60_000).contains(&pttl), "PTTL {pttl}");
    if way == Way::Own {
        // The own layer's cookie ends with the session.
        assert_about(
            cookie.max_age().unwrap(),
            Duration::from_secs(62),
            "Max-Age",
        );
    }
    // Changing the session does not extend it past the absolute deadline.
    assert_eq!(send(&app, "/incr/n", Some(&cookie)).await.body, "1");
    let pttl = redis.pttl(&key).await;
    assert!((0..=60_000).contains(&pttl), "PTTL {pttl} after a save");
}

async fn bogus_session_cookie(way: Way) {
    let (redis, _, app) = setup(way, AppOptions::default()).await;
    let bogus = Cookie::new(COOKIE, "AAAAAAAAAAAAAAAAAAAAAA");
    let reply = send(&app, "/insert", Some(&bogus)).await;
    assert_eq!(reply.status, StatusCode::OK);
    let cookie = reply.expect_cookie();
    assert_ne!(cookie.value(), "AAAAAAAAAAAAAAAAAAAAAA");
    let id = id_of(&cookie).expect("a fresh signed session");
    assert_eq!(redis.keys().await, vec![session_key_of(&id)]);
}

async fn malformed_session_cookie(way: Way) {
    let (redis, _, app) = setup(way, AppOptions::default()).await;
    let malformed = Cookie::new(COOKIE, "malformed");
    let reply = send(&app, "/", Some(&malformed)).await;
    assert_eq!(reply.status, StatusCode::OK);
    // Never echoed back: at most a removal.
    if let Some(cookie) = reply.session_cookie() {
        assert_removal(&cookie);
    }
    assert!(redis.keys().await.is_empty());

    let reply = send(&app, "/insert", Some(&malformed)).await;
    assert_eq!(reply.status, StatusCode::OK);
    let cookie = reply.expect_cookie();
    assert_ne!(cookie.value(), "malformed");
    assert!(id_of(&cookie).is_some(), "a fresh signed session");
}

async fn unsigned_or_foreign_cookie_is_not_trusted(way: Way) {
    let (redis, _, app) = setup(way, AppOptions::default()).await;
    let cookie = send(&app, "/insert", None).await.expect_cookie();
    let id = id_of(&cookie).unwrap().to_string();

    // The real id without a signature, and signed with a key that is not the app's.
    let unsigned = Cookie::new(COOKIE, id.clone());
    let foreign = signed_cookie(&id, &Key::generate());
    for forged in [unsigned, foreign] {
        let reply = send(&app, "/get_value", Some(&forged)).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.body, "None", "{forged} must not reach the session");
    }
    assert_eq!(redis.keys().await, vec![session_key(&cookie)]);
    assert_eq!(send(&app, "/get", Some(&cookie)).await.body, "42");
}

async fn unknown_session_id(way: Way) {
    let (redis, _, app) = setup(way, AppOptions::default()).await;
    let unknown_id = Id::default();
    let unknown = signed_cookie(&unknown_id.to_string(), &common::key());

    let reply = send(&app, "/get_value", Some(&unknown)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, "None");
    assert_removal(&reply.expect_cookie());

    // A write starts a new session under a new id; the unknown id is never adopted.
    let reply = send(&app, "/insert", Some(&unknown)).await;
    assert_eq!(reply.status, StatusCode::OK);
    let cookie = reply.expect_cookie();
    let id = id_of(&cookie).expect("a signed session");
    assert_ne!(id, unknown_id);
    assert_eq!(redis.keys().await, vec![session_key_of(&id)]);
}

async fn undecodable_records_read_as_no_session(way: Way) {
    use fred::prelude::{HashesInterface, KeysInterface};

    let (redis, store, app) = setup(way, AppOptions::default()).await;
    let corruptions = [
        "a string",
        "a data field that is not JSON",
        "no bookkeeping",
    ];
    for (n, corruption) in corruptions.into_iter().enumerate() {
        let cookie = send(&app, "/insert", None).await.expect_cookie();
        let key = session_key(&cookie);
        let undecodable = store.undecodable_count();
        match n {
            0 => {
                let _: () = redis
                    .pool
                    .set(&key, "garbage", None, None, false)
                    .await
                    .unwrap();
            }
            1 => {
                let _: i64 = redis.pool.hset(&key, ("d:foo", "{not json")).await.unwrap();
            }
            _ => {
                let _: i64 = redis.pool.hdel(&key, "m:created").await.unwrap();
            }
        }

        let reply = send(&app, "/get_value", Some(&cookie)).await;
        assert_eq!(reply.status, StatusCode::OK, "{corruption}: {}", reply.body);
        assert_eq!(reply.body, "None", "{corruption}");
        assert_removal(&reply.expect_cookie());
        assert_eq!(store.undecodable_count(), undecodable + 1, "{corruption}");

        // A write starts a new session; the broken record is left alone, never overwritten.
        let reply = send(&app, "/insert", Some(&cookie)).await;
        assert_eq!(reply.status, StatusCode::OK, "{corruption}: {}", reply.body);
        let fresh = reply.expect_cookie();
        assert_ne!(id_of(&fresh), id_of(&cookie), "{corruption}");
        assert_eq!(send(&app, "/get", Some(&fresh)).await.body, "42");
        assert!(redis.exists(&key).await, "{corruption}");
    }
}
