//! `hotline keys create|list|revoke`: API keys of an organization, on whichever store
//! the environment selects (local, or AWS with `HOTLINE_STORE=aws`).

use anyhow::Context as _;
use chrono::Utc;
use clap::{Args, Subcommand};
use hotline_core::OrgId;
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
            let key = stores
                .api_keys
                .revoke_api_key(&org, &id, Utc::now())
                .await?;
            println!("revoked {} ({})", key.id, key.name);
        }
    }
    Ok(())
}

/// Stores a new key for an existing organization; returns the key to show once.
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
    stores.api_keys.create_api_key(&record).await?;
    Ok(secret)
}
