//! What valid input looks like — usernames, passwords, notes, themes — checked in the browser and
//! again on the server, so both give the same message. Parsed values are newtypes: code past this
//! boundary never handles an unchecked string.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::error::{ApiError, ErrorCode};

pub const USERNAME_MIN: usize = 3;
pub const USERNAME_MAX: usize = 32;
pub const PASSWORD_MIN: usize = 8;
/// Bounds the work one hash costs.
pub const PASSWORD_MAX: usize = 128;
/// Longest note, in characters.
pub const NOTE_MAX_CHARS: usize = 200;

/// A username: 3–32 of `a-z 0-9 . _ -`, compared case-insensitively (kept lowercase).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Username, ApiError> {
        let name = raw.trim().to_lowercase();
        let len = name.chars().count();
        let allowed =
            |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-');
        if !(USERNAME_MIN..=USERNAME_MAX).contains(&len) || !name.chars().all(allowed) {
            return Err(ApiError::new(
                ErrorCode::UsernameInvalid,
                format!(
                    "A username is {USERNAME_MIN}–{USERNAME_MAX} letters, digits, '.', '_' or '-'."
                ),
            ));
        }
        Ok(Username(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A password as typed. Its `Debug` never shows it.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub fn new_checked(raw: String) -> Result<Password, ApiError> {
        let len = raw.chars().count();
        if !(PASSWORD_MIN..=PASSWORD_MAX).contains(&len) {
            return Err(ApiError::new(
                ErrorCode::PasswordInvalid,
                format!("A password is {PASSWORD_MIN} to {PASSWORD_MAX} characters long."),
            ));
        }
        Ok(Password(raw))
    }

    /// A password offered at sign-in: anything up to the maximum length is checked against the
    /// stored hash (an old account's password may predate today's rules); longer is refused
    /// unhashed, as a wrong password.
    pub fn attempt(raw: String) -> Option<Password> {
        (raw.chars().count() <= PASSWORD_MAX).then_some(Password(raw))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// A short note kept in the session: 1–200 characters after trimming, no control characters
/// but line breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note(String);

impl Note {
    pub fn parse(raw: &str) -> Result<Note, ApiError> {
        let note = raw.trim();
        if note.is_empty() {
            return Err(ApiError::new(
                ErrorCode::NoteEmpty,
                "Write something before saving the note.",
            ));
        }
        let chars = note.chars().count();
        if chars > NOTE_MAX_CHARS {
            return Err(ApiError::new(
                ErrorCode::NoteTooLong,
                format!("The note is {chars} characters long; at most {NOTE_MAX_CHARS} fit."),
            ));
        }
        if note.chars().any(|c| c.is_control() && c != '\n') {
            return Err(ApiError::new(
                ErrorCode::NoteInvalid,
                "The note contains control characters.",
            ));
        }
        Ok(Note(note.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The page's colour scheme preference. `Default` follows the browser (`prefers-color-scheme`)
/// and is stored as the absence of a preference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Theme {
    Light,
    Dark,
    Default,
}

impl Theme {
    pub fn parse(raw: &str) -> Result<Theme, ApiError> {
        let all = [Theme::Light, Theme::Dark, Theme::Default];
        let theme = all.into_iter().find(|theme| theme.as_str() == raw.trim());
        theme.ok_or_else(|| {
            ApiError::new(
                ErrorCode::ThemeInvalid,
                "A theme is light, dark or default.",
            )
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Theme::Light => "light",
            Theme::Dark => "dark",
            Theme::Default => "default",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_trimmed_lowercased_and_limited() {
        assert_eq!(Username::parse("  Alice_1 ").unwrap().as_str(), "alice_1");
        for bad in ["ab", "a b c", "x".repeat(33).as_str(), "bob{x}", "élan"] {
            assert!(Username::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn new_passwords_are_8_to_128_characters_and_never_printed() {
        assert!(Password::new_checked("1234567".into()).is_err());
        let ok = Password::new_checked("12345678".into()).unwrap();
        assert!(!format!("{ok:?}").contains("1234"));
        assert!(Password::new_checked("p".repeat(129)).is_err());
        assert!(Password::attempt("p".repeat(129)).is_none());
    }

    #[test]
    fn notes_and_themes() {
        assert_eq!(Note::parse("  hi ").unwrap().as_str(), "hi");
        let long = "x".repeat(201);
        let refused = [
            ("  ", ErrorCode::NoteEmpty),
            (long.as_str(), ErrorCode::NoteTooLong),
            ("a\u{7}", ErrorCode::NoteInvalid),
        ];
        for (raw, code) in refused {
            assert_eq!(Note::parse(raw).unwrap_err().code, code, "{raw}");
        }
        assert_eq!(Theme::parse(" dark").unwrap(), Theme::Dark);
        assert!(Theme::parse("blue").is_err());
    }
}
