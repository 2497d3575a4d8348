//! The names of a session record's fields: one Redis hash field each, its value JSON.
//!
//! Code reads and writes sessions through `AppSession` with these constants, never with string
//! literals, so a field is named in one place.

/// When the session began (ms since the Unix epoch).
pub const CREATED_AT: &str = "created_at";
/// When the idle deadline was last moved (ms); the idle deadline is this plus the idle timeout.
pub const REFRESHED_AT: &str = "refreshed_at";
/// The session ends at this moment (ms) however active it is.
pub const ABSOLUTE_DEADLINE: &str = "absolute_deadline";
/// The demo counter; a bare integer so that Redis can increment it atomically.
pub const COUNTER: &str = "counter";
/// The user's short note.
pub const NOTE: &str = "note";

/// Fields every record must have; a record without them is treated as corrupt.
pub const REQUIRED: [&str; 3] = [CREATED_AT, REFRESHED_AT, ABSOLUTE_DEADLINE];
/// The signed-in user's name; absent for an anonymous session.
pub const USER: &str = "user";
/// When the user signed in (ms); the absolute deadline counts from here.
pub const SIGNED_IN_AT: &str = "signed_in_at";
/// The browser's User-Agent at sign-in, shortened, for "Your sessions".
pub const USER_AGENT: &str = "user_agent";
/// The client address at sign-in, for "Your sessions".
pub const ADDRESS: &str = "address";
