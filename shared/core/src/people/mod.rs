//! People: users of an organization with an e-mail and a password, their sessions, the
//! invitations that bring them in, and the rules that guard logging in.
//!
//! An e-mail is unique on the platform: one person, one organization, one role. A person
//! who works for two organizations uses two addresses; so a login needs no "which
//! organization" step and a session is always in exactly one organization.

mod invitation;
mod password;
mod session;
mod throttle;
mod user;

pub use invitation::{INVITATION_TTL_HOURS, Invitation, InvitationState};
pub use password::{PasswordError, PasswordHash, check_new_password, verify_or_dummy};
pub use session::{Session, SessionPolicy, SessionState, csrf_token};
pub use throttle::{LoginFailures, ThrottlePolicy};
pub use user::{User, may_assign, normalize_email};

use sha2::{Digest, Sha256};

/// A fresh 256-bit secret (hex, after `prefix`) and its SHA-256, the only form stored.
pub fn new_secret(prefix: &str) -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    let secret = format!("{prefix}{}", hex(&bytes));
    let hash = secret_hash(&secret);
    (secret, hash)
}

/// SHA-256 of a presented secret, hex: a 256-bit random secret needs no slow hash.
pub fn secret_hash(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
