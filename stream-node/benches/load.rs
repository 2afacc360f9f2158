//! Load bench of the stream node: N simulated calls at real-time pacing through the node
//! binary and a fake realtime AI, the node pinned to one core and this load generator
//! to another.
//!
//! Each call: a phone client sends Twilio `media` frames every 20 ms to the node, which
//! forwards them to the fake AI as `input_audio_buffer.append`; the fake AI speaks one
//! endless response in 20 ms `response.output_audio.delta`s, which the node forwards to
//! the phone as `media` + `mark` (echoed back like Twilio does). Every payload carries
//! its call, sequence number and send time, so latency is receive − send on one clock.
//!
//! Reported, over a steady-state window after the ramp: added latency each way (p50,
//! p99, max), frames lost each way, the node's CPU time per call-second, and its RSS per
//! call; also the generator's own CPU use, to show whether it was the bottleneck, and
//! busy time on each core that neither process was charged for (other work).
//!
//! The phones play agent audio from a buffer and echo each mark once the audio before it
//! has played, in a write of its own, as Twilio does (`--echo-in-step`: with the next
//! frame instead). Modes: `--turns` (callers and the fake AI take turns like OpenAI's
//! server VAD; hotline's added time per turn, see `load/turn.rs`), `--call-secs`
//! (calls end and new ones start, N staying connected), `--ai-burst-ms` (provider audio
//! in bursts faster than real time). Every report says which it covered.
//!
//! Loopback caveat: a sender's `send` also runs the receiver's TCP input path, so each
//! side is charged for delivering its own packets into the other's sockets.
//!
//! ```text
//! cargo bench -p hotline-stream-node --bench load -- --calls 800 --secs 30
//! # on a machine shared with other work (builds): raise priority, start when idle
//! cargo bench -p hotline-stream-node --bench load -- --nice -20 --wait-quiet 600
//! # the same load against another build of the node, e.g. a proposed change
//! cargo bench -p hotline-stream-node --bench load -- --node-bin /path/to/stream-node
//! # turns, with calls churning and provider audio in bursts
//! cargo bench -p hotline-stream-node --bench load -- --calls 500 --turns --call-secs 60 --ai-burst-ms 200
//! ```

#[path = "load/ai.rs"]
mod ai;
#[path = "load/frame.rs"]
mod frame;
#[path = "load/gemini.rs"]
mod gemini;
#[path = "load/node.rs"]
mod node;
#[path = "load/phone.rs"]
mod phone;
#[path = "load/pipeline.rs"]
mod pipeline;
#[path = "load/provider.rs"]
mod provider;
#[path = "load/seed.rs"]
mod seed;
#[path = "load/stats.rs"]
mod stats;
#[path = "load/turn.rs"]
mod turn;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use serde_json::json;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use stats::{Collector, Live, Percentiles, Window, percentiles};

/// Targets on one core (from the issue; p99 latency by provider, `provider.rs`). CPU and
/// RSS are OpenAI's; Gemini and the pipeline are held to a call count instead.
const TARGET_CPU_US_PER_CALL_SEC: f64 = 1_000.0;
const TARGET_RSS_PER_CALL: f64 = 32.0 * 1024.0;
/// Calls one core holds within the other targets, for Gemini and the pipeline.
const TARGET_CALLS_OTHER: u32 = 500;
/// Generator CPU above which its own queueing shows in the latencies.
const GENERATOR_WARN_PCT: f64 = 85.0;
/// Busy time on a core not charged to our process above which the run was shared.
const OTHER_WORK_WARN_PCT: f64 = 8.0;
/// Frames sent this close to the window's end may still be in flight when it closes.
const IN_FLIGHT: Duration = Duration::from_millis(200);
/// Between the window's end and the callers' `stop`.
const GRACE: Duration = Duration::from_secs(1);

