//! `hotline campaign`: outbound campaigns through the API of a running stack (or any
//! hotline), as a client would run them: create, import a CSV, start, watch.

use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::dial::{Api, ApiArgs};

#[derive(Args, Debug)]
pub struct CampaignArgs {
    #[command(subcommand)]
    command: CampaignCommand,
    #[command(flatten)]
    api: ApiArgs,
}

#[derive(Subcommand, Debug)]
enum CampaignCommand {
    /// Create a campaign (a draft; `start` starts it). Prints its id.
    Create(CreateArgs),
    /// Add the leads of a CSV file; bad rows are printed with their line.
    Import(ImportArgs),
    /// Start a draft campaign.
    Start { id: String },
    /// Pause a running campaign.
    Pause { id: String },
    /// Resume a paused campaign.
    Resume { id: String },
    /// Cancel a campaign for good.
    Cancel { id: String },
    /// Leads by state and outcome, and the leads with their attempts.
    Status(StatusArgs),
    /// The organization's campaigns.
    List,
}

#[derive(Args, Debug)]
struct CreateArgs {
    #[arg(long)]
    name: String,
    /// The agent that talks.
    #[arg(long)]
    agent: String,
    /// A caller ID, one of the organization's numbers (repeatable: round robin).
    #[arg(long = "from", required = true)]
    from: Vec<String>,
    /// Attempts per lead, the first included.
    #[arg(long, default_value_t = 3)]
    max_attempts: u32,
    /// Seconds from an attempt's end to the next one.
    #[arg(long, default_value_t = 3600)]
    cooldown: u64,
    /// Outcomes retried, comma-separated: busy, no-answer, failed, canceled, voicemail.
    #[arg(long, default_value = "busy,no-answer,failed", value_delimiter = ',')]
    retry_on: Vec<String>,
    /// The calling window in each lead's time zone, `HH:MM-HH:MM`.
    #[arg(long, default_value = "09:00-17:00")]
    window: String,
    /// Days the window is open, comma-separated (`mon,tue,…`); every day when absent.
    #[arg(long, value_delimiter = ',')]
    days: Vec<String>,
    /// Most calls live at once.
    #[arg(long, default_value_t = 1)]
    concurrency: u32,
    /// Most calls placed per second.
    #[arg(long, default_value_t = 1)]
    cps: u32,
    /// Each lead's `caller_id` column picks its number (else round robin).
    #[arg(long)]
    per_lead_caller_id: bool,
    /// No answering-machine detection (no voicemail left).
    #[arg(long)]
    no_machine_detection: bool,
}

#[derive(Args, Debug)]
struct ImportArgs {
    id: String,
    /// The CSV file: a header row, then one lead per row.
    file: std::path::PathBuf,
    #[arg(long, default_value = "phone")]
    phone_column: String,
    #[arg(long)]
    name_column: Option<String>,
    /// An IANA zone per lead; inferred from the number when absent.
    #[arg(long)]
    timezone_column: Option<String>,
    #[arg(long)]
    caller_id_column: Option<String>,
}

#[derive(Args, Debug)]
struct StatusArgs {
    id: String,
    /// Refresh every two seconds until the campaign is completed or cancelled.
    #[arg(long)]
    watch: bool,
    /// Print the counts only, not every lead.
    #[arg(long)]
    counts_only: bool,
    /// Machine-readable output (the campaign and its leads).
    #[arg(long)]
    json: bool,
}

