//! `hotline dial`, `hotline calls active|end`: outbound calls through the API of a
//! running stack (or any hotline), as a client would place them.

use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Args;
use hotline_core::OrgId;
use hotline_store::{StoreConfig, Stores};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

/// Where the API is and who is asking.
#[derive(Args, Debug, Clone)]
pub struct ApiArgs {
    /// The API's base URL; default `http://{HOTLINE_HTTP_ADDR}` (the local stack).
    #[arg(long, env = "HOTLINE_API_URL")]
    pub api_url: Option<String>,
    /// An API key (admin or owner); default the owner key `hotline up` keeps in the
    /// local data directory for `--org`.
    #[arg(long, env = "HOTLINE_API_KEY", hide_env_values = true)]
    pub key: Option<String>,
    /// The organization whose kept key to use.
    #[arg(long, default_value = hotline_local::configure::DEMO_ORG)]
    pub org: String,
}

impl ApiArgs {
    fn base(&self) -> String {
        self.api_url.clone().unwrap_or_else(|| {
            format!(
                "http://{}",
                std::env::var("HOTLINE_HTTP_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into())
            )
        })
    }

    fn key(&self) -> anyhow::Result<String> {
        if let Some(key) = &self.key {
            return Ok(key.clone());
        }
        let dir = data_dir();
        let path = dir.join("api-keys").join(&self.org);
        std::fs::read_to_string(&path)
            .map(|k| k.trim().to_owned())
            .with_context(|| {
                format!(
                    "no API key: pass --key (or HOTLINE_API_KEY), or run `hotline up` first (it keeps one in {})",
                    path.display()
                )
            })
    }
}

fn data_dir() -> std::path::PathBuf {
    std::env::var("HOTLINE_DATA_DIR")
        .ok()
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| ".hotline".into())
        .into()
}

/// A small client of hotline's API.
pub struct Api {
    base: String,
    key: String,
    http: reqwest::Client,
}

impl Api {
    pub fn new(args: &ApiArgs) -> anyhow::Result<Self> {
        Ok(Self {
            base: args.base().trim_end_matches('/').to_owned(),
            key: args.key()?,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()?,
        })
    }

    /// The answer's status and JSON body; a problem document becomes the error.
    async fn send(&self, req: reqwest::RequestBuilder) -> anyhow::Result<(u16, Value)> {
        let resp = req
            .bearer_auth(&self.key)
            .send()
            .await
            .with_context(|| format!("cannot reach the API at {}", self.base))?;
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if status >= 400 {
            let detail = body["detail"].as_str().unwrap_or("no detail");
            bail!("the API answered {status}: {detail}");
        }
        Ok((status, body))
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        Ok(self
            .send(self.http.get(format!("{}{path}", self.base)))
            .await?
            .1)
    }

    /// `POST` a CSV file (`text/csv`).
    pub async fn post_csv(&self, path: &str, csv: Vec<u8>) -> anyhow::Result<Value> {
        let req = self
            .http
            .post(format!("{}{path}", self.base))
            .header(reqwest::header::CONTENT_TYPE, "text/csv")
            .body(csv);
        Ok(self.send(req).await?.1)
    }

