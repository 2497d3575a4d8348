//! Accounts in Redis: one hash per user with an Argon2id password hash.

use fred::{
    prelude::{HashesInterface, Pool},
    types::scripts::Script,
};

use crate::redis::KeySpace;

/// Lua: create the account only if the name is free (two concurrent registrations of one name:
/// exactly one wins). ARGV = password hash, created_at.
const CREATE_ACCOUNT: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'password_hash', ARGV[1], 'created_at', ARGV[2])
return 1
"#;

/// Lua: replace the password hash of an existing account. ARGV = new hash.
const SET_PASSWORD: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'password_hash', ARGV[1])
return 1
"#;

#[derive(Clone)]
pub struct AccountStore {
    pool: Pool,
    keys: KeySpace,
    create: Script,
    set_password: Script,
}

impl AccountStore {
    pub fn new(pool: Pool, keys: KeySpace) -> Self {
        AccountStore {
            pool,
            keys,
            create: Script::from_lua(CREATE_ACCOUNT),
            set_password: Script::from_lua(SET_PASSWORD),
        }
    }

    /// `false` when the name is taken.
    pub async fn create(
        &self,
        user: &str,
        password_hash: &str,
        created_at: i64,
    ) -> Result<bool, fred::error::Error> {
        let created: i64 = self
            .create
            .evalsha_with_reload(
                self.pool.next(),
                self.keys.account(user),
                vec![password_hash.to_string(), created_at.to_string()],
            )
            .await?;
        Ok(created == 1)
    }

    pub async fn password_hash(&self, user: &str) -> Result<Option<String>, fred::error::Error> {
        self.pool
            .hget(self.keys.account(user), "password_hash")
            .await
    }

    pub async fn set_password_hash(
        &self,
        user: &str,
        password_hash: &str,
    ) -> Result<bool, fred::error::Error> {
        let stored: i64 = self
            .set_password
            .evalsha_with_reload(
                self.pool.next(),
                self.keys.account(user),
                vec![password_hash.to_string()],
            )
            .await?;
        Ok(stored == 1)
    }
}
