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

/// Prefix of a data field: `d:` + the tower-sessions key.
pub(crate) const DATA_PREFIX: &str = "d:";

/// The store's own fields (values are plain text: decimal milliseconds, a name, JSON).
pub(crate) mod meta {
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
    /// How many writes the record has had (absent: none since it was created). Every write
    /// script increments it (the scripts name it themselves), so of two copies the near cache
    /// keeps the later.
    pub const VERSION: &str = "m:version";
}

/// Who is signed in with a session.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SignedIn {
    /// The user's name (see [`SignedIn::valid_user`]).
    pub user: String,
    /// When the user signed in (ms since the epoch).
    pub at: i64,
    /// What the application recorded about the sign-in: it goes to the user's index entry
    /// only, for "your sessions" pages.
    pub details: Value,
}

impl SignedIn {
    /// Whether `name` can be a signed-in user's name: non-empty, at most 256 bytes, no braces or
    /// control characters (it is part of the user's index key).
    pub fn valid_user(name: &str) -> bool {
        !name.is_empty()
            && name.len() <= 256
            && !name.chars().any(|c| c.is_control() || c == '{' || c == '}')
    }
}

/// The store's bookkeeping of one session.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Meta {
    /// When the session began (ms since the epoch).
    pub created_at: i64,
    /// When the idle deadline last moved: the idle deadline is this plus the idle timeout.
    pub refreshed_at: i64,
    /// The session ends at this moment however active it is.
    pub absolute_deadline: i64,
    /// Who is signed in, if anyone.
    pub signed_in: Option<SignedIn>,
    /// Writes since it was created ([`meta::VERSION`]).
    pub version: u64,
}

impl Meta {
    /// A session beginning at `now`.
    pub(crate) fn starting(now: i64, absolute_timeout_ms: i64) -> Meta {
        Meta {
            created_at: now,
            refreshed_at: now,
            absolute_deadline: now.saturating_add(absolute_timeout_ms),
            signed_in: None,
            version: 0,
        }
    }

    /// The same bookkeeping, but as old as `previous` (a session keeps its age across sign-in).
    pub(crate) fn keeping_created_at(self, previous: Option<&Meta>) -> Meta {
        Meta {
            created_at: previous.map_or(self.created_at, |p| p.created_at),
            ..self
        }
    }

    /// Field/value pairs as stored.
    pub(crate) fn fields(&self) -> Vec<(&'static str, String)> {
        let mut fields = vec![
            (meta::CREATED_AT, self.created_at.to_string()),
            (meta::REFRESHED_AT, self.refreshed_at.to_string()),
            (meta::ABSOLUTE_DEADLINE, self.absolute_deadline.to_string()),
        ];
        if let Some(signed_in) = &self.signed_in {
            fields.push((meta::USER, signed_in.user.clone()));
            fields.push((meta::SIGNED_IN_AT, signed_in.at.to_string()));
        }
        fields
    }
}

/// Why a stored hash is not a usable session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Undecodable {
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
pub(crate) type Data = HashMap<String, Value>;

/// The stored state of a session as one request last saw it.
#[derive(Debug, Clone)]
pub(crate) struct Loaded {
    pub id: Id,
    pub meta: Meta,
    /// The session's data, key → JSON value.
    pub data: Data,
    /// Each data key's text as Redis held it when this was read (or written): a save changes a
    /// key only while Redis still holds this text, so no request overwrites a change it never saw.
    pub stored: Stored,
}

/// Data key → its JSON text as stored.
pub(crate) type Stored = HashMap<String, String>;

/// Tells whether a JSON value is one the application can read under a key
/// ([`crate::StoreBuilder::typed_key`]).
pub(crate) type Admits = fn(&Value) -> bool;

/// `value` deserializes as a `T`.
pub(crate) fn admits<T: serde::de::DeserializeOwned>(value: &Value) -> bool {
    T::deserialize(value).is_ok()
}

/// The keys the application reads with a type.
pub(crate) type TypedKeys = [(String, Admits)];

/// Splits a stored hash into bookkeeping and data. Everything the app reads with a type is
/// checked here, so a bad record is "no session" at once instead of an error at every read.
pub(crate) fn decode(
    raw: HashMap<String, String>,
    typed: &TypedKeys,
) -> Result<(Meta, Data, Stored), Undecodable> {
    let mut data = HashMap::with_capacity(raw.len());
    let mut stored = HashMap::with_capacity(raw.len());
    let mut bookkeeping = HashMap::new();
    for (field, text) in raw {
        if let Some(key) = field.strip_prefix(DATA_PREFIX) {
            let value = serde_json::from_str(&text).map_err(|_| Undecodable::NotJson)?;
            data.insert(key.to_string(), value);
            stored.insert(key.to_string(), text);
        } else {
            bookkeeping.insert(field, text);
        }
    }
    let meta = decode_meta(&bookkeeping).ok_or(Undecodable::MissingOrMistyped)?;
    if mistyped_key(&data, typed).is_some() {
        return Err(Undecodable::MissingOrMistyped);
    }
    Ok((meta, data, stored))
}

/// The first key the application reads with a type whose value has another type, if any.
pub(crate) fn mistyped_key<'k>(data: &Data, typed: &'k TypedKeys) -> Option<&'k str> {
    typed
        .iter()
        .find(|(key, admits)| data.get(key).is_some_and(|value| !admits(value)))
        .map(|(key, _)| key.as_str())
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
            user: Some(name.clone()).filter(|name| SignedIn::valid_user(name))?,
            at: instant(meta::SIGNED_IN_AT)?,
            // Only the index entry needs them; the record does not carry them.
            details: Value::Null,
        }),
    };
    Some(Meta {
        created_at: instant(meta::CREATED_AT)?,
        refreshed_at: instant(meta::REFRESHED_AT)?,
        absolute_deadline: instant(meta::ABSOLUTE_DEADLINE)?,
        signed_in,
        version: match fields.get(meta::VERSION) {
            None => 0,
            Some(version) => version.parse().ok()?,
        },
    })
}

/// The Redis field of a data key.
pub(crate) fn data_field(key: &str) -> String {
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
        let (meta, data, stored) = decode(raw(&pairs), &[]).unwrap();
        assert_eq!(stored["cart"], r#"["apple"]"#, "the text as Redis holds it");
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
        let typed = [("counter".to_string(), admits::<i64> as Admits)];
        assert_eq!(
            decode(raw(&[(meta::CREATED_AT, "1")]), &typed),
            Err(Undecodable::MissingOrMistyped)
        );
        let mut pairs = BOOKKEEPING.to_vec();
        pairs.push(("d:x", "{not json"));
        assert_eq!(decode(raw(&pairs), &typed), Err(Undecodable::NotJson));
        let mut pairs = BOOKKEEPING.to_vec();
        pairs.push(("d:counter", r#""seven""#));
        assert_eq!(
            decode(raw(&pairs), &typed),
            Err(Undecodable::MissingOrMistyped)
        );
        assert!(
            decode(raw(&pairs), &[]).is_ok(),
            "untyped keys take any value"
        );
        let mut pairs = BOOKKEEPING.to_vec();
        pairs.push((meta::USER, "a{b}"));
        pairs.push((meta::SIGNED_IN_AT, "1500"));
        assert_eq!(
            decode(raw(&pairs), &typed),
            Err(Undecodable::MissingOrMistyped)
        );
    }
}
