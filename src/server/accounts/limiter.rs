//! Brute-force limits on password checks, kept in Redis so every app instance shares them, and
//! shaped so that nobody can turn them against an account's owner (docs/security.md says what is
//! promised to whom).
//!
//! Only attempts that reach the password check are counted, each limit checked and counted in one
//! step, in fixed windows that start with the first attempt, in this order: per client address
//! (before any counter of a name), per (name, address) pair (the hard lock), and per name across
//! addresses (spaced attempts, in one lane for the networks the name signed in from before and
//! one for every other network). An attempt refused at a later step is taken back from the
//! earlier ones. A browser whose device cookie vouches for the name is counted under its token
//! alone (`trusted_device`). Successful sign-ins to one name are limited too
//! ([`SIGN_INS_PER_WINDOW`]).

use std::{net::IpAddr, time::Duration};

use fred::{
    prelude::{KeysInterface, Pool, SortedSetsInterface},
    types::scripts::Script,
};
use ipnet::IpNet;

use super::trusted_device::TrustedDevice;
use crate::{
    server::redis::{KeySpace, WindowCounter},
    shared::{clock::now_ms, input::Username},
};

/// Successful sign-ins to one name per failure window (5 minutes by default): far more than its
/// owner's browsers need, few enough that signing in over and over cannot keep the password
/// checks busy.
pub const SIGN_INS_PER_WINDOW: u32 = 30;

/// How long a network a name signed in from stays known to its slowdown.
const KNOWN_NETWORK_MS: i64 = 90 * 24 * 3600 * 1000;

#[derive(Debug, Clone, Copy)]
pub struct LoginLimits {
    /// Attempts at one name from one address before that pair is locked for the window.
    pub max_failures_per_user: u32,
    pub max_failures_per_address: u32,
    /// Attempts at one name from all addresses before the next ones are spaced.
    pub slowdown_after_failures_per_user: u32,
    /// The longest wait between spaced attempts.
    pub slowdown_cap: Duration,
    pub window: Duration,
}

#[derive(Clone)]
pub struct LoginLimiter {
    pool: Pool,
    keys: KeySpace,
    limits: LoginLimits,
    counter: WindowCounter,
    slow_attempt: Script,
    sign_ins_left: Script,
}

impl LoginLimiter {
    pub fn new(pool: Pool, keys: KeySpace, limits: LoginLimits) -> Self {
        LoginLimiter {
            counter: WindowCounter::new(pool.clone()),
            pool,
            keys,
            limits,
            slow_attempt: Script::from_lua(include_str!("scripts/slow_attempt.lua")),
            sign_ins_left: Script::from_lua(include_str!("scripts/sign_ins_left.lua")),
        }
    }

    /// Admits an attempt for `user` (none when the name is not even valid) from `address`, or
    /// `Some(wait)` when it must be refused (the password must then not be checked). An admitted
    /// attempt is counted; a refused one is not.
    pub async fn attempt(
        &self,
        user: Option<&Username>,
        address: &str,
        device: Option<&TrustedDevice>,
    ) -> Result<Option<Duration>, fred::error::Error> {
        let limits = self.limits;
        if let Some(user) = user {
            if let Some(wait) = self.sign_ins_used_up(user).await? {
                return Ok(Some(wait));
            }
            if let Some(device) = device.filter(|device| device.vouches_for(user)) {
                let key = self.keys.login_failures_for_device(device.token());
                return self.count(key, limits.max_failures_per_user).await;
            }
        }
        let address_key = self.keys.login_failures_for_address(address);
        let refused = self
            .count(address_key.clone(), limits.max_failures_per_address)
            .await?;
        let Some(user) = user.filter(|_| refused.is_none()) else {
            return Ok(refused);
        };
        let refused = self.attempt_at_name(user, address).await?;
        if refused.is_some() {
            self.counter.uncount(address_key).await?;
        }
        Ok(refused)
    }

    /// Counts an attempt under `key` unless it holds `limit` already: then the wait.
    async fn count(&self, key: String, limit: u32) -> Result<Option<Duration>, fred::error::Error> {
        let counted = self.counter.count_within(key, limit, self.limits.window);
        Ok(counted.await?.err())
    }

    /// Steps 2 and 3 for an attempt already counted on its address.
    async fn attempt_at_name(
        &self,
        user: &Username,
        address: &str,
    ) -> Result<Option<Duration>, fred::error::Error> {
        let limits = self.limits;
        let pair_key = self.keys.login_failures_for_pair(user, address);
        if let Some(wait) = self
            .count(pair_key.clone(), limits.max_failures_per_user)
            .await?
        {
            return Ok(Some(wait));
        }
        let args = vec![
            (limits.window.as_millis() as u64).max(1).to_string(),
            now_ms().to_string(),
            limits.slowdown_after_failures_per_user.to_string(),
            (limits.slowdown_cap.as_millis() as u64).to_string(),
        ];
        let lane = match self.is_known_network(user, address).await? {
            true => self.keys.login_slowdown_for_known_networks(user),
            false => self.keys.login_slowdown_for_user(user),
        };
        let wait_ms: i64 = self
            .slow_attempt
            .evalsha_with_reload(self.pool.next(), lane, args)
            .await?;
        let refused = refusal(wait_ms);
        if refused.is_some() {
            self.counter.uncount(pair_key).await?;
        }
        Ok(refused)
    }

