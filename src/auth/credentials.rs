//! What a valid username and password look like; checked in the browser and on the server.

use crate::error::ApiError;

pub const USERNAME_MIN: usize = 3;
pub const USERNAME_MAX: usize = 32;
pub const PASSWORD_MIN: usize = 8;
/// Bounds the work one hash costs.
pub const PASSWORD_MAX: usize = 128;

/// A username is 3–32 of `a-z 0-9 . _ -`, compared case-insensitively (stored lowercase).
pub fn normalize_username(raw: &str) -> Result<String, ApiError> {
    let name = raw.trim().to_lowercase();
    let len = name.chars().count();
    if !(USERNAME_MIN..=USERNAME_MAX).contains(&len)
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
    {
        return Err(ApiError::new(
            "username_invalid",
            format!(
                "A username is {USERNAME_MIN}–{USERNAME_MAX} letters, digits, '.', '_' or '-'."
            ),
        ));
    }
    Ok(name)
}

pub fn check_new_password(password: &str) -> Result<(), ApiError> {
    let len = password.chars().count();
    if !(PASSWORD_MIN..=PASSWORD_MAX).contains(&len) {
        return Err(ApiError::new(
            "password_invalid",
            format!("A password is {PASSWORD_MIN} to {PASSWORD_MAX} characters long."),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert_eq!(normalize_username("  Alice_1 ").unwrap(), "alice_1");
        for bad in ["ab", "a b c", "x".repeat(33).as_str(), "bob{x}", "élan"] {
            assert!(normalize_username(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords() {
        assert!(check_new_password("1234567").is_err());
        assert!(check_new_password("12345678").is_ok());
        assert!(check_new_password(&"p".repeat(129)).is_err());
    }
}
