//! `hotline apply -f FILE [--dry-run]`: make whichever store the environment selects
//! (local, or AWS with `HOTLINE_STORE=aws`) hold what the file declares.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use hotline_config::Config;
use hotline_config::apply;
use hotline_store::{StoreConfig, Stores};

#[derive(Args, Debug)]
pub struct ApplyArgs {
    /// The configuration file (hotline.yaml).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: PathBuf,
    /// Print what would be created and changed, write nothing.
    #[arg(long)]
    dry_run: bool,
}

pub async fn run(args: ApplyArgs) -> anyhow::Result<()> {
    super::init_logs();
    let env = |k: &str| std::env::var(k).ok();
    let config = Config::load(&args.file, &env)
        .map_err(|e| anyhow::anyhow!("{}:\n{e}", args.file.display()))?;
    let store = StoreConfig::from_env()?;
    let stores = Stores::open(&store).await.context("opening the store")?;
    let plan = apply::plan(stores.directory.as_ref(), &config).await?;
    println!("{} → {}", args.file.display(), describe(&store));
    if args.dry_run {
        println!("{plan} (dry run: nothing written)");
        return Ok(());
    }
    apply::apply(stores.directory.as_ref(), &plan).await?;
    // Each organization's audit log says what the file changed, by `hotline apply`.
    plan.record_audit(stores.audit.as_ref(), chrono::Utc::now())
        .await
        .context("recording the audit entries")?;
    println!("{plan}");
    Ok(())
}

fn describe(store: &StoreConfig) -> String {
    match store {
        StoreConfig::Local { data_dir } => format!("local store {}", data_dir.display()),
        StoreConfig::Aws { table, .. } => format!("DynamoDB table {table}"),
    }
}