pub async fn run(args: CampaignArgs) -> anyhow::Result<()> {
    let api = Api::new(&args.api)?;
    match args.command {
        CampaignCommand::Create(c) => create(&api, c).await,
        CampaignCommand::Import(i) => import(&api, i).await,
        CampaignCommand::Start { id } => act(&api, &id, "start").await,
        CampaignCommand::Pause { id } => act(&api, &id, "pause").await,
        CampaignCommand::Resume { id } => act(&api, &id, "resume").await,
        CampaignCommand::Cancel { id } => act(&api, &id, "cancel").await,
        CampaignCommand::Status(s) => status(&api, s).await,
        CampaignCommand::List => {
            let list = api.get("/api/v1/campaigns").await?;
            for c in list["campaigns"].as_array().into_iter().flatten() {
                println!(
                    "{}  {:<10}  {}",
                    text(&c["id"]),
                    text(&c["state"]),
                    text(&c["name"])
                );
            }
            Ok(())
        }
    }
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

async fn create(api: &Api, c: CreateArgs) -> anyhow::Result<()> {
    let (start, end) = c.window.split_once('-').context("--window: HH:MM-HH:MM")?;
    let body = json!({
        "name": c.name,
        "agent": c.agent,
        "caller_ids": c.from,
        "caller_id_mode": if c.per_lead_caller_id { "per_lead" } else { "round_robin" },
        "retry": {"max_attempts": c.max_attempts, "cooldown_secs": c.cooldown, "retry_on": c.retry_on},
        "window": {"start": start, "end": end, "days": c.days},
        "max_concurrent": c.concurrency,
        "calls_per_second": c.cps,
        "machine_detection": !c.no_machine_detection,
    });
    let created = api.post("/api/v1/campaigns", &body, &[]).await?;
    println!("{}", text(&created["campaign"]["id"]));
    Ok(())
}

async fn import(api: &Api, i: ImportArgs) -> anyhow::Result<()> {
    let csv = std::fs::read(&i.file).with_context(|| format!("reading {}", i.file.display()))?;
    let mut query: Vec<(&str, &str)> = vec![("phone", i.phone_column.as_str())];
    for (k, v) in [
        ("name", &i.name_column),
        ("timezone", &i.timezone_column),
        ("caller_id", &i.caller_id_column),
    ] {
        if let Some(v) = v {
            query.push((k, v.as_str()));
        }
    }
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(query)
        .finish();
    let id = &i.id;
    let imported = api
        .post_csv(&format!("/api/v1/campaigns/{id}/leads?{query}"), csv)
        .await?;
    let errors = imported["errors"].as_array().cloned().unwrap_or_default();
    println!(
        "imported {} leads; {} rows refused",
        imported["imported"],
        errors.len()
    );
    for e in &errors {
        println!("  line {}: {}", e["line"], text(&e["error"]));
    }
    Ok(())
}

async fn act(api: &Api, id: &str, action: &str) -> anyhow::Result<()> {
    let c = api
        .post(&format!("/api/v1/campaigns/{id}/{action}"), &json!({}), &[])
        .await?;
    println!("{}  {}", text(&c["id"]), text(&c["state"]));
    Ok(())
}

/// Every lead of the campaign, page after page.
async fn all_leads(api: &Api, id: &str) -> anyhow::Result<Vec<Value>> {
    let mut leads = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = api
            .get(&format!("/api/v1/campaigns/{id}/leads?limit=100{cursor}"))
            .await?;
        leads.extend(page["leads"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return Ok(leads),
        }
    }
}

async fn status(api: &Api, s: StatusArgs) -> anyhow::Result<()> {
    loop {
        let c = api.get(&format!("/api/v1/campaigns/{}", s.id)).await?;
        let leads = if s.counts_only {
            Vec::new()
        } else {
            all_leads(api, &s.id).await?
        };
        if s.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({"campaign": c, "leads": leads}))?
            );
        } else {
            print!("{}", render(&c, &leads));
        }
        let over = matches!(text(&c["state"]), "completed" | "cancelled");
        if !s.watch || over {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        println!();
    }
}

/// The status as `hotline campaign status` prints it.
fn render(c: &Value, leads: &[Value]) -> String {
    let mut out = format!(
        "{}  {}  {}\n",
        text(&c["id"]),
        text(&c["state"]),
        text(&c["name"])
    );
    let counts = &c["counts"];
    let line = |v: &Value| {
        v.as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, n)| format!("{k} {n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    out += &format!(
        "leads {}: {}\noutcomes: {}\nattempts: {}\n",
        counts["total"],
        line(&counts["by_state"]),
        line(&counts["by_outcome"]),
        counts["attempts"]
    );
    for l in leads {
        let attempts: Vec<String> = l["attempts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| a["outcome"].as_str().unwrap_or("…").to_owned())
            .collect();
        let when = l["retry_at"]
            .as_str()
            .map(|t| format!(" at {t}"))
            .unwrap_or_default();
        out += &format!(
            "  {:<16} {:<10} {:<15} {}{}\n",
            text(&l["phone"]),
            text(&l["state"]),
            text(&l["outcome"]),
            attempts.join(" → "),
            when
        );
    }
    out
}
