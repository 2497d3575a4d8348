//! Accounts in Redis: one hash per user with an Argon2id password hash. An account that has never
//! signed in carries a TTL, removed at its first sign-in, so abandoned registrations expire.

use std::time::Duration;

use fred::{
    prelude::{HashesInterface, KeysInterface, Pool},
    types::scripts::Script,
};

use tower_sessions_fred_store::RedisSessionStore;

use crate::{server::redis::KeySpace, shared::input::Username};

const PASSWORD_HASH: &str = "password_hash";
const CREATED_AT: &str = "created_at";

#[derive(Clone)]
pub struct AccountStore {
    pool: Pool,
    keys: KeySpace,
    create: Script,
    update: Script,
    /// Waits for replicas as the session store does (`REDIS_WAIT_REPLICAS`).
    pub(super) durable: Option<RedisSessionStore>,
}

impl AccountStore {
    pub fn new(pool: Pool, keys: KeySpace) -> Self {
        AccountStore {
            pool,
            keys,
            create: Script::from_lua(include_str!("scripts/create_account.lua")),
            update: Script::from_lua(include_str!("scripts/update_account.lua")),
            durable: None,
        }
    }

    /// `false` when the name is taken. With `unused_ttl`, the account is deleted that long after
    /// its creation unless it has signed in by then ([`AccountStore::mark_used`]).
    pub async fn create(
        &self,
        user: &Username,
        password_hash: &str,
        created_at: i64,
        unused_ttl: Option<Duration>,
    ) -> Result<bool, fred::error::Error> {
        let ttl = unused_ttl.map_or(String::new(), |ttl| ttl.as_millis().max(1).to_string());
        let (hash, created) = (password_hash.to_string(), created_at.to_string());
        let fields = vec![ttl, PASSWORD_HASH.into(), hash, CREATED_AT.into(), created];
        self.write(&self.create, user, fields).await
    }

    /// The account has been signed in to: it no longer expires.
    pub async fn mark_used(&self, user: &Username) -> Result<(), fred::error::Error> {
        let _: i64 = self.pool.persist(self.keys.account(user)).await?;
        Ok(())
    }

    pub async fn password_hash(
        &self,
        user: &Username,
    ) -> Result<Option<String>, fred::error::Error> {
        self.pool.hget(self.keys.account(user), PASSWORD_HASH).await
    }

    /// `false` when the account does not exist.
    pub async fn set_password_hash(
        &self,
        user: &Username,
        password_hash: &str,
    ) -> Result<bool, fred::error::Error> {
        let fields = vec![PASSWORD_HASH.to_string(), password_hash.to_string()];
        self.write(&self.update, user, fields).await
    }

    /// Runs `script` on `user`'s account, then waits for the replicas: whether it wrote.
    async fn write(
        &self,
        script: &Script,
        user: &Username,
        fields: Vec<String>,
    ) -> Result<bool, fred::error::Error> {
        let client = self.pool.next();
        let key = self.keys.account(user);
        let wrote: i64 = script
            .evalsha_with_reload(client, key.clone(), fields)
            .await?;
        if let Some(sessions) = &self.durable {
            sessions.wait_for_replicas(client, &key).await?;
        }
        Ok(wrote == 1)
    }
}
