//! `hotline demo`: a throwaway platform on free ports and a temporary data directory,
//! one simulated call with a barge-in and a tool call, the call's record, then stop.

use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use hotline_local::launch::{LaunchConfig, launch};
use hotline_sim::phone::{AudioSource, CallSpec, Phone, Segment, hangup_on_api_update};
use hotline_store::StoreConfig;
use secrecy::ExposeSecret;

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Keep the data directory (and print where it is) instead of deleting it.
    #[arg(long)]
    keep: bool,
}

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    super::init_logs();
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
    println!(
        "hotline demo: a simulated caller phones the demo receptionist (simulated AI, offline)."
    );
    println!(
        "  webhooks on {}, media streams on {}",
        launched.stack.http, launched.stack.stream
    );

    let sid = hotline_sim::phone::new_call_sid();
    let mut spec = CallSpec::new(
        format!("{}/twilio/voice", launched.stack.public_url),
        launched.seeded.org.twilio.account_sid.clone(),
        launched.seeded.org.twilio.auth_token.expose_secret(),
    );
    spec.call_sid = Some(sid.clone());
    spec.to = launched.seeded.number.to_string();
    spec.from = "+14155550100".into();
    // The receptionist greets for 3 s; the caller cuts in after 1.5 s (barge-in), then
    // answers the next question; the agent ends the call with its end_call tool.
    spec.audio = AudioSource::Script(vec![
        Segment::Silence { ms: 1500 },
        Segment::Speech { ms: 1200 },
        Segment::Silence { ms: 4500 },
        Segment::Speech { ms: 1500 },
    ]);
    spec.duration = Duration::from_secs(30);
    if let Some(fake) = &launched.fake_twilio {
        fake.add_call(sid.as_str());
        spec.hangup = Some(hangup_on_api_update(fake.subscribe(), &sid));
    }
    let report = Phone::call(spec, None).await?;
    println!();
    print!("{}", super::call::summary(&report));

    // The stream node writes the outcome as it finishes the call.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let call = loop {
        let call = launched.stores.calls.get_call(&sid).await?;
        match call {
            Some(c) if c.outcome.is_some() => break c,
            _ if tokio::time::Instant::now() > deadline => {
                anyhow::bail!("the call was never finalized")
            }
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    let turns = launched.stores.calls.turns(&sid).await?;
    println!();
    println!("call record (hotline calls show {sid}):");
    print!("{}", super::calls::render_call(&call, &turns));
    launched.stack.stop().await;
    if args.keep {
        let kept = dir.keep();
        println!();
        println!("data kept in {}", kept.display());
    }
    Ok(())
}
