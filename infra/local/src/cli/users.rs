//! `hotline users add|list`: the people of an organization, on whichever store the
//! environment selects (local, or AWS with `HOTLINE_STORE=aws`), like `hotline keys`.

use std::io::{BufRead as _, IsTerminal as _};

use anyhow::Context as _;
use chrono::Utc;
use clap::{Args, Subcommand};
use hotline_core::OrgId;
use hotline_core::audit::{Actor, AuditEntry};
use hotline_core::model::Role;
use hotline_core::people::{PasswordHash, User, normalize_email};
use hotline_store::{StoreConfig, Stores};

#[derive(Args, Debug)]
pub struct UsersArgs {
    #[command(subcommand)]
    command: UsersCommand,
}

#[derive(Subcommand, Debug)]
enum UsersCommand {
    /// Add a person who signs in with this e-mail and a password (asked for, unless
    /// --password-stdin). An e-mail belongs to one organization on the platform.
    Add {
        #[arg(long)]
        org: String,
        #[arg(long)]
        email: String,
        /// owner, admin (both may write) or viewer (reads only).
        #[arg(long)]
        role: String,
        /// Read the password from the first line of standard input (for scripts).
        #[arg(long)]
        password_stdin: bool,
    },
    /// List an organization's people (never their passwords).
    List {
        #[arg(long)]
        org: String,
    },
}

pub async fn run(args: UsersArgs) -> anyhow::Result<()> {
    super::init_logs_or("warn");
    let stores = Stores::open(&StoreConfig::from_env()?)
        .await
        .context("opening the store")?;
    match args.command {
        UsersCommand::Add {
            org,
            email,
            role,
            password_stdin,
        } => {
            let org = OrgId::parse(&org).map_err(|e| anyhow::anyhow!("--org: {e}"))?;
            let role = Role::parse(&role)
                .ok_or_else(|| anyhow::anyhow!("--role must be owner, admin or viewer"))?;
            let password = if password_stdin {
                let mut line = String::new();
                std::io::stdin()
                    .lock()
                    .read_line(&mut line)
                    .context("reading the password from standard input")?;
                line.trim_end_matches(['\r', '\n']).to_owned()
            } else {
                prompt()?
            };
            let user = add(&stores, &org, &email, role, &password).await?;
            println!(
                "added {} to {org} as {} (user {})",
                user.email,
                role.as_str(),
                user.id
            );
        }
        UsersCommand::List { org } => {
            let org = OrgId::parse(&org).map_err(|e| anyhow::anyhow!("--org: {e}"))?;
            for user in stores.users.list_users(&org).await? {
                println!(
                    "{}  {:<6}  {}  added {}",
                    user.id,
                    user.role.as_str(),
                    user.email,
                    user.created_at.to_rfc3339()
                );
            }
        }
    }
    Ok(())
}

/// Asks twice on the terminal, without echo.
fn prompt() -> anyhow::Result<String> {
    anyhow::ensure!(
        std::io::stdin().is_terminal(),
        "no terminal to ask for the password on: pass it with --password-stdin"
    );
    let first = rpassword::prompt_password("Password: ").context("reading the password")?;
    let again = rpassword::prompt_password("Again: ").context("reading the password")?;
    anyhow::ensure!(first == again, "the two passwords differ");
    Ok(first)
}

/// Stores a new person of an existing organization, and says so in its audit log
/// (`user.create` by `hotline cli`, the password hash redacted) as the API would.
pub async fn add(
    stores: &Stores,
    org: &OrgId,
    email: &str,
    role: Role,
    password: &str,
) -> anyhow::Result<User> {
    anyhow::ensure!(
        stores.directory.get_org(org).await?.is_some(),
        "no organization {org} in this store (hotline apply creates it)"
    );
    let email =
        normalize_email(email).ok_or_else(|| anyhow::anyhow!("--email: not an e-mail address"))?;
    let hash = PasswordHash::new(password)?;
    let user = User::new(org.clone(), email, role, hash, Utc::now());
    let user = stores.users.create_user(&user).await.map_err(|e| match e {
        hotline_core::ports::StoreError::Conflict(_) => {
            anyhow::anyhow!("{} already has an account", user.email)
        }
        other => other.into(),
    })?;
    let entry = AuditEntry::new(
        org.clone(),
        Utc::now(),
        &Actor::Cli,
        "user.create",
        &format!("user {}", user.id),
        None,
        serde_json::to_value(&user).ok(),
    );
    stores
        .audit
        .record_audit(&entry)
        .await
        .with_context(|| format!("added {}, but its audit entry was not recorded", user.email))?;
    Ok(user)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_person_added_signs_in_with_their_password_and_only_once() {
        let dir = tempfile::tempdir().expect("dir");
        let stores = Stores::local(dir.path()).expect("store");
        let acme = OrgId::parse("acme").expect("org");
        let err = add(
            &stores,
            &acme,
            "ana@acme.example",
            Role::Admin,
            "a long password!",
        )
        .await
        .expect_err("no org yet");
        assert!(err.to_string().contains("hotline apply"), "{err}");
        hotline_testkit::webhook::seed_orgs(&stores).await;

        let user = add(
            &stores,
            &acme,
            " Ana@ACME.example",
            Role::Admin,
            "a long password!",
        )
        .await
        .expect("added");
        let stored = stores
            .users
            .user_by_email("ana@acme.example")
            .await
            .expect("get")
            .expect("user");
        assert_eq!((&stored.id, stored.role), (&user.id, Role::Admin));
        assert!(stored.password_hash.verify("a long password!"));
        let log = stores
            .audit
            .list_audit(&acme, None, 10)
            .await
            .expect("audit");
        assert_eq!(log.len(), 1, "{log:?}");
        assert_eq!(
            (
                log[0].actor.as_str(),
                log[0].action.as_str(),
                log[0].target.as_str()
            ),
            (
                "hotline cli",
                "user.create",
                format!("user {}", user.id).as_str()
            )
        );
        let after = log[0].after.clone().expect("after");
        assert_eq!(after["email"], "ana@acme.example");
        assert_eq!(after["password_hash"], "[redacted]");
        let again = add(
            &stores,
            &acme,
            "ana@acme.example",
            Role::Viewer,
            "a long password!",
        )
        .await
        .expect_err("taken");
        assert!(
            again.to_string().contains("already has an account"),
            "{again}"
        );
        let weak = add(&stores, &acme, "bo@acme.example", Role::Viewer, "short")
            .await
            .expect_err("weak");
        assert!(weak.to_string().contains("12 characters"), "{weak}");
        // Refused additions leave no entry.
        let log = stores
            .audit
            .list_audit(&acme, None, 10)
            .await
            .expect("audit");
        assert_eq!(log.len(), 1, "{log:?}");
    }
}
