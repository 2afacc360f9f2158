//! `hotline up`: apply the configuration, then serve until Ctrl-C or SIGTERM.

use std::path::PathBuf;

use clap::Args;
use secrecy::ExposeSecret;

use hotline_local::configure::ConfigSource;
use hotline_local::launch::{LaunchConfig, Launched, launch};

#[derive(Args, Debug)]
pub struct UpArgs {
    /// The configuration to apply at start (hotline.yaml); default: the shipped example,
    /// one demo organization.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Stream nodes to run, each on its own port after HOTLINE_STREAM_ADDR's; the voice
    /// webhook spreads calls over them by load, as it does over a deployed fleet.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=16))]
    nodes: u16,
}

pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    let _telemetry = super::init_logs_and_telemetry()?;
    let mut config = LaunchConfig::from_env()?;
    config.config = args
        .config
        .map_or(ConfigSource::Example, ConfigSource::File);
    config.nodes = usize::from(args.nodes);
    let launched = launch(config, |k| std::env::var(k).ok()).await?;
    print_banner(&launched);
    hotline_stream_node::shutdown_signal().await;
    launched.stack.stop().await;
    Ok(())
}

fn print_banner(l: &Launched) {
    let s = &l.stack;
    if l.simulated_ai.is_some() {
        println!(
            "hotline: no OPENAI_API_KEY — conversations use the SIMULATED realtime AI (shared/sim), not OpenAI."
        );
    } else {
        println!("hotline: conversations use OpenAI Realtime.");
    }
    if l.simulated_gemini.is_some() {
        println!(
            "hotline: no GEMINI_API_KEY — agents on gemini_live use the SIMULATED Gemini Live (shared/sim), not Google."
        );
    } else {
        println!("hotline: agents on gemini_live use Gemini Live.");
    }
    let simulated_pipeline: Vec<&str> = [
        (
            l.simulated_deepgram.is_some(),
            "DEEPGRAM_API_KEY: speech-to-text",
        ),
        (
            l.simulated_llm.is_some(),
            "OPENAI_API_KEY: the LLM and OpenAI's voice (tts.vendor openai)",
        ),
        (
            l.simulated_elevenlabs.is_some(),
            "ELEVENLABS_API_KEY: ElevenLabs' voice and speech-to-text (stt.vendor elevenlabs)",
        ),
    ]
    .into_iter()
    .filter_map(|(simulated, what)| simulated.then_some(what))
    .collect();
    if simulated_pipeline.is_empty() {
        println!(
            "hotline: agents on pipeline use Deepgram or ElevenLabs to hear, the OpenAI LLM, and ElevenLabs or OpenAI to speak."
        );
    } else {
        println!(
            "hotline: agents on pipeline use SIMULATED services (shared/sim) where a key is missing — no {}.",
            simulated_pipeline.join("; no ")
        );
    }
    if l.simulated_openai.is_some() {
        println!(
            "hotline: after each call, transcription and analysis use the SIMULATED OpenAI REST API; reports land in the data directory's outbox/."
        );
    }
    if let Some(fake) = &l.fake_twilio {
        println!(
            "hotline: no Twilio credentials — hang-ups and transfers go to a simulated Twilio API at {}",
            fake.base_url()
        );
    }
    println!("hotline: configuration applied");
    println!("{}", l.configured.plan);
    println!();
    println!("  webhooks      {}  ({})", s.http, s.routes.join(", "));
    for (i, node) in s.nodes.iter().enumerate() {
        let label = if i == 0 { "media streams" } else { "" };
        println!(
            "  {label:<13} {}  (node {}, {})",
            node.addr,
            i + 1,
            node.url
        );
    }
    println!(
        "  API           {}/api/v1  (OpenAPI: {}/api/v1/openapi.json)",
        s.public_url, s.public_url
    );
    println!("  console       {}/console  (sign in below)", s.public_url);
    println!();
    println!("Paste into the Twilio console (Phone Numbers → your number → Voice):");
    println!(
        "  A call comes in:  {}/twilio/voice   (HTTP POST)",
        s.public_url
    );
    println!(
        "  Call status changes:  {}/twilio/status   (HTTP POST)",
        s.public_url
    );
    println!(
        "  Messaging, A message comes in:  {}/twilio/sms   (HTTP POST; try `hotline sms --to N \"hi\"`)",
        s.public_url
    );
    println!(
        "  Primary handler fails:  {}/twilio/fallback   (HTTP POST)",
        s.public_url
    );
    println!(
        "  Media streams go to {}/twilio/stream; recordings report to {}/twilio/recording (set by the TwiML)",
        s.stream_public_url, s.public_url
    );
    let mut first_number = None;
    for declared in &l.configured.config.organizations {
        let org = &declared.org;
        println!();
        println!("Organization '{}' ({}):", org.id, org.name);
        println!("  account SID   {}", org.twilio.account_sid);
        if l.placeholder_twilio {
            println!(
                "  auth token    {}   (the example's placeholder; set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_PHONE_NUMBER for a real number)",
                org.twilio.auth_token.expose_secret()
            );
        }
        for (_, key) in l.api_keys.iter().filter(|(o, _)| o == &org.id) {
            println!(
                "  API key       {key}   (owner; kept in the data directory's api-keys/, the same at every start)"
            );
        }
        for (_, email, password) in l.console_users.iter().filter(|(o, _, _)| o == &org.id) {
            println!(
                "  console       {}/console  sign in as {email} / {password}   (owner; the same at every start)",
                s.public_url
            );
        }
        for number in &declared.numbers {
            println!("  number        {} → agent {}", number.number, number.agent);
            first_number.get_or_insert(number.number.clone());
        }
    }
    println!();
    if let Some(number) = first_number {
        println!("Try it:  hotline call --to {number}");
        if l.fake_twilio.is_some() {
            println!(
                "         hotline dial --to +14155550100 --var name=Ada --callee voicemail   (an outbound call; the callee is simulated)"
            );
        }
        println!();
    }
}
