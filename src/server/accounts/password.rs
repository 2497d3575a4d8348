//! Password hashing: Argon2id with OWASP's recommended minimum (m = 19 MiB, t = 2, p = 1).
//!
//! Hashing takes tens of milliseconds of CPU, so it runs on tokio's blocking pool, with a few
//! slots: a burst queues here instead of stalling other requests or taking 19 MiB per request
//! without limit. Checking a password (sign-in) and hashing a new one (registration, password
//! change) have slots of their own, so sign-ins never wait behind a flood of registrations.

use std::sync::{Arc, OnceLock};

use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Algorithm, Argon2, Params, Version,
};
use tokio::sync::Semaphore;

use crate::shared::input::Password;

pub const MEMORY_KIB: u32 = 19 * 1024;
pub const ITERATIONS: u32 = 2;
pub const PARALLELISM: u32 = 1;
/// Password checks (sign-in, re-authentication) at once.
const CHECKING_SLOTS: usize = 2;
/// New hashes (registration, password change) at once.
const HASHING_SLOTS: usize = 1;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("the hashing task stopped: {0}")]
    Task(String),
}

fn argon2() -> Argon2<'static> {
    let params =
        Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None).expect("valid Argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn checking_slots() -> &'static Arc<Semaphore> {
    static SLOTS: OnceLock<Arc<Semaphore>> = OnceLock::new();
    SLOTS.get_or_init(|| Arc::new(Semaphore::new(CHECKING_SLOTS)))
}

fn hashing_slots() -> &'static Arc<Semaphore> {
    static SLOTS: OnceLock<Arc<Semaphore>> = OnceLock::new();
    SLOTS.get_or_init(|| Arc::new(Semaphore::new(HASHING_SLOTS)))
}

async fn off_runtime<T: Send + 'static>(
    slots: &Arc<Semaphore>,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, PasswordError> {
    let slot = slots
        .clone()
        .acquire_owned()
        .await
        .map_err(|err| PasswordError::Task(err.to_string()))?;
    // The permit travels with the blocking task: a client that disconnects drops this future,
    // but the hash keeps running and keeps its slot until it is done.
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        work()
    })
    .await
    .map_err(|err| PasswordError::Task(err.to_string()))
}

/// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`).
pub async fn hash(password: Password) -> Result<String, PasswordError> {
    off_runtime(hashing_slots(), move || {
        let salt = SaltString::generate(&mut OsRng);
        argon2()
            .hash_password(password.expose().as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|err| PasswordError::Hash(err.to_string()))
    })
    .await?
}

/// Whether `password` matches `phc`. A malformed stored hash is an error, not a match.
pub async fn verify(password: Password, phc: String) -> Result<bool, PasswordError> {
    off_runtime(checking_slots(), move || {
        let parsed = PasswordHash::new(&phc).map_err(|err| PasswordError::Hash(err.to_string()))?;
        Ok(argon2()
            .verify_password(password.expose().as_bytes(), &parsed)
            .is_ok())
    })
    .await?
}

/// A hash of a random password, verified against when the username is unknown so that an
/// unknown user costs the same time as a wrong password.
pub async fn decoy_hash() -> Result<String, PasswordError> {
    use argon2::password_hash::rand_core::RngCore;
    let mut bytes = [0u8; 24];
    OsRng.fill_bytes(&mut bytes);
    hash(
        Password::new_checked(hex::encode(bytes))
            .map_err(|err| PasswordError::Hash(err.message))?,
    )
    .await
}
