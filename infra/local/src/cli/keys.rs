//! `hotline keys create|list|revoke`: API keys of an organization, on whichever store
//! the environment selects (local, or AWS with `HOTLINE_STORE=aws`).

use anyhow::Context as _;
use chrono::Utc;
use clap::{Args, Subcommand};
use hotline_core::OrgId;
use hotline_core::audit::{Actor, AuditEntry};
use hotline_core::model::{ApiKey, Role};
use hotline_store::{StoreConfig, Stores};

#[derive(Args, Debug)]
pub struct KeysArgs {
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(Subcommand, Debug)]
enum KeysCommand {
    /// Create a key and print it. It is shown this once: only its hash is stored.
    Create {
        #[arg(long)]
        org: String,
        /// owner, admin (both may write) or viewer (reads only).
        #[arg(long)]
        role: String,
        /// What the key is for, shown in listings.
        #[arg(long, default_value = "api")]
        name: String,
    },
    /// List an organization's keys (never the keys themselves).
    List {
        #[arg(long)]
        org: String,
    },
    /// Revoke a key by its id (from `list`); it stops working at once.
    Revoke {
        #[arg(long)]
        org: String,
        id: String,
    },
}

pub async fn run(args: KeysArgs) -> anyhow::Result<()> {
    super::init_logs_or("warn");
    let stores = Stores::open(&StoreConfig::from_env()?)
        .await
        .context("opening the store")?;
    match args.command {
        KeysCommand::Create { org, role, name } => {
            let org = OrgId::parse(&org).map_err(|e| anyhow::anyhow!("--org: {e}"))?;
            let role = Role::parse(&role)
                .ok_or_else(|| anyhow::anyhow!("--role must be owner, admin or viewer"))?;
            let secret = create(&stores, &org, role, &name).await?;
            eprintln!("API key for {org} ({}), shown once:", role.as_str());
            println!("{secret}");
        }
        KeysCommand::List { org } => {
            let org = OrgId::parse(&org).map_err(|e| anyhow::anyhow!("--org: {e}"))?;
            for key in stores.api_keys.list_api_keys(&org).await? {
                let state = key.revoked_at.map_or_else(
                    || "active".to_owned(),
                    |at| format!("revoked {}", at.to_rfc3339()),
                );
                println!(
                    "{}  {:<6}  {}  created {}  {state}",
                    key.id,
                    key.role.as_str(),
                    key.name,
                    key.created_at.to_rfc3339()
                );
            }
        }
        KeysCommand::Revoke { org, id } => {
            let org = OrgId::parse(&org).map_err(|e| anyhow::anyhow!("--org: {e}"))?;
            let key = revoke(&stores, &org, &id).await?;
            println!("revoked {} ({})", key.id, key.name);
        }
    }
    Ok(())
}

/// Stores a new key for an existing organization and says so in its audit log
/// (`key.create` by `hotline cli`, as the API would); returns the key to show once.
pub async fn create(
    stores: &Stores,
    org: &OrgId,
    role: Role,
    name: &str,
) -> anyhow::Result<String> {
    anyhow::ensure!(
        stores.directory.get_org(org).await?.is_some(),
        "no organization {org} in this store (hotline apply creates it)"
    );
    let (record, secret) = ApiKey::issue(org.clone(), name.to_owned(), role, Utc::now());
    let stored = stores.api_keys.create_api_key(&record).await?;
    audit(stores, "key.create", &stored, None, Some(&stored)).await?;
    Ok(secret)
}

/// Revokes the organization's key `id` and says so in its audit log (`key.revoke`).
pub async fn revoke(stores: &Stores, org: &OrgId, id: &str) -> anyhow::Result<ApiKey> {
    let before = stores
        .api_keys
        .list_api_keys(org)
        .await?
        .into_iter()
        .find(|k| k.id == id);
    let key = stores.api_keys.revoke_api_key(org, id, Utc::now()).await?;
    audit(stores, "key.revoke", &key, before.as_ref(), Some(&key)).await?;
    Ok(key)
}

/// One entry by `hotline cli` (the key's hash redacted, as every secret-named field).
async fn audit(
    stores: &Stores,
    action: &str,
    key: &ApiKey,
    before: Option<&ApiKey>,
    after: Option<&ApiKey>,
) -> anyhow::Result<()> {
    let value = |k: Option<&ApiKey>| k.and_then(|k| serde_json::to_value(k).ok());
    let entry = AuditEntry::new(
        key.org.clone(),
        Utc::now(),
        &Actor::Cli,
        action,
        &format!("key {}", key.id),
        value(before),
        value(after),
    );
    stores
        .audit
        .record_audit(&entry)
        .await
        .with_context(|| format!("{action} {}: its audit entry was not recorded", key.id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn creating_and_revoking_a_key_leave_audit_entries_without_the_key() {
        let dir = tempfile::tempdir().expect("dir");
        let stores = Stores::local(dir.path()).expect("store");
        hotline_testkit::webhook::seed_orgs(&stores).await;
        let acme = OrgId::parse("acme").expect("org");
        let secret = create(&stores, &acme, Role::Viewer, "reports")
            .await
            .expect("key");
        let id = stores.api_keys.list_api_keys(&acme).await.expect("keys")[0]
            .id
            .clone();
        revoke(&stores, &acme, &id).await.expect("revoked");
        assert!(revoke(&stores, &acme, "nope").await.is_err());
        let log = stores
            .audit
            .list_audit(&acme, None, 10)
            .await
            .expect("audit");
        let seen: Vec<(&str, &str)> = log
            .iter()
            .map(|e| (e.actor.as_str(), e.action.as_str()))
            .collect();
        assert_eq!(
            seen,
            [("hotline cli", "key.revoke"), ("hotline cli", "key.create")]
        );
        assert!(log.iter().all(|e| e.target == format!("key {id}")));
        assert_eq!(
            log[0].before.as_ref().expect("before")["revoked_at"],
            serde_json::Value::Null
        );
        assert!(log[0].after.as_ref().expect("after")["revoked_at"].is_string());
        let text = serde_json::to_string(&log).expect("json");
        assert!(!text.contains(&secret) && !text.contains(&ApiKey::hash(&secret)));
        let other = OrgId::parse("other").expect("org");
        assert!(
            stores
                .audit
                .list_audit(&other, None, 10)
                .await
                .expect("audit")
                .is_empty()
        );
    }
}