#[derive(Debug, Parser)]
#[command(about = "N concurrent simulated calls through the stream node")]
struct Args {
    /// Concurrent calls.
    #[arg(long, default_value_t = 800)]
    calls: u32,
    /// Steady-state measurement window, seconds.
    #[arg(long, default_value_t = 30)]
    secs: u64,
    /// Calls start evenly over this many seconds.
    #[arg(long, default_value_t = 10)]
    ramp_secs: u64,
    /// Pause between the end of the ramp and the window, seconds.
    #[arg(long, default_value_t = 2)]
    settle_secs: u64,
    /// The core the node runs on.
    #[arg(long, default_value_t = 0)]
    node_core: usize,
    /// The core this generator runs on.
    #[arg(long, default_value_t = 1)]
    load_core: usize,
    /// Run the node and the generator at this nice level (e.g. -20 on a machine shared
    /// with other work; needs the privilege to raise priority).
    #[arg(long, allow_hyphen_values = true)]
    nice: Option<i32>,
    /// On a shared machine: first wait up to this many seconds for both cores to be
    /// idle (under 10% busy for 3 s running).
    #[arg(long)]
    wait_quiet: Option<u64>,
    /// The node binary to test (default: this package's `stream-node`), e.g. a build of
    /// a proposed change, to compare it with the same generator.
    #[arg(long)]
    node_bin: Option<PathBuf>,
    /// Record a `perf` profile of the node over the window into this file (the
    /// profiler's own overhead skews that run's figures).
    #[arg(long)]
    perf_out: Option<PathBuf>,
    /// The agent's provider, each against its lean fake: `openai_realtime` (passthrough),
    /// `gemini_live` (resampled both ways) or `pipeline` (Deepgram, chat completions,
    /// ElevenLabs).
    #[arg(long, value_enum, default_value_t = provider::Provider::OpenaiRealtime)]
    provider: provider::Provider,
    /// The pipeline's speech-to-text (its voice is ElevenLabs', its LLM chat completions).
    #[arg(long, value_enum, default_value_t = pipeline::Stt::Deepgram)]
    stt: pipeline::Stt,
    /// Turns mode: callers alternate speaking and listening, the fake AI answers like
    /// OpenAI's server VAD, and the report adds hotline's added time per turn.
    #[arg(long)]
    turns: bool,
    /// Turns mode: how long the fake AI holds a turn, from the caller's last spoken
    /// frame to the first delta of its reply, ms.
    #[arg(long, default_value_t = 500)]
    provider_latency_ms: u64,
    /// Each call lasts this many seconds, then its caller hangs up and dials again
    /// (churn: calls end and start at a steady rate, N stay connected).
    #[arg(long)]
    call_secs: Option<u64>,
    /// The fake AI's endless response comes in bursts of this much audio (20 ms deltas
    /// sent together), as a real provider generates faster than real time; 20 is real
    /// time.
    #[arg(long, default_value_t = 20)]
    ai_burst_ms: u64,
    /// glibc's `MALLOC_ARENA_MAX` for the node: 1 as its image sets it (infra/Dockerfile);
    /// 0 is glibc's default (an arena per thread, up to 8 per core).
    #[arg(long, default_value_t = 1)]
    malloc_arena_max: u32,
    /// Echo each mark with the caller's next frame, in the same write, instead of when
    /// its audio has played in a write of its own (as Twilio does): the bench's former,
    /// cheaper pattern, for comparison.
    #[arg(long)]
    echo_in_step: bool,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

/// Small buffers: frames are ~300 bytes, and tungstenite zero-fills its whole read
/// buffer before every read. Writes are buffered and flushed explicitly, so a tick's
/// frames leave in one write.
pub fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(16 * 1024)
        .max_write_buffer_size(1024 * 1024)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // Before any thread exists, so every thread of the generator stays on its core.
    node::pin(std::process::id(), args.load_core).context("pinning the generator")?;
    if let Some(nice) = args.nice {
        node::prioritize(nice).context("raising the generator's priority")?;
    }
    frame::start_clock();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

/// CPU and memory of the node and the generator over the window.
#[derive(Debug, Default)]
struct Usage {
    secs: f64,
    node_user: u64,
    node_system: u64,
    gen_user: u64,
    gen_system: u64,
    node_core: node::CoreTimes,
    gen_core: node::CoreTimes,
    node_rss_max: u64,
    node_rss_end: u64,
    gen_rss_end: u64,
    /// Concurrent calls: their mean over the window, and at its end.
    live_mean: f64,
    live_end: u64,
}

/// Where call `i`'s 20 ms frame clock falls within the frame: the golden ratio's
/// multiples, spread evenly for any number of calls, as independent Twilio streams are.
/// The ramp alone set every phone's clock: whenever the ramp's step is a whole number of
/// frames (500 calls over 10 s, 250 over 10 s) every call sent at the same instant, and
/// the node got all of them at once, 50 times a second.
fn frame_phase(i: usize) -> Duration {
    const GOLDEN: f64 = 0.618_033_988_749_895;
    let fraction = (i as f64 * GOLDEN).fract();
    Duration::from_millis(frame::FRAME_MS).mul_f64(fraction)
}

struct Plan {
    start: Instant,
    ramp: Duration,
    window_start: Instant,
    window_end: Instant,
}

async fn run(args: Args) -> anyhow::Result<()> {
    frame::self_check().context("frame formats")?;
    provider::self_check().context("provider frame formats")?;
    turn::self_check().context("turn event formats")?;
    // The turns fake speaks OpenAI's events, and the other fakes know a call by its seeded
    // index, which churn reassigns.
    if args.provider != provider::Provider::OpenaiRealtime
        && (args.turns || args.call_secs.is_some())
    {
        anyhow::bail!("--turns and --call-secs run with --provider openai_realtime only");
    }
    if let Some(secs) = args.wait_quiet {
        wait_quiet(&[args.node_core, args.load_core], Duration::from_secs(secs)).await?;
    }
    let n = args.calls.max(1);
    let dir = tempfile::tempdir().context("temp dir")?;
    let data_dir = dir.path().join("data");
    // With churn, each caller dials a call of its own every `call_secs`.
    let legs = args.call_secs.map_or(1, |secs| {
        let span = args.ramp_secs + args.settle_secs + args.secs + GRACE.as_secs() + 1;
        u32::try_from(span.div_ceil(secs.max(1))).unwrap_or(u32::MAX) + 1
    });
    eprintln!("seeding {} calls into {}", n * legs, data_dir.display());
    let seeded = seed::seed(
        &data_dir,
        n * legs,
        args.provider.model(),
        args.stt.vendor(),
    )
    .await?;
    let sids: Vec<String> = seeded.calls.iter().map(|c| c.call_sid.clone()).collect();
    let mut callers_calls: Vec<Vec<phone::CallSpec>> = (0..n).map(|_| Vec::new()).collect();
    for (i, mut call) in seeded.calls.into_iter().enumerate() {
        let caller = u32::try_from(i).unwrap_or(u32::MAX) % n;
        call.index = caller;
        callers_calls[caller as usize].push(call);
    }
    let turns = args.turns.then_some(turn::Turns {
        provider_latency: Duration::from_millis(args.provider_latency_ms),
    });

    let ai_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let ai_addr = ai_listener.local_addr()?;
    // The pipeline's chat completions and voice, over HTTP.
    let http_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let http_addr = http_listener.local_addr()?;
    let (openai_base_url, env) = match args.provider {
        provider::Provider::OpenaiRealtime => (format!("http://{ai_addr}/v1"), Vec::new()),
        provider::Provider::GeminiLive => (
            format!("http://{ai_addr}/v1"),
            vec![
                ("GEMINI_BASE_URL", format!("http://{ai_addr}")),
                ("GEMINI_API_KEY", "bench".to_owned()),
            ],
        ),
        provider::Provider::Pipeline => (
            format!("http://{http_addr}/v1"),
            vec![
                ("DEEPGRAM_BASE_URL", format!("http://{ai_addr}")),
                ("DEEPGRAM_API_KEY", "bench".to_owned()),
                ("ELEVENLABS_BASE_URL", format!("http://{http_addr}")),
                ("ELEVENLABS_API_KEY", "bench".to_owned()),
            ],
        ),
    };
    let node_addr = node::free_addr()?;
    let stream_url = format!("ws://{node_addr}/twilio/stream");
    let mut node = node::Node::start(&node::NodeSpec {
        binary: args
            .node_bin
            .clone()
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_stream-node"))),
        core: args.node_core,
        nice: args.nice,
        addr: node_addr,
        data_dir: &data_dir,
        openai_base_url,
        max_calls: n as usize + 16,
        log: dir.path().join("node.log"),
        env,
        malloc_arena_max: args.malloc_arena_max.to_string(),
    })?;
    let pid = node.pid();
    node.wait_healthy(node_addr, Duration::from_secs(30))
        .await
        .context("starting the node")?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_base = node::rss_bytes(Some(pid))?;
    let clk = node::clock_ticks();

    let start = Instant::now() + Duration::from_millis(100);
    let ramp = Duration::from_secs(args.ramp_secs);
    let window_start = start + ramp + Duration::from_secs(args.settle_secs);
    let window_end = window_start + Duration::from_secs(args.secs.max(1));
    let plan = Plan {
        start,
        ramp,
        window_start,
        window_end,
    };
    let stop_at = window_end + GRACE;
    // The slow-slot times below count from here; on the wall clock, outside probes
    // (a scheduler trace, a lag probe on each core) can be lined up with them.
    let window_unix_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
        + window_start
            .saturating_duration_since(Instant::now())
            .as_millis();
    println!("the window opens at unix time {window_unix_ms} ms");
    let window = Window {
        from_us: frame::at_us(window_start.into_std()),
        to_us: frame::at_us((window_end - IN_FLIGHT).into_std()),
    };
    let collector = Arc::new(Collector::new(window));
    let tail = frame::silent_tail();
    let clocks = Arc::new(provider::Clocks::new(
        if args.provider == provider::Provider::GeminiLive {
            n
        } else {
            0
        },
    ));
    let fake = Arc::new(provider::Fake {
        collector: Arc::clone(&collector),
        clocks: Arc::clone(&clocks),
        calls_end_at: stop_at,
        give_up_at: stop_at + Duration::from_secs(15),
    });
    let mode = match args.provider {
        provider::Provider::OpenaiRealtime => {
            tokio::spawn(ai::serve(
                ai_listener,
                Arc::new(ai::Ai {
                    tail: tail.clone(),
                    collector: Arc::clone(&collector),
                    calls_end_at: stop_at,
                    give_up_at: stop_at + Duration::from_secs(15),
                    turns,
                    burst: u32::try_from(args.ai_burst_ms / frame::FRAME_MS)
                        .unwrap_or(1)
                        .max(1),
                }),
            ));
            provider::Mode::OpenAi
        }
        provider::Provider::GeminiLive => {
            tokio::spawn(provider::serve(ai_listener, fake, gemini::session));
            provider::Mode::Gemini(clocks)
        }
        provider::Provider::Pipeline => {
            let pipeline = Arc::new(pipeline::Pipeline::new(Arc::clone(&fake), n));
            tokio::spawn(provider::serve(ai_listener, fake, pipeline::stt));
            tokio::spawn(provider::serve(
                http_listener,
                Arc::clone(&pipeline.fake),
                move |tcp, _| pipeline::http(tcp, Arc::clone(&pipeline)),
            ));
            provider::Mode::Pipeline
        }
    };
    let phones = Arc::new(phone::Phones {
        node: node_addr,
        signature: hotline_twilio::signature::compute(&seeded.auth_token, &stream_url, &[]),
        url: stream_url,
        account_sid: seeded.account_sid.clone(),
        tail,
        speech: frame::speech_tail(),
        collector: Arc::clone(&collector),
        stop_at,
        mode,
        call_length: args.call_secs.map(Duration::from_secs),
        turns,
        echo_in_step: args.echo_in_step,
    });

    eprintln!(
        "node pid {pid} on core {}, generator on core {}; {n} calls over {} s, then {} s settle and a {} s window",
        args.node_core, args.load_core, args.ramp_secs, args.settle_secs, args.secs
    );
    let sampler = tokio::spawn(sample(
        Arc::clone(&collector),
        pid,
        args.node_core,
        args.load_core,
        plan.window_start,
        plan.window_end,
    ));
    let perf = tokio::spawn(profile(
        args.perf_out.clone(),
        pid,
        args.load_core,
        plan.window_start,
        plan.window_end,
    ));
    let progress = tokio::spawn(progress(Arc::clone(&collector), pid, clk, plan.start));

    let mut callers = JoinSet::new();
    for (i, calls) in callers_calls.into_iter().enumerate() {
        let at = plan.start + plan.ramp.mul_f64(i as f64 / f64::from(n)) + frame_phase(i);
        tokio::time::sleep_until(at).await;
        callers.spawn(phone::run(Arc::clone(&phones), calls));
    }
    while let Some(joined) = callers.join_next().await {
        if let Err(e) = joined {
            collector.error(format!("caller task: {e}"));
        }
    }
    let drained = Instant::now() + Duration::from_secs(15);
    while Live::get(&collector.live.ai_active) > 0 && Instant::now() < drained {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    progress.abort();
    let usage = sampler.await?.context("sampling the node")?;
    if let Some(path) = perf.await?? {
        eprintln!("perf profile of the node: {}", path.display());
    }
    // What the node keeps once every call is over: memory it did not give back.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = node::rss_bytes(Some(pid)).unwrap_or(0);
    let ai_left = Live::get(&collector.live.ai_active);
    if ai_left > 0 {
        collector.error(format!(
            "{ai_left} AI sessions still open 15 s after the calls ended"
        ));
    }

    let log_path = node.log.clone();
    let exit = node.stop(Duration::from_secs(20)).await;
    let log = summarize_log(&log_path);
    let stored = if args.turns {
        Some(turn::read_store(&data_dir, &sids).await?)
    } else {
        None
    };
    let mut report = Report::new(
        n,
        args.nice,
        &collector,
        collector.take(),
        &usage,
        rss_base,
        clk,
    );
    report.provider = args.provider;
    report.rss_after = rss_after;
    report.mode = Mode {
        turns: args.turns.then_some(args.provider_latency_ms),
        call_secs: args.call_secs,
        ai_burst_ms: args.ai_burst_ms,
        echo_in_step: args.echo_in_step,
        malloc_arena_max: args.malloc_arena_max,
        stored,
    };
    report.print(&exit, &log);
    Ok(())
}

/// Waits for the cores to be idle, so other work does not skew the run.
async fn wait_quiet(cores: &[usize], within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    let mut quiet_for = 0;
    let mut before = cores
        .iter()
        .map(|&c| node::core_times(c))
        .collect::<anyhow::Result<Vec<_>>>()?;
    eprintln!(
        "waiting up to {} s for cores {cores:?} to be idle",
        within.as_secs()
    );
    while quiet_for < 3 {
        if Instant::now() >= deadline {
            eprintln!("the cores did not go idle; running anyway");
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = cores
            .iter()
            .map(|&c| node::core_times(c))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let quiet = now.iter().zip(&before).all(|(n, b)| {
            let d = n.since(*b);
            d.busy * 10 < d.all.max(1)
        });
        quiet_for = if quiet { quiet_for + 1 } else { 0 };
        before = now;
    }
    Ok(())
}

async fn sample(
    collector: Arc<Collector>,
    pid: u32,
    node_core: usize,
    gen_core: usize,
    from: Instant,
    to: Instant,
) -> anyhow::Result<Usage> {
    tokio::time::sleep_until(from).await;
    let t0 = Instant::now();
    let node0 = node::cpu_split(Some(pid))?;
    let gen0 = node::cpu_split(None)?;
    let node_core0 = node::core_times(node_core)?;
    let gen_core0 = node::core_times(gen_core)?;
    let mut usage = Usage::default();
    let (mut live_sum, mut live_samples) = (0u64, 0u64);
    loop {
        let rss = node::rss_bytes(Some(pid))?;
        usage.node_rss_max = usage.node_rss_max.max(rss);
        live_sum += Live::get(&collector.live.calls_live);
        live_samples += 1;
        let next = Instant::now() + Duration::from_secs(1);
        if next >= to {
            tokio::time::sleep_until(to).await;
            break;
        }
        tokio::time::sleep_until(next).await;
    }
    let node1 = node::cpu_split(Some(pid))?;
    let gen1 = node::cpu_split(None)?;
    usage.node_core = node::core_times(node_core)?.since(node_core0);
    usage.gen_core = node::core_times(gen_core)?.since(gen_core0);
    usage.secs = t0.elapsed().as_secs_f64();
    usage.node_user = node1.0 - node0.0;
    usage.node_system = node1.1 - node0.1;
    usage.gen_user = gen1.0 - gen0.0;
    usage.gen_system = gen1.1 - gen0.1;
    let rss = node::rss_bytes(Some(pid))?;
    usage.node_rss_max = usage.node_rss_max.max(rss);
    usage.node_rss_end = rss;
    usage.gen_rss_end = node::rss_bytes(None)?;
    usage.live_end = Live::get(&collector.live.calls_live);
    usage.live_mean = live_sum as f64 / live_samples.max(1) as f64;
    Ok(usage)
}

/// `perf record` of the node over the window, if asked for.
async fn profile(
    out: Option<PathBuf>,
    pid: u32,
    core: usize,
    from: Instant,
    to: Instant,
) -> anyhow::Result<Option<PathBuf>> {
    let Some(out) = out else { return Ok(None) };
    let secs = (to - from).as_secs();
    tokio::time::sleep_until(from).await;
    let mut child = Command::new("taskset")
        .args([
            "-c",
            &core.to_string(),
            "perf",
            "record",
            "-F",
            "999",
            "-g",
            "-p",
        ])
        .arg(pid.to_string())
        .arg("-o")
        .arg(&out)
        .args(["--", "sleep", &secs.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("perf record")?;
    tokio::time::sleep_until(to + Duration::from_millis(500)).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait()?.is_none() {
        if Instant::now() >= deadline {
            child.kill()?;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(Some(out))
}

async fn progress(c: Arc<Collector>, pid: u32, clk: u64, start: Instant) {
    let mut tick = tokio::time::interval_at(start + Duration::from_secs(5), Duration::from_secs(5));
    let mut last = (Instant::now(), 0u64, 0u64, 0u64, 0u64);
    loop {
        tick.tick().await;
        let now = Instant::now();
        let node_cpu = node::cpu_ticks(Some(pid)).unwrap_or(0);
        let gen_cpu = node::cpu_ticks(None).unwrap_or(0);
        let up = Live::get(&c.live.frames_up);
        let down = Live::get(&c.live.frames_down);
        let dt = (now - last.0).as_secs_f64();
        let pct =
            |ticks: u64, before: u64| ticks.saturating_sub(before) as f64 / clk as f64 / dt * 100.0;
        eprintln!(
            "t={:>4.0}s calls started {} upgraded {} established {} ended {} | AI sessions {} | frames/s up {:.0} down {:.0} | CPU node {:.0}% generator {:.0}%",
            (now - start).as_secs_f64(),
            Live::get(&c.live.calls_started),
            Live::get(&c.live.calls_upgraded),
            Live::get(&c.live.calls_established),
            Live::get(&c.live.calls_ended),
            Live::get(&c.live.ai_active),
            (up - last.1) as f64 / dt,
            (down - last.2) as f64 / dt,
            pct(node_cpu, last.3),
            pct(gen_cpu, last.4),
        );
        last = (now, up, down, node_cpu, gen_cpu);
    }
}

/// Warnings and errors in the node's JSON log, by message.
fn summarize_log(path: &std::path::Path) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    let Ok(text) = std::fs::read_to_string(path) else {
        return counts;
    };
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let key = match serde_json::from_str::<serde_json::Value>(line) {
            Ok(v) => format!(
                "{} {}",
                v["level"].as_str().unwrap_or("?"),
                v["fields"]["message"].as_str().unwrap_or("?")
            ),
            Err(_) => line.chars().take(120).collect(),
        };
        *counts.entry(key).or_default() += 1;
    }
    counts
}

/// What the run exercised beyond the per-frame default.
#[derive(Debug, Default)]
struct Mode {
    /// Turns mode, with the provider's latency (ms).
    turns: Option<u64>,
    call_secs: Option<u64>,
    ai_burst_ms: u64,
    echo_in_step: bool,
    malloc_arena_max: u32,
    /// Turns mode: what the node stored.
    stored: Option<turn::Stored>,
}

struct Report {
    provider: provider::Provider,
    mode: Mode,
    turns: turn::TurnStats,
    calls: u32,
    established: u64,
    window: Window,
    secs: f64,
    up: Option<Percentiles>,
    down: Option<Percentiles>,
    up_dir: stats::Dir,
    down_dir: stats::Dir,
    /// The node's own CPU time (user + system), per call-second.
    node_cpu_us_per_call_sec: f64,
    node_user_pct: f64,
    node_system_pct: f64,
    /// Everything on the node's core, including softirq packet processing.
    node_core_busy_pct: f64,
    node_core_softirq_pct: f64,
    node_core_us_per_call_sec: f64,
    gen_cpu_pct: f64,
    gen_core_busy_pct: f64,
    /// Busy time on each core not charged to our processes (other processes, kernel
    /// work charged to nobody), % of the core.
    node_core_other_pct: f64,
    gen_core_other_pct: f64,
    nice: Option<i32>,
    rss_base: u64,
    rss_max: u64,
    rss_end: u64,
    rss_per_call: f64,
    /// Concurrent calls (mean over the window; at its end), the denominators.
    live_mean: f64,
    live_end: u64,
    /// RSS once every call had ended.
    rss_after: u64,
    gen_rss: u64,
    other_events: BTreeMap<String, u64>,
    errors: BTreeMap<String, u64>,
}

impl Report {
    fn new(
        n: u32,
        nice: Option<i32>,
        c: &Collector,
        mut totals: stats::Totals,
        usage: &Usage,
        rss_base: u64,
        clk: u64,
    ) -> Self {
        let established = Live::get(&c.live.calls_established);
        // The calls connected during the window (with churn, fewer than those ever
        // established).
        let per = usage.live_mean.max(1.0);
        let secs = usage.secs.max(1e-3);
        let pct = |ticks: u64| ticks as f64 / clk as f64 / secs * 100.0;
        let core_pct = |t: u64, all: u64| t as f64 / all.max(1) as f64 * 100.0;
        let node_cpu_us = (usage.node_user + usage.node_system) as f64 * 1e6 / clk as f64;
        let node_core_us = usage.node_core.busy as f64 * 1e6 / clk as f64;
        Self {
            provider: provider::Provider::OpenaiRealtime,
            calls: n,
            established,
            window: c.window,
            secs,
            up: percentiles(&mut totals.up.latency_us),
            down: percentiles(&mut totals.down.latency_us),
            node_cpu_us_per_call_sec: node_cpu_us / (per * secs),
            node_user_pct: pct(usage.node_user),
            node_system_pct: pct(usage.node_system),
            node_core_busy_pct: core_pct(usage.node_core.busy, usage.node_core.all),
            node_core_softirq_pct: core_pct(usage.node_core.softirq, usage.node_core.all),
            node_core_us_per_call_sec: node_core_us / (per * secs),
            gen_cpu_pct: pct(usage.gen_user + usage.gen_system),
            gen_core_busy_pct: core_pct(usage.gen_core.busy, usage.gen_core.all),
            node_core_other_pct: core_pct(
                usage
                    .node_core
                    .busy
                    .saturating_sub(usage.node_user + usage.node_system),
                usage.node_core.all,
            ),
            gen_core_other_pct: core_pct(
                usage
                    .gen_core
                    .busy
                    .saturating_sub(usage.gen_user + usage.gen_system),
                usage.gen_core.all,
            ),
            nice,
            rss_base,
            rss_max: usage.node_rss_max,
            rss_end: usage.node_rss_end,
            rss_per_call: usage.node_rss_max.saturating_sub(rss_base) as f64 / per,
            live_mean: usage.live_mean,
            live_end: usage.live_end,
            rss_after: 0,
            mode: Mode::default(),
            turns: std::mem::take(&mut totals.turns),
            gen_rss: usage.gen_rss_end,
            up_dir: totals.up,
            down_dir: totals.down,
            other_events: totals.other_events,
            errors: totals.errors,
        }
    }

    fn lost(d: &stats::Dir) -> i64 {
        i64::try_from(d.sent).unwrap_or(i64::MAX) - i64::try_from(d.received).unwrap_or(i64::MAX)
    }

    fn print(&mut self, node_exit: &anyhow::Result<String>, log: &BTreeMap<String, u64>) {
        let ms = |us: u32| f64::from(us) / 1000.0;
        let verdict = |ok: bool| if ok { "MET" } else { "MISSED" };
        let target_p99 = self.provider.p99_target_us();
        let p99_ok =
            |p: &Option<Percentiles>| target_p99.is_none_or(|t| p.is_some_and(|p| p.p99 < t));
        let all_up = self.established >= u64::from(self.calls);
        let lost_ok = Self::lost(&self.up_dir) == 0
            && Self::lost(&self.down_dir) == 0
            && self.up_dir.sent > 0
            && self.down_dir.sent > 0;
        let openai = self.provider == provider::Provider::OpenaiRealtime;
        let cpu_ok = self.node_cpu_us_per_call_sec <= TARGET_CPU_US_PER_CALL_SEC;
        let rss_ok = self.rss_per_call <= TARGET_RSS_PER_CALL;
        let calls_ok = self.calls >= TARGET_CALLS_OTHER
            && all_up
            && lost_ok
            && p99_ok(&self.up)
            && p99_ok(&self.down);

        println!();
        println!(
            "stream-node load ({}): {} calls, {} established; window {:.1} s",
            self.provider.name(),
            self.calls,
            self.established,
            self.secs
        );
        println!("mode: {}", self.mode.describe());
        if self.provider == provider::Provider::GeminiLive {
            let (up, down) = provider::Provider::gemini_delay();
            println!(
                "Gemini: latency is the delay of the sound, the node's queueing plus its resamplers' filter delay ({:.2} ms up at 8 -> 16 kHz, {:.2} ms down at 24 -> 8 kHz), counted",
                up as f64 / 16.0,
                down as f64 / 8.0
            );
        }
        println!(
            "{:<14} {:>8} {:>8} {:>8} {:>9} {:>9} {:>5} {:>5} {:>7} {:>9} {:>6}",
            "direction",
            "p50 ms",
            "p99 ms",
            "max ms",
            "sent",
            "received",
            "lost",
            "gaps",
            "repeats",
            "misrouted",
            ">=5ms"
        );
        for (name, p, d) in [
            ("caller -> AI", &self.up, &self.up_dir),
            ("AI -> caller", &self.down, &self.down_dir),
        ] {
            let p = p.unwrap_or_default();
            println!(
                "{:<14} {:>8.3} {:>8.3} {:>8.3} {:>9} {:>9} {:>5} {:>5} {:>7} {:>9} {:>6}",
                name,
                ms(p.p50),
                ms(p.p99),
                ms(p.max),
                d.sent,
                d.received,
                Self::lost(d),
                d.gaps,
                d.repeats,
                d.misrouted,
                d.slow_sent_us.len()
            );
        }
        println!(
            "node CPU       {:>7.1} µs per call-second (process: user {:.1}% + system {:.1}% of its core)",
            self.node_cpu_us_per_call_sec, self.node_user_pct, self.node_system_pct
        );
        println!(
            "node core      {:>7.1} µs per call-second (all of the core's busy time {:.1}%, softirq {:.1}%)",
            self.node_core_us_per_call_sec, self.node_core_busy_pct, self.node_core_softirq_pct
        );
        println!(
            "node RSS       {:>7.1} KiB per call (before calls {:.1} MiB, window max {:.1} MiB, end {:.1} MiB)",
            self.rss_per_call / 1024.0,
            mib(self.rss_base),
            mib(self.rss_max),
            mib(self.rss_end)
        );
        println!(
            "node RSS       {:>7.1} KiB per call at the window's end ({} calls connected), {:.1} MiB after every call ended",
            self.rss_end.saturating_sub(self.rss_base) as f64
                / 1024.0
                / self.live_end.max(1) as f64,
            self.live_end,
            mib(self.rss_after)
        );
        let turns = self.mode.turns.map(|latency| self.print_turns(latency));
        println!(
            "generator      {:>7.1}% of its core (core busy {:.1}%), RSS {:.1} MiB",
            self.gen_cpu_pct,
            self.gen_core_busy_pct,
            mib(self.gen_rss)
        );
        println!(
            "not charged    {:>7.1}% of the node's core, {:.1}% of the generator's busy outside them (other processes, uncharged kernel work){}",
            self.node_core_other_pct,
            self.gen_core_other_pct,
            self.nice
                .map_or_else(String::new, |n| format!(" (both ran at nice {n})"))
        );
        if self.node_core_other_pct > OTHER_WORK_WARN_PCT
            || self.gen_core_other_pct > OTHER_WORK_WARN_PCT
        {
            println!(
                "WARNING: other processes shared the cores during the window; latency and loss figures are suspect (try --nice -20, or a quiet machine)"
            );
        }
        if self.gen_cpu_pct > GENERATOR_WARN_PCT {
            println!(
                "WARNING: the generator used {:.0}% of its core: latencies include its own queueing, and the node may be paced by it",
                self.gen_cpu_pct
            );
        }
        for (name, d) in [
            ("caller -> AI", &self.up_dir),
            ("AI -> caller", &self.down_dir),
        ] {
            let slots = stats::slow_slots(&d.slow_sent_us, self.window.from_us);
            if slots.is_empty() {
                continue;
            }
            let shown: Vec<String> = slots
                .iter()
                .take(8)
                .map(|(at, count)| format!("{:.1}s:{count}", f64::from(*at) / 1e6))
                .collect();
            println!(
                "slow frames {name}: in {} of the window's 100 ms slots; busiest (send time:frames) {}",
                slots.len(),
                shown.join(" ")
            );
        }
        println!("targets (one core):");
        println!(
            "  {} calls established ........................ {}",
            self.calls,
            verdict(all_up)
        );
        match target_p99 {
            Some(t) => println!(
                "  p99 added latency < {} ms each way .......... {}",
                t / 1000,
                verdict(p99_ok(&self.up) && p99_ok(&self.down))
            ),
            None => println!(
                "  p99 added latency (no target for {}) ",
                self.provider.name()
            ),
        }
        println!(
            "  no frame lost ............................... {}",
            verdict(lost_ok)
        );
        if openai {
            println!(
                "  <= 1,000 CPU-µs per call-second ............. {}",
                verdict(cpu_ok)
            );
            println!(
                "  <= 32 KiB RSS per call ...................... {}",
                verdict(rss_ok)
            );
        } else {
            println!(
                "  >= {TARGET_CALLS_OTHER} calls within the targets above ........ {}",
                verdict(calls_ok)
            );
        }
        if let Some((_, ok)) = &turns {
            println!(
                "  <= 20 ms p99 added per turn ................. {}",
                verdict(*ok)
            );
        }
        if self.mode.call_secs.is_some() {
            println!(
                "  (with --call-secs, the AI's frames in flight when a caller hangs up count as lost: a few per hang-up)"
            );
        }
        if !self.errors.is_empty() {
            println!("errors:");
            for (k, v) in &self.errors {
                println!("  {v:>6} × {k}");
            }
        }
        if !self.other_events.is_empty() {
            println!("unexpected messages:");
            for (k, v) in &self.other_events {
                println!("  {v:>6} × {k}");
            }
        }
        match node_exit {
            Ok(status) => println!("node exit after SIGTERM: {status}"),
            Err(e) => println!("node exit after SIGTERM: {e:#}"),
        }
        if !log.is_empty() {
            println!("node log (RUST_LOG=warn), by message:");
            for (k, v) in log {
                println!("  {v:>6} × {k}");
            }
        }
        let pct = |p: &Option<Percentiles>| {
            p.map(|p| json!({"p50_us": p.p50, "p99_us": p.p99, "max_us": p.max}))
        };
        let dir = |p: &Option<Percentiles>, d: &stats::Dir| {
            json!({
                "latency": pct(p),
                "sent": d.sent,
                "received": d.received,
                "lost": Self::lost(d),
                "slow_5ms": d.slow_sent_us.len(),
            })
        };
        let line = json!({
            "bench": "stream-node/load",
            "provider": self.provider.name(),
            "calls": self.calls,
            "established": self.established,
            "window_secs": round1(self.secs),
            "caller_to_ai": dir(&self.up, &self.up_dir),
            "ai_to_caller": dir(&self.down, &self.down_dir),
            "node_cpu_us_per_call_sec": round1(self.node_cpu_us_per_call_sec),
            "node_user_pct": round1(self.node_user_pct),
            "node_system_pct": round1(self.node_system_pct),
            "node_core_us_per_call_sec": round1(self.node_core_us_per_call_sec),
            "node_core_softirq_pct": round1(self.node_core_softirq_pct),
            "node_rss_bytes_per_call": self.rss_per_call.round(),
            "node_rss_base_bytes": self.rss_base,
            "node_rss_max_bytes": self.rss_max,
            "generator_cpu_pct": round1(self.gen_cpu_pct),
            "other_work_node_core_pct": round1(self.node_core_other_pct),
            "other_work_generator_core_pct": round1(self.gen_core_other_pct),
            "nice": self.nice,
            "concurrent_calls_mean": round1(self.live_mean),
            "node_rss_end_bytes": self.rss_end,
            "node_rss_after_calls_bytes": self.rss_after,
            "mode": {
                "turns": self.mode.turns.is_some(),
                "provider_latency_ms": self.mode.turns,
                "call_secs": self.mode.call_secs,
                "ai_burst_ms": self.mode.ai_burst_ms,
                "echo_in_step": self.mode.echo_in_step,
                "malloc_arena_max": self.mode.malloc_arena_max,
            },
            "turns": turns.as_ref().map(|(t, _)| t),
            "errors": self.errors.values().sum::<u64>(),
            "targets_met": {
                "established": all_up,
                "p99": p99_ok(&self.up) && p99_ok(&self.down),
                "no_loss": lost_ok,
                "cpu": openai.then_some(cpu_ok),
                "rss": openai.then_some(rss_ok),
                "calls": (!openai).then_some(calls_ok),
            },
        });
        println!("{line}");
    }
}

impl Mode {
    fn describe(&self) -> String {
        let mut parts = vec![match self.turns {
            Some(latency) => format!(
                "turns (callers speak {} s and listen; the fake AI answers after {latency} ms with {} s of audio; every {}th turn the caller barges in)",
                turn::SPEECH_FRAMES / 50,
                turn::AGENT_FRAMES / 50,
                turn::BARGE_EVERY
            ),
            None => "per-frame (every call hears one endless response)".to_owned(),
        }];
        parts.push(match self.call_secs {
            Some(secs) => format!("calls last {secs} s, then their callers dial again"),
            None => "one call per caller for the whole run".to_owned(),
        });
        parts.push(if self.ai_burst_ms > frame::FRAME_MS {
            format!("AI audio in {} ms bursts", self.ai_burst_ms)
        } else {
            "AI audio in real time".to_owned()
        });
        parts.push(if self.echo_in_step {
            "marks echoed with the next caller frame (not as Twilio does)".to_owned()
        } else {
            "marks echoed once their audio played, on their own".to_owned()
        });
        parts.push(match self.malloc_arena_max {
            0 => "glibc's default malloc arenas (not as the image runs the node)".to_owned(),
            1 => "one malloc arena, as the image runs the node".to_owned(),
            n => format!("{n} malloc arenas (not as the image runs the node)"),
        });
        parts.join("; ")
    }
}

impl Report {
    /// Prints the turns' figures; returns them as JSON and whether the target was met.
    fn print_turns(&mut self, latency_ms: u64) -> (serde_json::Value, bool) {
        let t = &mut self.turns;
        let summary = t.summary();
        let ms = |us: u32| f64::from(us) / 1000.0;
        let line = |name: &str, p: Option<Percentiles>| {
            let p = p.unwrap_or_default();
            println!(
                "{name:<14} {:>8.3} {:>8.3} {:>8.3} ms (p50 / p99 / max)",
                ms(p.p50),
                ms(p.p99),
                ms(p.max)
            );
        };
        println!(
            "turns          {} answered ({} in the window), {} unanswered, {} mismatched; {} barge-ins, {} clears at the phones, {} truncates at the AI",
            t.turns,
            t.added_us.len(),
            t.unanswered,
            t.mismatched,
            t.barge_ins,
            t.clears,
            t.truncates
        );
        line("turn added", summary.added);
        line("turn total", summary.total);
        println!(
            "               (total: caller's last spoken frame sent → first reply frame received; added: total − the {latency_ms} ms the fake AI held it)"
        );
        if let Some(s) = &self.mode.stored {
            println!(
                "store          {} of {} calls finalized, {} turns timed by the node; transcript lines: {} caller, {} agent",
                s.finalized, s.calls, s.timed_turns, s.caller_lines, s.agent_lines
            );
        }
        let ok = summary.added.is_some_and(|p| p.p99 <= 20_000);
        let pct = |p: Option<Percentiles>| {
            p.map(|p| json!({"p50_us": p.p50, "p99_us": p.p99, "max_us": p.max}))
        };
        let json = json!({
            "answered": t.turns,
            "in_window": t.added_us.len(),
            "unanswered": t.unanswered,
            "barge_ins": t.barge_ins,
            "clears": t.clears,
            "truncates": t.truncates,
            "added": pct(summary.added),
            "total": pct(summary.total),
            "stored": self.mode.stored.as_ref().map(|s| json!({
                "finalized": s.finalized,
                "timed_turns": s.timed_turns,
                "caller_lines": s.caller_lines,
                "agent_lines": s.agent_lines,
            })),
        });
        (json, ok)
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}
