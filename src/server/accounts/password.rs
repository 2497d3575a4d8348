//! Password hashing: Argon2id with OWASP's recommended minimum (m = 19 MiB, t = 2, p = 1).
//!
//! Hashing takes tens of milliseconds of CPU, so it runs on tokio's blocking pool, with a few
//! slots: a burst queues here instead of stalling other requests or taking 19 MiB per request
//! without limit. Checking a password (sign-in) and hashing a new one (registration, password
//! change) have slots of their own, so sign-ins never wait behind a flood of registrations.

use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Algorithm, Argon2, Params, Version,
};
use tokio::sync::Semaphore;

use crate::shared::input::Password;

const MEMORY_KIB: u32 = 19 * 1024;
const ITERATIONS: u32 = 2;
const PARALLELISM: u32 = 1;

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

/// Password checks (sign-in, re-authentication) at once.
static CHECKING: Semaphore = Semaphore::const_new(2);
/// New hashes (registration, password change) at once.
static HASHING: Semaphore = Semaphore::const_new(1);

async fn off_runtime<T: Send + 'static>(
    slots: &'static Semaphore,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, PasswordError> {
    let slot = (slots.acquire().await).map_err(|err| PasswordError::Task(err.to_string()))?;
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
    off_runtime(&HASHING, move || {
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
    off_runtime(&CHECKING, move || {
        let parsed = PasswordHash::new(&phc).map_err(|err| PasswordError::Hash(err.to_string()))?;
        Ok(argon2()
            .verify_password(password.expose().as_bytes(), &parsed)
            .is_ok())
    })
    .await?
}

/// A hash to verify against when the username is unknown, so that an unknown user costs the same
/// time as a wrong password. Checking a password against a PHC string costs one Argon2 run with
/// its parameters whatever its output bytes, and nothing can match random ones; so the decoy is
/// random salt and output under our parameters — no hash is computed, and the start-up does not
/// take Argon2's 19 MiB.
pub fn decoy_hash() -> Result<String, PasswordError> {
    use argon2::password_hash::{rand_core::RngCore, Output};
    let mut output = [0u8; Params::DEFAULT_OUTPUT_LEN];
    OsRng.fill_bytes(&mut output);
    let salt = SaltString::generate(&mut OsRng);
    let failed = |err: argon2::password_hash::Error| PasswordError::Hash(err.to_string());
    let argon2 = argon2();
    let decoy = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: argon2.params().try_into().map_err(failed)?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&output).map_err(failed)?),
    };
    Ok(decoy.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_decoy_takes_our_parameters_and_matches_no_password() {
        let decoy = decoy_hash().unwrap();
        let parsed = PasswordHash::new(&decoy).unwrap();
        let password = Password::new_checked("a real password".to_string()).unwrap();
        let real = hash(password).await.unwrap();
        let real = PasswordHash::new(&real).unwrap();
        // What a check costs follows from these: the decoy's are a real hash's.
        assert_eq!(parsed.algorithm, real.algorithm);
        assert_eq!(parsed.version, real.version);
        assert_eq!(
            Params::try_from(&parsed).unwrap(),
            Params::try_from(&real).unwrap()
        );
        assert_ne!(decoy, decoy_hash().unwrap(), "each start draws its own");
        let guess = Password::new_checked("correct horse battery".to_string()).unwrap();
        assert!(!verify(guess, decoy).await.unwrap());
    }
}
