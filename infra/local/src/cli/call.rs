//! `hotline call`: Twilio's part of one call, simulated, against a running stack or any
//! URL: signs and posts the voice webhook, follows the TwiML, streams audio at real-time
//! pacing, plays back what it hears, and writes that to a WAV file.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Args;
use hotline_core::routes;
use hotline_core::{AccountSid, E164};
use hotline_sim::phone::{AfterCall, AudioSource, CallReport, CallSpec, Phone, Progress, Segment};
use hotline_store::{StoreConfig, Stores};
use secrecy::ExposeSecret;
use tokio::sync::mpsc;

#[derive(Args, Debug)]
pub struct CallArgs {
    /// The voice webhook to call; default `$HOTLINE_PUBLIC_URL/twilio/voice`, else the
    /// local stack's.
    #[arg(long)]
    url: Option<String>,
    /// The caller.
    #[arg(long, default_value = "+14155550100")]
    from: String,
    /// The number called; default the demo number in the store.
    #[arg(long)]
    to: Option<String>,
    /// The account whose token signs the requests; default the one owning `--to`.
    #[arg(long, env = "TWILIO_ACCOUNT_SID")]
    account_sid: Option<String>,
    #[arg(long, env = "TWILIO_AUTH_TOKEN", hide_env_values = true)]
    auth_token: Option<String>,
    /// What the caller says: a WAV file (µ-law or 16-bit PCM).
    #[arg(long, conflicts_with = "tone")]
    audio: Option<PathBuf>,
    /// What the caller says: a tone of this frequency (Hz) for the whole call.
    #[arg(long)]
    tone: Option<f32>,
    /// Hang up after this many seconds.
    #[arg(long, default_value_t = 20.0)]
    duration: f64,
    /// Keys to press, e.g. `5@3,#@4.5` (digit@seconds).
    #[arg(long, value_delimiter = ',')]
    dtmf: Vec<String>,
    /// Where to write what the caller heard (WAV); default `hotline-call-<CallSid>.wav`.
    #[arg(long)]
    record: Option<PathBuf>,
    /// Connect the stream here instead of the TwiML's URL (still signed over the TwiML's).
    #[arg(long)]
    stream_url: Option<String>,
}

pub async fn run(args: CallArgs) -> anyhow::Result<()> {
    let spec = spec(args).await?;
    let record = spec.record_to.clone();
    println!(
        "calling {} from {} via {}",
        spec.to, spec.from, spec.voice_url
    );
    let (tx, mut rx) = mpsc::channel::<Progress>(16);
    let progress = tokio::spawn(async move {
        while let Some(p) = rx.recv().await {
            eprint!(
                "\r  {:>5.1}s  sent {:>5}  received {:>5}  marks {:>4}  clears {:>2}  {}   ",
                p.elapsed.as_secs_f64(),
                p.frames_sent,
                p.frames_received,
                p.marks,
                p.clears,
                if p.playing { "▶ agent speaking" } else { "" }
            );
            let _ = std::io::stderr().flush();
        }
        eprintln!();
    });
    let report = Phone::call(spec, Some(tx)).await?;
    let _ = progress.await;
    print!("{}", summary(&report));
    if let Some(path) = record.filter(|_| report.stream_sid.is_some()) {
        println!("heard audio  {}", path.display());
    }
    Ok(())
}

/// The call's outcome in a few lines.
pub fn summary(r: &CallReport) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "call         {}", r.call_sid);
    let _ = writeln!(out, "webhook      HTTP {}", r.http_status);
    for said in &r.said {
        let _ = writeln!(out, "twilio said  {said:?}");
    }
    let _ = writeln!(out, "ended by     {}", r.hung_up_by);
    let _ = writeln!(
        out,
        "stream       {:.1} s, {} frames sent, {} received, {:.1} s of agent audio heard",
        r.stream_duration.as_secs_f64(),
        r.frames_sent,
        r.frames_received,
        r.bytes_heard as f64 / 8000.0
    );
    let _ = writeln!(
        out,
        "marks        {} echoed ({} after a clear), clears {}",
        r.marks_sent_back,
        r.marks.iter().filter(|m| m.cleared).count(),
        r.clears.len()
    );
    if let (Some(sid), Some(status)) = (&r.recording_sid, r.recording_callback_status) {
        let _ = writeln!(out, "recording    {sid} reported, HTTP {status}");
    }
    if let Some(status) = r.status_callback_status {
        let _ = writeln!(out, "status       completed reported, HTTP {status}");
    }
    out
}

