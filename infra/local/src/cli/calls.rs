//! `hotline calls`: read call records from whichever store the environment selects.

use anyhow::Context as _;
use clap::{Args, Subcommand};
use hotline_core::model::{AnalysisResult, Call, Turn};
use hotline_core::{CallSid, OrgId};
use hotline_store::{StoreConfig, Stores};

#[derive(Args)]
pub struct CallsArgs {
    #[command(subcommand)]
    show: Option<CallsCommand>,
    /// The organization whose calls to list.
    #[arg(long, default_value = hotline_local::configure::DEMO_ORG, global = true)]
    org: String,
    /// How many calls to list, newest first.
    #[arg(long, default_value_t = 20)]
    limit: usize,
    /// Machine-readable output.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand)]
enum CallsCommand {
    /// Print one call record: status, times, turns, outcome, post-call results.
    Show { call_sid: String },
    /// The calls in progress, through the API.
    Active {
        #[command(flatten)]
        api: super::dial::ApiArgs,
    },
    /// Hang up (or cancel) a call, through the API.
    End {
        call_sid: String,
        #[command(flatten)]
        api: super::dial::ApiArgs,
    },
}

pub async fn run(args: CallsArgs) -> anyhow::Result<()> {
    match &args.show {
        Some(CallsCommand::Active { api }) => return super::dial::active(api).await,
        Some(CallsCommand::End { call_sid, api }) => return super::dial::end(api, call_sid).await,
        _ => {}
    }
    let stores = Stores::open(&StoreConfig::from_env()?)
        .await
        .context("opening the store")?;
    match args.show {
        Some(CallsCommand::Active { .. } | CallsCommand::End { .. }) => {}
        Some(CallsCommand::Show { call_sid }) => {
            let sid = CallSid::parse(&call_sid)?;
            let call = stores
                .calls
                .get_call(&sid)
                .await?
                .with_context(|| format!("no call {sid}"))?;
            let turns = stores.calls.turns(&sid).await?;
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&record_json(&call, &turns))?
                );
            } else {
                print!("{}", render_call(&call, &turns));
            }
        }
        None => {
            let org = OrgId::parse(&args.org)?;
            let calls = stores.calls.list_calls(&org, args.limit).await?;
            if args.json {
                let calls: Vec<_> = calls.iter().map(call_json).collect();
                println!("{}", serde_json::to_string_pretty(&calls)?);
            } else if calls.is_empty() {
                println!("no calls for organization {org}");
            } else {
                for c in &calls {
                    println!("{}", one_line(c));
                }
            }
        }
    }
    Ok(())
}

/// A call as `--json` prints it: without its per-call secret (`stream_token`, which
/// admits a media stream for the call).
pub fn call_json(call: &Call) -> serde_json::Value {
    let mut value = serde_json::to_value(call).unwrap_or_default();
    if let Some(obj) = value.as_object_mut() {
        obj.remove("stream_token");
    }
    value["duration_secs"] = call.duration_secs().into();
    value
}

/// A call with its turns, as `calls show --json` prints it.
pub fn record_json(call: &Call, turns: &[Turn]) -> serde_json::Value {
    let mut value = call_json(call);
    value["turns"] = serde_json::to_value(turns).unwrap_or_default();
    value
}

pub fn one_line(c: &Call) -> String {
    format!(
        "{}  {}  {:<11}  {} → {}  {}",
        c.started_at.format("%Y-%m-%d %H:%M:%S"),
        c.sid,
        format!("{:?}", c.status).to_lowercase(),
        c.from,
        c.to,
        c.outcome
            .as_ref()
            .map(|o| format!("{:?}", o.reason))
            .unwrap_or_default()
    )
}

/// The human-readable record `hotline calls show` and `hotline demo` print.
pub fn render_call(call: &Call, turns: &[Turn]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "call      {}", call.sid);
    let _ = writeln!(out, "org       {}   agent {}", call.org, call.agent);
    let _ = writeln!(
        out,
        "from → to {} → {}   ({:?})",
        call.from, call.to, call.direction
    );
    let _ = writeln!(out, "status    {:?}", call.status);
    let _ = writeln!(out, "started   {}", call.started_at.to_rfc3339());
    if let Some(t) = call.answered_at {
        let _ = writeln!(out, "answered  {}", t.to_rfc3339());
    }
    if let Some(t) = call.ended_at {
        let _ = writeln!(
            out,
            "ended     {}   ({} s)",
            t.to_rfc3339(),
            call.duration_secs().unwrap_or(0)
        );
    }
    if let Some(o) = &call.outcome {
        let _ = writeln!(
            out,
            "outcome   {:?}{}",
            o.reason,
            o.detail
                .as_deref()
                .map(|d| format!(" — {d}"))
                .unwrap_or_default()
        );
    }
    if let Some(r) = &call.recording {
        let _ = writeln!(out, "recording {} ({})", r.sid, r.status);
    }
    for (stage, state) in &call.post_call.stages {
        let note = state.error.as_deref().or(state.detail.as_deref());
        let _ = writeln!(
            out,
            "post-call {:<14} {:?}{}",
            stage.name(),
            state.status,
            note.map(|n| format!(" — {n}")).unwrap_or_default()
        );
    }
    if let Some(e) = &call.post_call.last_error {
        let _ = writeln!(out, "last error {e}");
    }
    for (name, result) in &call.post_call.analysis {
        match result {
            AnalysisResult::Ok { value, .. } => {
                let _ = writeln!(out, "analysis  {name}: {value}");
            }
            AnalysisResult::Failed { error, .. } => {
                let _ = writeln!(out, "analysis  {name}: failed — {error}");
            }
        }
    }
    for todo in call.post_call.todos.iter().flatten() {
        let _ = writeln!(out, "to-do     {todo}");
    }
    let _ = writeln!(out, "turns     {}", turns.len());
    // Stored in the order transcripts arrived; read in the order they were spoken.
    let mut spoken: Vec<&Turn> = turns.iter().collect();
    spoken.sort_by_key(|t| (t.offset_ms, t.seq));
    for t in spoken {
        let _ = writeln!(
            out,
            "  {:>6.1}s  {:<6}  {}",
            t.offset_ms as f64 / 1000.0,
            format!("{:?}", t.speaker).to_lowercase(),
            t.text
        );
    }
    out
}
