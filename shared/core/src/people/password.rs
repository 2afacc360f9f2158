//! Passwords, hashed with argon2id. Verifying takes the same time whether or not the
//! account exists: an unknown e-mail is checked against a dummy hash.

use std::sync::LazyLock;

use argon2::password_hash::{PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use serde::{Deserialize, Serialize};

/// OWASP's argon2id baseline: 19 MiB, 2 passes, 1 lane (tens of milliseconds per login).
const MEMORY_KIB: u32 = 19 * 1024;
const PASSES: u32 = 2;
const LANES: u32 = 1;

/// Shorter passwords are guessable offline; longer ones only cost hashing time.
pub const MIN_PASSWORD_CHARS: usize = 12;
pub const MAX_PASSWORD_BYTES: usize = 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordError {
    #[error("a password needs at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("a password may have at most {MAX_PASSWORD_BYTES} bytes")]
    TooLong,
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

fn hasher() -> Argon2<'static> {
    // The parameters are constants within argon2's bounds, so `new` cannot refuse them;
    // the fallback is argon2's own default (also argon2id).
    let params = Params::new(MEMORY_KIB, PASSES, LANES, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Refuses a password too short to resist guessing or too long to hash cheaply.
pub fn check_new_password(password: &str) -> Result<(), PasswordError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordError::TooLong);
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort);
    }
    Ok(())
}

/// An argon2id PHC string (`$argon2id$v=19$m=…`). Never shown by `Debug`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PasswordHash(String);

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHash(..)")
    }
}

impl PasswordHash {
    /// Hashes a new password (after [`check_new_password`]) with a fresh random salt.
    pub fn new(password: &str) -> Result<Self, PasswordError> {
        check_new_password(password)?;
        let mut salt = [0u8; 16];
        rand::fill(&mut salt);
        let salt =
            SaltString::encode_b64(&salt).map_err(|e| PasswordError::Hashing(e.to_string()))?;
        hasher()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| Self(h.to_string()))
            .map_err(|e| PasswordError::Hashing(e.to_string()))
    }

    /// Whether `password` is the one hashed; the comparison is constant-time (argon2's).
    /// An unreadable stored hash never matches.
    pub fn verify(&self, password: &str) -> bool {
        if password.len() > MAX_PASSWORD_BYTES {
            return false;
        }
        argon2::password_hash::PasswordHash::new(&self.0).is_ok_and(|parsed| {
            hasher()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
    }
}

/// A hash of a password nobody has, made once: verified against when the e-mail is
/// unknown, so a failed login costs the same either way.
static DUMMY: LazyLock<Option<PasswordHash>> = LazyLock::new(|| {
    let mut random = [0u8; 24];
    rand::fill(&mut random);
    PasswordHash::new(&super::hex(&random)).ok()
});

/// Verifies `password` against `hash`, or against the dummy hash when there is no
/// account (always `false` then), spending the same work.
pub fn verify_or_dummy(hash: Option<&PasswordHash>, password: &str) -> bool {
    match hash {
        Some(hash) => hash.verify(password),
        None => {
            if let Some(dummy) = DUMMY.as_ref() {
                let _ = dummy.verify(password);
            }
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_only_against_its_own_hash() {
        let hash = PasswordHash::new("correct horse battery").expect("hash");
        assert!(
            hash.0.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{}",
            hash.0
        );
        assert!(hash.verify("correct horse battery"));
        assert!(!hash.verify("correct horse battery!"));
        assert!(!verify_or_dummy(None, "correct horse battery"));
        assert!(verify_or_dummy(Some(&hash), "correct horse battery"));
        let again = PasswordHash::new("correct horse battery").expect("hash");
        assert_ne!(hash, again, "salted");
        assert_eq!(format!("{hash:?}"), "PasswordHash(..)");
    }

    #[test]
    fn weak_and_huge_passwords_are_refused() {
        assert_eq!(check_new_password("short"), Err(PasswordError::TooShort));
        assert_eq!(
            check_new_password(&"x".repeat(2000)),
            Err(PasswordError::TooLong)
        );
        assert!(!PasswordHash("garbage".into()).verify("anything at all"));
    }
}
