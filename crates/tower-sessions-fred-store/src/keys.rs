//! The Redis keys the store writes, in one place.

use std::sync::Arc;

use tower_sessions::session::Id;

/// Builds every key of the store under one prefix. The `{…}` parts are Redis Cluster hash tags:
/// every script the store runs touches one key, so each runs on a cluster, and an application
/// that keeps per-user keys as `<prefix>user:{<name>}:…` has them in the slot of the user's
/// session index.
#[derive(Debug, Clone)]
pub(crate) struct SessionKeys {
    prefix: Arc<str>,
}

impl SessionKeys {
    /// Keys under `prefix` (which may be empty).
    pub(crate) fn new(prefix: &str) -> Self {
        SessionKeys {
            prefix: prefix.into(),
        }
    }

    /// A session's hash.
    pub(crate) fn session(&self, id: &Id) -> String {
        format!("{}session:{{{id}}}", self.prefix)
    }

    /// The id in a session key, if `key` is one (an expired key named by a keyspace event).
    pub(crate) fn session_id_in<'k>(&self, key: &'k str) -> Option<&'k str> {
        key.strip_prefix(&*self.prefix)?
            .strip_prefix("session:{")?
            .strip_suffix('}')
    }

    /// Who a signed-in session belongs to, kept past the session's own deadline so that the
    /// handler of its expiry event can still find its entry in the user's index.
    pub(crate) fn session_owner(&self, id: &str) -> String {
        format!("{}session-owner:{{{id}}}", self.prefix)
    }

    /// The near cache's flush epoch: a token every instance reads with its heartbeat, which a
    /// flush removes.
    pub(crate) fn near_cache_epoch(&self) -> String {
        format!("{}near-cache-epoch", self.prefix)
    }

    /// The index of a user's signed-in sessions.
    pub(crate) fn user_sessions(&self, user: &str) -> String {
        format!("{}user:{{{user}}}:sessions", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_carry_the_prefix_and_a_hash_tag() {
        let keys = super::SessionKeys::new("myapp:");
        assert_eq!(keys.user_sessions("ada"), "myapp:user:{ada}:sessions");
        assert_eq!(keys.session_id_in("myapp:session:{abc}"), Some("abc"));
        assert_eq!(keys.session_id_in("other:session:{abc}"), None);
    }
}
