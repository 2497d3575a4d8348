//! How one session is laid out in its Redis hash, and how a hash is read back.
//!
//! Two namespaces keep the store's bookkeeping apart from the data handlers keep in the session:
//! `m:<name>` fields are the store's (deadlines, the signed-in user) and are never part of the
//! tower-sessions record; `d:<key>` fields hold the record's data, one field per key, its value
//! JSON. So `session.insert("m:created", …)` is just the data key `m:created` (field
//! `d:m:created`), and no handler can read or overwrite the bookkeeping by accident.

use std::collections::HashMap;

use serde_json::Value;
use tower_sessions::session::Id;

use crate::shared::input::Username;

/// Prefix of a data field: `d:` + the tower-sessions key.
pub const DATA_PREFIX: &str = "d:";

/// The store's own fields (values are plain text: decimal milliseconds or a name).
pub mod meta {
    /// When the session began.
    pub const CREATED_AT: &str = "m:created";
    /// When the idle deadline was last moved; the idle deadline is this plus the idle timeout.
    pub const REFRESHED_AT: &str = "m:refreshed";
    /// The session ends at this moment however active it is.
    pub const ABSOLUTE_DEADLINE: &str = "m:absolute";
    /// The signed-in user's name; absent for an anonymous session.
    pub const USER: &str = "m:user";
    /// When the user signed in.
    pub const SIGNED_IN_AT: &str = "m:signed_in";
    /// When the password was last entered in this session (sign-in, password change,
    /// re-authentication); absent means at sign-in.
    pub const PASSWORD_AT: &str = "m:password_at";
    /// The browser's User-Agent at sign-in, shortened, for "Your sessions".
    pub const USER_AGENT: &str = "m:agent";
    /// The client address at sign-in, for "Your sessions".
    pub const ADDRESS: &str = "m:address";
}

/// Data keys the app itself reads with a type; a record where one has another type is corrupt.
pub mod keys {
    /// The demo counter; a bare integer so that Redis can increment it (`HINCRBY`).
    pub const COUNTER: &str = "counter";
    pub const NOTE: &str = "note";
    pub const THEME: &str = "theme";
}

/// Who is signed in with a session, and from where.
#[derive(Debug, Clone, PartialEq)]
pub struct SignedIn {
    pub user: Username,
    pub at: i64,
    /// When the password was last entered in this session.
    pub password_at: i64,
    pub user_agent: String,
    pub address: String,
}

/// The store's bookkeeping of one session.
#[derive(Debug, Clone, PartialEq)]
pub struct Meta {
    pub created_at: i64,
    pub refreshed_at: i64,
    pub absolute_deadline: i64,
    pub signed_in: Option<SignedIn>,
}

impl Meta {
    /// A session beginning at `now`.
    pub fn starting(now: i64, absolute_timeout_ms: i64) -> Meta {
        Meta {
            created_at: now,
            refreshed_at: now,
            absolute_deadline: now.saturating_add(absolute_timeout_ms),
            signed_in: None,
        }
    }

    /// The same bookkeeping, but as old as `previous` (a session keeps its age across sign-in).
    pub fn keeping_created_at(self, previous: Option<&Meta>) -> Meta {
        Meta {
            created_at: previous.map_or(self.created_at, |p| p.created_at),
            ..self
        }
    }

    /// Field/value pairs as stored.
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        let mut fields = vec![
            (meta::CREATED_AT, self.created_at.to_string()),
            (meta::REFRESHED_AT, self.refreshed_at.to_string()),
            (meta::ABSOLUTE_DEADLINE, self.absolute_deadline.to_string()),
        ];
        if let Some(signed_in) = &self.signed_in {
            fields.push((meta::USER, signed_in.user.to_string()));
            fields.push((meta::SIGNED_IN_AT, signed_in.at.to_string()));
            fields.push((meta::PASSWORD_AT, signed_in.password_at.to_string()));
            fields.push((meta::USER_AGENT, signed_in.user_agent.clone()));
            fields.push((meta::ADDRESS, signed_in.address.clone()));
        }
        fields
    }
}

/// Why a stored hash is not a usable session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Undecodable {
    NotJson,
    MissingOrMistyped,
}

impl Undecodable {
    pub fn reason(self) -> &'static str {
        match self {
            Undecodable::NotJson => "a data field is not JSON",
            Undecodable::MissingOrMistyped => "bookkeeping fields are missing or of the wrong type",
        }
    }
}

