//! The person `hotline up` signs in to the web console with: one owner per organization,
//! `owner@{org}.example`, whose password is kept in the local data directory
//! (`console-users/{org}`, owner-only) so every start prints the same working sign-in,
//! like the demo API key. The store holds only the password's hash; a password that no
//! longer verifies (changed in the console, say) is replaced at the next start.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use hotline_core::OrgId;
use hotline_core::model::Role;
use hotline_core::people::{PasswordHash, User};
use hotline_core::ports::{StoreError, StoreResult, Users};

const DIR: &str = "console-users";

fn path(data_dir: &Path, org: &OrgId) -> PathBuf {
    data_dir.join(DIR).join(org.as_str())
}

/// The demo owner's e-mail for `org`.
pub fn demo_email(org: &OrgId) -> String {
    format!("owner@{}.example", org.as_str())
}

/// `org`'s demo owner: (e-mail, password). The kept password while it still signs in,
/// else a new one (the user made, or its password replaced). Without a data directory (an
/// AWS store) a new password every time, since there is nowhere local to keep it.
pub async fn demo_user(
    users: &dyn Users,
    org: &OrgId,
    data_dir: Option<&Path>,
) -> StoreResult<(String, String)> {
    let email = demo_email(org);
    let stored = users.user_by_email(&email).await?;
    if let Some(user) = &stored
        && user.org != *org
    {
        return Err(StoreError::Invalid(format!(
            "{email} belongs to organization {}, not {org}",
            user.org
        )));
    }
    let kept = data_dir
        .and_then(|dir| std::fs::read_to_string(path(dir, org)).ok())
        .map(|k| k.trim().to_owned())
        .filter(|k| !k.is_empty());
    if let (Some(user), Some(kept)) = (&stored, &kept) {
        let (hash, password) = (user.password_hash.clone(), kept.clone());
        let verifies = tokio::task::spawn_blocking(move || hash.verify(&password))
            .await
            .unwrap_or(false);
        if user.is_active() && verifies {
            return Ok((email, kept.clone()));
        }
    }
    let password = new_password();
    let hash = {
        let password = password.clone();
        tokio::task::spawn_blocking(move || PasswordHash::new(&password))
            .await
            .map_err(|e| StoreError::Unavailable(format!("password hashing: {e}")))?
            .map_err(|e| StoreError::Invalid(e.to_string()))?
    };
    match stored {
        None => {
            let user = User::new(org.clone(), email.clone(), Role::Owner, hash, Utc::now());
            users.create_user(&user).await?;
        }
        Some(mut user) => {
            user.password_hash = hash;
            user.removed_at = None;
            user.role = Role::Owner;
            // Sessions opened with the old password end.
            user.session_epoch += 1;
            users.update_user(&user).await?;
        }
    }
    if let Some(dir) = data_dir {
        keep(&path(dir, org), &password)
            .map_err(|e| StoreError::Unavailable(format!("{}: {e}", dir.display())))?;
    }
    Ok((email, password))
}

/// 18 random bytes: 24 characters, far past any guessing.
fn new_password() -> String {
    let mut bytes = [0u8; 18];
    rand::fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn keep(path: &Path, secret: &str) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(&mut options.open(path)?, secret.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_kept_password_is_reused_until_it_no_longer_signs_in() {
        let dir = tempfile::tempdir().expect("dir");
        let stores = hotline_store::Stores::local(&dir.path().join("store")).expect("store");
        let users = stores.users.as_ref();
        let org = OrgId::parse("demo").expect("org");
        let (email, first) = demo_user(users, &org, Some(dir.path()))
            .await
            .expect("user");
        assert_eq!(email, "owner@demo.example");
        let (_, again) = demo_user(users, &org, Some(dir.path()))
            .await
            .expect("user");
        assert_eq!(first, again);
        let user = users
            .user_by_email(&email)
            .await
            .expect("get")
            .expect("user");
        assert_eq!(user.role, Role::Owner);
        assert!(user.password_hash.verify(&first));
        assert_eq!(users.list_users(&org).await.expect("list").len(), 1);

        // Changed elsewhere (the console's password form): the next start makes a new one.
        let mut changed = user;
        changed.password_hash = PasswordHash::new("somebody else's password").expect("hash");
        users.update_user(&changed).await.expect("update");
        let (_, replaced) = demo_user(users, &org, Some(dir.path()))
            .await
            .expect("user");
        assert_ne!(replaced, first);
        let user = users
            .user_by_email(&email)
            .await
            .expect("get")
            .expect("user");
        assert!(user.password_hash.verify(&replaced));
        assert_eq!(users.list_users(&org).await.expect("list").len(), 1);
    }
}