async fn spec(args: CallArgs) -> anyhow::Result<CallSpec> {
    let stores = Stores::open(&StoreConfig::from_env()?).await.ok();
    let to = match &args.to {
        Some(t) => E164::parse(t)?,
        None => {
            let stores = stores
                .as_ref()
                .context("no --to and no store to find the demo number in")?;
            let number = hotline_local::configure::example_number(&|k| std::env::var(k).ok())?;
            stores
                .directory
                .get_number(&number)
                .await?
                .context(
                    "no --to, and the store does not have the example's number: is `hotline up` running here?",
                )?
                .number
        }
    };
    let (account_sid, auth_token) = match (&args.account_sid, &args.auth_token) {
        (Some(sid), Some(token)) => (AccountSid::parse(sid)?, token.clone()),
        _ => {
            let stores = stores
                .as_ref()
                .context("no credentials given and no store to read them from")?;
            let number = stores
                .directory
                .get_number(&to)
                .await?
                .with_context(|| format!("{to} is not a hotline number in this store"))?;
            let org = stores
                .directory
                .get_org(&number.org)
                .await?
                .context("the number's organization is gone")?;
            (
                org.twilio.account_sid,
                org.twilio.auth_token.expose_secret().to_owned(),
            )
        }
    };
    let url = match args.url {
        Some(u) => u,
        None => format!(
            "{}/twilio/voice",
            std::env::var("HOTLINE_PUBLIC_URL")
                .ok()
                .filter(|u| !u.is_empty())
                .unwrap_or_else(|| format!(
                    "http://{}",
                    std::env::var("HOTLINE_HTTP_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into())
                ))
                .trim_end_matches('/')
        ),
    };
    let audio = match (args.audio, args.tone) {
        (Some(path), _) => AudioSource::Wav(path),
        (None, Some(freq_hz)) => AudioSource::Tone {
            freq_hz,
            dbfs: -20.0,
            ms: (args.duration * 1000.0) as u32,
        },
        (None, None) => caller_script(),
    };
    let mut dtmf = Vec::new();
    for d in &args.dtmf {
        let Some((digit, at)) = d.split_once('@') else {
            bail!("--dtmf takes digit@seconds, e.g. 5@3, not {d:?}");
        };
        let mut chars = digit.chars();
        let (Some(digit), None) = (chars.next(), chars.next()) else {
            bail!("one key per --dtmf entry, not {digit:?}");
        };
        dtmf.push((Duration::from_secs_f64(at.parse()?), digit));
    }
    let call_sid = hotline_sim::phone::new_call_sid();
    let mut spec = CallSpec::new(url, account_sid, auth_token);
    spec.record_to = Some(
        args.record
            .unwrap_or_else(|| PathBuf::from(format!("hotline-call-{call_sid}.wav"))),
    );
    spec.call_sid = Some(call_sid);
    spec.from = args.from;
    spec.to = to.to_string();
    spec.audio = audio;
    spec.duration = Duration::from_secs_f64(args.duration.max(0.1));
    spec.dtmf = dtmf;
    spec.stream_url_override = args.stream_url;
    // Like Twilio: report the recording and the final status once the call is over,
    // which starts hotline's post-call pipeline.
    spec.after_call = AfterCall {
        recording_callback: true,
        status_callback: spec
            .voice_url
            .split_once(routes::VOICE)
            .map(|(base, _)| format!("{base}{}", routes::STATUS)),
    };
    Ok(spec)
}

/// A caller who listens, talks, listens: enough for an energy VAD to take turns with.
pub fn caller_script() -> AudioSource {
    AudioSource::Script(vec![
        Segment::Silence { ms: 4000 },
        Segment::Speech { ms: 1200 },
        Segment::Silence { ms: 5000 },
        Segment::Speech { ms: 1000 },
    ])
}