    pub async fn post(
        &self,
        path: &str,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<Value> {
        let mut req = self.http.post(format!("{}{path}", self.base)).json(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Ok(self.send(req).await?.1)
    }
}

#[derive(Args, Debug)]
pub struct DialArgs {
    /// The number to call, E.164.
    #[arg(long)]
    to: String,
    /// The agent that talks; default the organization's first agent.
    #[arg(long)]
    agent: Option<String>,
    /// Call from this number of the organization's; default the API's choice.
    #[arg(long)]
    from: Option<String>,
    /// A template variable, `name=value` (repeatable).
    #[arg(long = "var", value_name = "NAME=VALUE")]
    vars: Vec<String>,
    /// Skip answering-machine detection (the agent talks as soon as the call connects).
    #[arg(long)]
    no_machine_detection: bool,
    /// Local stack only: who answers on the simulated phone.
    #[arg(long, value_parser = ["human", "voicemail", "busy", "no-answer", "fax"])]
    callee: Option<String>,
    /// Makes a retried `hotline dial` place the call once.
    #[arg(long)]
    idempotency_key: Option<String>,
    /// Return once placed instead of following the call to its end.
    #[arg(long)]
    no_wait: bool,
    #[command(flatten)]
    api: ApiArgs,
}

/// `name=value` pairs as the API's `variables`.
pub fn parse_vars(vars: &[String]) -> anyhow::Result<serde_json::Map<String, Value>> {
    vars.iter()
        .map(|v| {
            let (k, val) = v
                .split_once('=')
                .with_context(|| format!("--var {v:?}: write it as name=value"))?;
            Ok((k.trim().to_owned(), Value::String(val.to_owned())))
        })
        .collect()
}

pub async fn run(args: DialArgs) -> anyhow::Result<()> {
    let api = Api::new(&args.api)?;
    if let Some(callee) = &args.callee {
        script_callee(&args.api.org, &args.to, callee).await?;
    }
    let agent = match &args.agent {
        Some(a) => a.clone(),
        None => api.get("/api/v1/agents").await?["agents"][0]["id"]
            .as_str()
            .context("the organization has no agent")?
            .to_owned(),
    };
    let mut body = json!({
        "to": args.to, "agent": agent, "variables": parse_vars(&args.vars)?,
        "machine_detection": !args.no_machine_detection,
    });
    if let Some(from) = &args.from {
        body["from"] = from.clone().into();
    }
    let headers: Vec<(&str, &str)> = args
        .idempotency_key
        .as_deref()
        .map(|k| ("Idempotency-Key", k))
        .into_iter()
        .collect();
    let placed = api.post("/api/v1/calls", &body, &headers).await?;
    let sid = placed["sid"].as_str().unwrap_or_default().to_owned();
    println!(
        "placed {sid}: {} → {} (agent {agent})",
        placed["from"].as_str().unwrap_or(""),
        placed["to"].as_str().unwrap_or("")
    );
    if args.no_wait {
        return Ok(());
    }
    follow(&api, &sid).await
}

/// Prints the call's status as it changes until it is over, then its outcome.
async fn follow(api: &Api, sid: &str) -> anyhow::Result<()> {
    let mut last = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    loop {
        let call = api.get(&format!("/api/v1/calls/{sid}")).await?;
        let status = call["status"].as_str().unwrap_or("").to_owned();
        let amd = call["outbound"]["amd_outcome"].as_str().unwrap_or("");
        let line = format!(
            "{status}{}",
            if amd.is_empty() {
                String::new()
            } else {
                format!(" ({amd})")
            }
        );
        if line != last {
            println!("  {line}");
            last = line;
        }
        if call["ended_at"].is_string() {
            if let Some(outcome) = call["outcome"].as_object() {
                println!("  ended: {}", Value::Object(outcome.clone()));
            }
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            bail!("{sid} is still {status} after 5 minutes; `hotline calls end {sid}` ends it");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Tells the local stack's simulated Twilio who answers `to` (the organization's account
/// credentials, from the local store).
async fn script_callee(org: &str, to: &str, callee: &str) -> anyhow::Result<()> {
    let file = data_dir().join(hotline_local::SIM_URL_FILE);
    let sim = std::fs::read_to_string(&file).with_context(|| {
        format!(
            "--callee needs the local stack's simulated Twilio, and {} names none: is `hotline up` running without Twilio credentials?",
            file.display()
        )
    })?;
    let stores = Stores::open(&StoreConfig::from_env()?)
        .await
        .context("opening the store")?;
    let org = stores
        .directory
        .get_org(&OrgId::parse(org)?)
        .await?
        .with_context(|| format!("no organization {org}"))?;
    let resp = reqwest::Client::new()
        .post(format!(
            "{}{}",
            sim.trim(),
            hotline_sim::twilio_rest::SIM_CALLEES
        ))
        .basic_auth(
            org.twilio.account_sid.as_str(),
            Some(org.twilio.auth_token.expose_secret()),
        )
        .form(&[("To", to), ("Callee", callee)])
        .send()
        .await
        .with_context(|| format!("the simulated Twilio at {} does not answer", sim.trim()))?;
    if !resp.status().is_success() {
        bail!("the simulated Twilio refused the callee: {}", resp.status());
    }
    Ok(())
}

/// `hotline calls active`: the organization's calls in progress.
pub async fn active(api: &ApiArgs) -> anyhow::Result<()> {
    let api = Api::new(api)?;
    let page = api
        .get("/api/v1/calls?status=in-progress&limit=100")
        .await?;
    let calls = page["calls"].as_array().cloned().unwrap_or_default();
    if calls.is_empty() {
        println!("no calls in progress");
    }
    for c in calls {
        println!(
            "{}  {:<12} {} → {}  agent {}  since {}",
            c["sid"].as_str().unwrap_or(""),
            c["direction"].as_str().unwrap_or(""),
            c["from"].as_str().unwrap_or(""),
            c["to"].as_str().unwrap_or(""),
            c["agent"].as_str().unwrap_or(""),
            c["answered_at"]
                .as_str()
                .or(c["started_at"].as_str())
                .unwrap_or(""),
        );
    }
    Ok(())
}

/// `hotline calls end SID`: hangs the call up through the API.
pub async fn end(api: &ApiArgs, sid: &str) -> anyhow::Result<()> {
    let api = Api::new(api)?;
    api.post(&format!("/api/v1/calls/{sid}/end"), &json!({}), &[])
        .await?;
    println!("ending {sid}");
    Ok(())
}
