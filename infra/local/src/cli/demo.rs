//! `hotline demo`: a throwaway platform on free ports and a temporary data directory,
//! one simulated call with a barge-in and a tool call, the call's record, then stop.

use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use hotline_core::routes;
use hotline_local::launch::{LaunchConfig, launch};
use hotline_sim::phone::{AfterCall, AudioSource, CallSpec, Phone, Segment, hangup_on_api_update};
use hotline_sim::webhook::WebhookReceiver;
use hotline_store::StoreConfig;
use hotline_store::local::{outbox_dir, read_outbox};
use secrecy::{ExposeSecret, SecretString};

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Keep the data directory (and print where it is) instead of deleting it.
    #[arg(long)]
    keep: bool,
    /// The realtime provider the demo agent talks through for this run: its simulator
    /// plays the call (`openai_realtime`, the configuration's own, `gemini_live`, or
    /// `pipeline`: Deepgram, an LLM and ElevenLabs, each simulated).
    #[arg(long, value_name = "PROVIDER", value_parser = ["openai_realtime", "gemini_live", "pipeline"])]
    provider: Option<String>,
}

/// The demo clinic's front desk inbox (reports land in the local outbox).
const DEMO_INBOX: &str = "front-desk@bright-smile.example";
/// The demo caller, who calls and then texts.
const CALLER: &str = "+14155550100";

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    // The demo tells the story of one call; the platform's logs would interleave with
    // it on a terminal, so they show only when RUST_LOG asks for them.
    super::init_logs_or("off");
    let dir = tempfile::tempdir().context("temporary data directory")?;
    let mut config = LaunchConfig::from_lookup(|k| match k {
        // The demo always runs offline, whatever the environment says.
        "HOTLINE_HTTP_ADDR" | "HOTLINE_STREAM_ADDR" => Some("127.0.0.1:0".into()),
        _ => None,
    })?;
    config.store = StoreConfig::Local {
        data_dir: dir.path().to_owned(),
    };
    config.drain = Duration::from_secs(5);
    let launched = launch(config, |_| None).await?;

    // Where the clinic gets its call reports: an inbox (the local outbox) and a webhook
    // that checks hotline's signature.
    let secret = format!("whsec_{}", uuid::Uuid::new_v4().simple());
    let receiver = WebhookReceiver::start(&secret).await?;
    let demo = launched
        .configured
        .config
        .organizations
        .first()
        .context("the example configuration declares no organization")?;
    let number = demo
        .numbers
        .first()
        .context("the example organization has no number")?
        .number
        .clone();
    let mut org = demo.org.clone();
    org.settings.report_emails = vec![DEMO_INBOX.into()];
    org.settings.report_webhook_url = Some(receiver.url().to_owned());
    org.settings.report_webhook_secret = Some(SecretString::from(secret));
    launched.stores.directory.put_org(&org).await?;
    let provider = switch_provider(&launched, &number, args.provider.as_deref()).await?;
    println!(
        "hotline demo: a simulated caller phones the demo receptionist (simulated {provider}, offline)."
    );
    if std::env::var_os("RUST_LOG").is_none() {
        println!("  (RUST_LOG=info shows the platform's logs on stderr)");
    }
    println!(
        "  webhooks on {}, media streams on {}",
        launched.stack.http, launched.stack.stream
    );

    let sid = hotline_sim::phone::new_call_sid();
    let mut spec = CallSpec::new(
        format!("{}/twilio/voice", launched.stack.public_url),
        org.twilio.account_sid.clone(),
        org.twilio.auth_token.expose_secret(),
    );
    spec.call_sid = Some(sid.clone());
    spec.to = number.to_string();
    spec.from = CALLER.into();
    // The receptionist greets for 3 s; the caller cuts in after 1.5 s (barge-in), then
    // answers the next question; the agent ends the call with its end_call tool.
    spec.audio = AudioSource::Script(vec![
        Segment::Silence { ms: 1500 },
        Segment::Speech { ms: 1200 },
        Segment::Silence { ms: 4500 },
        Segment::Speech { ms: 1500 },
    ]);
    spec.duration = Duration::from_secs(30);
    spec.after_call = AfterCall {
        recording_callback: true,
        status_callback: Some(format!("{}{}", launched.stack.public_url, routes::STATUS)),
    };
    if let Some(fake) = &launched.fake_twilio {
        fake.add_call(sid.as_str());
        spec.hangup = Some(hangup_on_api_update(fake.subscribe(), &sid));
    }
    let report = Phone::call(spec, None).await?;
    println!();
    print!("{}", super::call::summary(&report));

    // The recording callback started the post-call pipeline on the local queue.
    println!();
    println!("post-call: recording, transcript, analysis, to-dos, contact, report…");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let call = loop {
        let call = launched.stores.calls.get_call(&sid).await?;
        match call {
            Some(c) if c.post_call.completed_at.is_some() => break c,
            Some(c) if c.post_call.dead_lettered => {
                anyhow::bail!("post-call failed: {:?}", c.post_call.last_error)
            }
            _ if tokio::time::Instant::now() > deadline => {
                anyhow::bail!("post-call did not finish within a minute")
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    let turns = launched.stores.calls.turns(&sid).await?;
    println!();
    println!("call record (hotline calls show {sid}):");
    print!("{}", super::calls::render_call(&call, &turns));

    let mails = read_outbox(&outbox_dir(dir.path()))?;
    if let Some(mail) = mails.iter().rev().find(|m| m.text.contains(sid.as_str())) {
        println!();
        println!(
            "report e-mailed to {} — {}",
            mail.to.join(", "),
            mail.subject
        );
        for line in mail.text.lines() {
            println!("  | {line}");
        }
    }
    if let Some(delivery) = receiver
        .deliveries()
        .into_iter()
        .find(|d| d.event_id.as_deref() == Some(sid.as_str()))
    {
        println!();
        println!(
            "report webhook: POST {} → HTTP {}, signature {}",
            delivery.path,
            delivery.status,
            match &delivery.verified {
                Ok(()) => "verified".to_owned(),
                Err(why) => format!("REFUSED ({why})"),
            }
        );
        if let Some(json) = &delivery.json {
            println!(
                "  type {}, {} bytes of JSON",
                json["type"],
                delivery.body.len()
            );
        }
    }
    // One memory per contact: the caller texts the same number afterwards and the
    // texting agent answers with the call in mind.
    println!();
    let question = "Hi, it's me again. What time did we settle on?";
    println!("then the caller texts {number}: {question:?}");
    let replies = super::sms::text(
        &format!("{}{}", launched.stack.public_url, routes::SMS),
        &org.twilio.account_sid,
        org.twilio.auth_token.expose_secret(),
        &hotline_core::E164::parse(CALLER)?,
        &number,
        question,
        &format!("SM{}", uuid::Uuid::new_v4().simple()),
    )
    .await?;
    for reply in &replies {
        println!("  answer: {reply}");
    }
    if let Some(openai) = &launched.simulated_openai
        && let Some(asked) = openai
            .requests()
            .into_iter()
            .rev()
            .find(|r| r.path.ends_with("/chat/completions") && r.schema_name.is_none())
    {
        // The simulated model answers every text alike; what it was told shows the call.
        let system = asked
            .messages
            .iter()
            .find(|(role, _)| role == "system")
            .map(|(_, content)| content.as_str())
            .unwrap_or_default();
        if let Some((_, calls)) =
            system.split_once("Their recent phone calls with us, newest first:\n")
        {
            println!("  the texting agent was told about the call:");
            for line in calls.lines().take(8) {
                println!("  | {line}");
            }
        }
    }
    offer_console(&launched).await;
    launched.stack.stop().await;
    if args.keep {
        let kept = dir.keep();
        println!();
        println!("data kept in {}", kept.display());
    }
    Ok(())
}

/// The demo's call in the web console: its URL and a sign-in. On a terminal the
/// platform stays up until Ctrl-C so the call can be opened in a browser; piped or
/// scripted, the demo ends here as it always has.
async fn offer_console(launched: &hotline_local::launch::Launched) {
    use std::io::IsTerminal as _;
    let url = format!("{}/console", launched.stack.public_url);
    println!();
    for (_, email, password) in launched.console_users.iter().take(1) {
        println!("console: {url}  sign in as {email} / {password}");
    }
    if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
        println!(
            "  the call above is there; Ctrl-C stops the demo (`hotline up` keeps one running)"
        );
        hotline_stream_node::shutdown_signal().await;
    } else {
        println!("  (open while the demo runs on a terminal, or run `hotline up`)");
    }
}

/// Switches the agent behind `number` to `provider` for this run (the demo's store is
/// thrown away after it), and says which simulator plays the call.
async fn switch_provider(
    launched: &hotline_local::launch::Launched,
    number: &hotline_core::E164,
    provider: Option<&str>,
) -> anyhow::Result<&'static str> {
    use hotline_core::model::Provider;
    let directory = &launched.stores.directory;
    let routed = directory
        .get_number(number)
        .await?
        .context("the demo number is not in the store")?;
    let mut agent = directory
        .get_agent(&routed.org, &routed.agent)
        .await?
        .context("the demo number's agent is not in the store")?;
    if provider == Some("gemini_live") {
        agent.provider = Provider::GeminiLive;
        agent.model = "gemini-live-2.5-flash-preview".into();
        agent.voice = "Puck".into();
        directory.put_agent(&agent).await?;
    }
    if provider == Some("pipeline") {
        agent.provider = Provider::Pipeline;
        agent.model = "gpt-4.1-mini".into();
        // An ElevenLabs premade voice ("Rachel").
        agent.voice = "21m00Tcm4TlvDq8ikWAM".into();
        agent.pipeline = Some(hotline_core::model::PipelineSpec::default());
        directory.put_agent(&agent).await?;
    }
    Ok(match agent.provider {
        Provider::GeminiLive => "Gemini Live",
        Provider::OpenaiRealtime => "OpenAI Realtime",
        Provider::Pipeline => "the pipeline (Deepgram → LLM → ElevenLabs)",
    })
}