    /// A successful check. Through a trusted browser only its token starts afresh: nothing was
    /// counted on the address or the name, so nothing is taken back there (and guessers at the
    /// name keep their slowdown). Otherwise the name starts afresh and the address gets its
    /// attempt back. Either way the sign-in counts toward the name's [`SIGN_INS_PER_WINDOW`]
    /// and its network becomes known to the name.
    pub async fn succeeded(
        &self,
        user: &Username,
        address: &str,
        device: Option<&TrustedDevice>,
    ) -> Result<(), fred::error::Error> {
        self.counter
            .count(self.keys.sign_ins_for_user(user), self.limits.window)
            .await?;
        // Through a trusted browser too: that is how an owner's own networks become known.
        self.note_known_network(user, address).await?;
        if let Some(device) = device.filter(|device| device.vouches_for(user)) {
            let key = self.keys.login_failures_for_device(device.token());
            let _: i64 = self.pool.del(key).await?;
            return Ok(());
        }
        let _: i64 = self
            .pool
            .del(vec![
                self.keys.login_failures_for_pair(user, address),
                self.keys.login_slowdown_for_user(user),
                self.keys.login_slowdown_for_known_networks(user),
            ])
            .await?;
        self.counter
            .uncount(self.keys.login_failures_for_address(address))
            .await
    }

    /// The wait when `user`'s successful sign-ins have used up this window's.
    async fn sign_ins_used_up(
        &self,
        user: &Username,
    ) -> Result<Option<Duration>, fred::error::Error> {
        let wait_ms: i64 = self
            .sign_ins_left
            .evalsha_with_reload(
                self.pool.next(),
                self.keys.sign_ins_for_user(user),
                vec![SIGN_INS_PER_WINDOW.to_string()],
            )
            .await?;
        Ok(refusal(wait_ms))
    }

    /// Whether `user` signed in from `address`'s network within the last 90 days.
    async fn is_known_network(
        &self,
        user: &Username,
        address: &str,
    ) -> Result<bool, fred::error::Error> {
        let since: Option<f64> = self
            .pool
            .zscore(self.keys.sign_in_networks(user), sign_in_network(address))
            .await?;
        Ok(since.is_some_and(|since| since as i64 > now_ms() - KNOWN_NETWORK_MS))
    }

    /// Remembers `address`'s network as one `user` signs in from; networks not seen for 90 days
    /// are dropped, and the set with them when none is left.
    async fn note_known_network(
        &self,
        user: &Username,
        address: &str,
    ) -> Result<(), fred::error::Error> {
        let key = self.keys.sign_in_networks(user);
        let now = now_ms();
        // One round trip.
        let pipeline = self.pool.next().pipeline();
        let network = (now as f64, sign_in_network(address));
        let _: () = pipeline
            .zadd(&key, None, None, false, false, network)
            .await?;
        let stale = (now - KNOWN_NETWORK_MS) as f64;
        let _: () = pipeline
            .zremrangebyscore(&key, f64::NEG_INFINITY, stale)
            .await?;
        let _: () = pipeline.pexpire(&key, KNOWN_NETWORK_MS, None).await?;
        let _: (i64, i64, bool) = pipeline.all().await?;
        Ok(())
    }
}

/// A script's answer: the milliseconds to wait (at least a second), when positive.
fn refusal(wait_ms: i64) -> Option<Duration> {
    (wait_ms > 0).then(|| Duration::from_millis(wait_ms as u64).max(Duration::from_secs(1)))
}

/// The network a sign-in is known by: an IPv4 /24, an IPv6 /48 (a home network's addresses
/// change within them), an IPv4-mapped address as the IPv4 one.
fn sign_in_network(address: &str) -> String {
    let Ok(ip) = address.parse::<IpAddr>().map(|ip| ip.to_canonical()) else {
        return address.to_string();
    };
    let prefix = if ip.is_ipv4() { 24 } else { 48 };
    IpNet::new_assert(ip, prefix).trunc().to_string()
}

#[cfg(test)]
mod tests {
    use super::sign_in_network;

    #[test]
    fn sign_ins_are_known_by_their_v4_slash_24_and_v6_slash_48() {
        assert_eq!(sign_in_network("unknown"), "unknown");
        assert_eq!(sign_in_network("203.0.113.77"), "203.0.113.0/24");
        assert_eq!(sign_in_network("::ffff:203.0.113.77"), "203.0.113.0/24");
        assert_eq!(sign_in_network("2001:db8:1:2::1"), "2001:db8:1::/48");
    }
}
