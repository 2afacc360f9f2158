//! `hotline up`: serve until Ctrl-C or SIGTERM.

use secrecy::ExposeSecret;

use hotline_local::launch::{LaunchConfig, Launched, launch};

pub async fn run() -> anyhow::Result<()> {
    super::init_logs();
    let config = LaunchConfig::from_env()?;
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
    println!();
    println!("  webhooks      {}  ({})", s.http, s.routes.join(", "));
    println!("  media streams {}", s.stream);
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
        "  Media streams go to {}/twilio/stream; recordings report to {}/twilio/recording (set by the TwiML)",
        s.stream_public_url, s.public_url
    );
    println!();
    println!("Demo organization '{}':", l.seeded.org.id);
    println!("  number        {}", l.seeded.number);
    println!("  account SID   {}", l.seeded.org.twilio.account_sid);
    if l.seeded.generated {
        println!(
            "  auth token    {}   (generated; set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_PHONE_NUMBER for a real number)",
            l.seeded.org.twilio.auth_token.expose_secret()
        );
    }
    println!();
    println!("Try it:  hotline call --to {}", l.seeded.number);
    println!();
}