/// A session's data, key → JSON value, as tower-sessions' record holds it.
pub type Data = HashMap<String, Value>;

/// The stored state of a session as one request last saw it.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub id: Id,
    pub meta: Meta,
    pub data: Data,
}

/// Splits a stored hash into bookkeeping and data. Everything the app reads with a type is
/// checked here, so a bad record is "no session" at once instead of an error at every read.
pub fn decode(raw: HashMap<String, String>) -> Result<(Meta, Data), Undecodable> {
    let mut data = HashMap::with_capacity(raw.len());
    let mut bookkeeping = HashMap::new();
    for (field, text) in raw {
        if let Some(key) = field.strip_prefix(DATA_PREFIX) {
            let value = serde_json::from_str(&text).map_err(|_| Undecodable::NotJson)?;
            data.insert(key.to_string(), value);
        } else {
            bookkeeping.insert(field, text);
        }
    }
    let meta = decode_meta(&bookkeeping).ok_or(Undecodable::MissingOrMistyped)?;
    if mistyped_key(&data).is_some() {
        return Err(Undecodable::MissingOrMistyped);
    }
    Ok((meta, data))
}

/// A data key the app reads with a type, and the check of that type.
type TypedKey = (&'static str, fn(&Value) -> bool);

/// The first key the app reads with a type whose value has another type, if any.
pub fn mistyped_key(data: &Data) -> Option<&'static str> {
    let typed: [TypedKey; 3] = [
        (keys::COUNTER, Value::is_i64),
        (keys::NOTE, Value::is_string),
        (keys::THEME, Value::is_string),
    ];
    typed
        .into_iter()
        .find(|(key, ok)| data.get(*key).is_some_and(|value| !ok(value)))
        .map(|(key, _)| key)
}

fn decode_meta(fields: &HashMap<String, String>) -> Option<Meta> {
    // Milliseconds between 1970 and the year 3000.
    let instant = |field: &str| {
        fields
            .get(field)?
            .parse::<i64>()
            .ok()
            .filter(|ms| (0..32_503_680_000_000).contains(ms))
    };
    let signed_in = match fields.get(meta::USER) {
        None => None,
        Some(name) => Some(SignedIn {
            user: Username::parse(name).ok()?,
            at: instant(meta::SIGNED_IN_AT)?,
            password_at: instant(meta::PASSWORD_AT).or(instant(meta::SIGNED_IN_AT))?,
            user_agent: fields.get(meta::USER_AGENT).cloned().unwrap_or_default(),
            address: fields.get(meta::ADDRESS).cloned().unwrap_or_default(),
        }),
    };
    Some(Meta {
        created_at: instant(meta::CREATED_AT)?,
        refreshed_at: instant(meta::REFRESHED_AT)?,
        absolute_deadline: instant(meta::ABSOLUTE_DEADLINE)?,
        signed_in,
    })
}

/// The Redis field of a data key.
pub fn data_field(key: &str) -> String {
    let mut field = String::with_capacity(DATA_PREFIX.len() + key.len());
    field.push_str(DATA_PREFIX);
    field.push_str(key);
    field
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const BOOKKEEPING: [(&str, &str); 3] = [
        (meta::CREATED_AT, "1000"),
        (meta::REFRESHED_AT, "2000"),
        (meta::ABSOLUTE_DEADLINE, "9000"),
    ];

    #[test]
    fn data_and_bookkeeping_never_mix() {
        let mut pairs = BOOKKEEPING.to_vec();
        pairs.extend([("d:cart", r#"["apple"]"#), ("d:m:created", "5")]);
        let (meta, data) = decode(raw(&pairs)).unwrap();
        assert_eq!(meta.created_at, 1000);
        assert_eq!(data["cart"], serde_json::json!(["apple"]));
        assert_eq!(
            data["m:created"], 5,
            "a data key that looks like bookkeeping"
        );
        assert_eq!(data.len(), 2);
    }

    #[test]
    fn broken_records_are_undecodable() {
        assert_eq!(
            decode(raw(&[(meta::CREATED_AT, "1")])),
            Err(Undecodable::MissingOrMistyped)
        );
        let mut pairs = BOOKKEEPING.to_vec();
        pairs.push(("d:x", "{not json"));
        assert_eq!(decode(raw(&pairs)), Err(Undecodable::NotJson));
        let mut pairs = BOOKKEEPING.to_vec();
        pairs.push(("d:counter", r#""seven""#));
        assert_eq!(decode(raw(&pairs)), Err(Undecodable::MissingOrMistyped));
    }
}
