//! The node under test as a child process pinned to its core, and what `/proc` says
//! about a process: CPU time and resident memory.

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// What the node is started with.
pub struct NodeSpec<'a> {
    pub binary: PathBuf,
    pub core: usize,
    pub nice: Option<i32>,
    pub addr: SocketAddr,
    pub data_dir: &'a Path,
    pub openai_base_url: String,
    pub max_calls: usize,
    pub log: PathBuf,
    /// More environment: the other providers' base URLs.
    pub env: Vec<(&'static str, String)>,
    /// glibc's `MALLOC_ARENA_MAX` for the node.
    pub malloc_arena_max: String,
}

/// The running node; killed if dropped before [`Node::stop`].
pub struct Node {
    child: Child,
    pub log: PathBuf,
}

impl Node {
    pub fn start(spec: &NodeSpec<'_>) -> anyhow::Result<Self> {
        let log = File::create(&spec.log).context("node log file")?;
        let mut command = match spec.nice {
            Some(n) => {
                let mut c = Command::new("nice");
                c.arg("-n").arg(n.to_string()).arg("taskset");
                c
            }
            None => Command::new("taskset"),
        };
        let child = command
            .arg("-c")
            .arg(spec.core.to_string())
            .arg(&spec.binary)
            .env("HOTLINE_STREAM_ADDR", spec.addr.to_string())
            .env("HOTLINE_STREAM_PUBLIC_URL", format!("ws://{}", spec.addr))
            .env("HOTLINE_MAX_CALLS", spec.max_calls.to_string())
            .env("HOTLINE_DRAIN_SECS", "5")
            .env("HOTLINE_STORE", "local")
            .env("HOTLINE_DATA_DIR", spec.data_dir)
            .env("OPENAI_BASE_URL", &spec.openai_base_url)
            .env("OPENAI_API_KEY", "sk-bench")
            // Nothing listens there: a REST call the node makes fails at once (and shows
            // in its log) instead of reaching anything real.
            .env("TWILIO_API_BASE_URL", "http://127.0.0.1:9")
            .env("RUST_LOG", "warn")
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            // As the image runs it (infra/Dockerfile): one malloc arena.
            .env("MALLOC_ARENA_MAX", &spec.malloc_arena_max)
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("node log file")?)
            .stderr(log)
            .spawn()
            .context("starting the node under taskset")?;
        Ok(Self {
            child,
            log: spec.log.clone(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for `/healthz` to answer 200.
    pub async fn wait_healthy(&mut self, addr: SocketAddr, within: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("the node exited at start ({status}); see its log");
            }
            if healthz(addr).await.unwrap_or(false) {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                bail!("the node was not healthy within {within:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM, then up to `within` for the node to drain and exit.
    pub async fn stop(mut self, within: Duration) -> anyhow::Result<String> {
        let pid = self.pid().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .context("kill -TERM")?;
        if !sent.success() {
            bail!("kill -TERM {pid} failed");
        }
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status.to_string());
            }
            if tokio::time::Instant::now() >= deadline {
                self.child.kill()?;
                self.child.wait()?;
                bail!("the node did not exit within {within:?} of SIGTERM; killed");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

async fn healthz(addr: SocketAddr) -> anyhow::Result<bool> {
    let mut tcp = TcpStream::connect(addr).await?;
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        .await?;
    let mut reply = Vec::new();
    tokio::time::timeout(Duration::from_secs(2), tcp.read_to_end(&mut reply)).await??;
    Ok(reply.starts_with(b"HTTP/1.1 200"))
}

/// A free loopback port (bound, then released for the node to take).
pub fn free_addr() -> anyhow::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}

/// Pins a process (all its threads) to one core.
pub fn pin(pid: u32, core: usize) -> anyhow::Result<()> {
    let out = Command::new("taskset")
        .args(["-a", "-cp", &core.to_string(), &pid.to_string()])
        .stdout(Stdio::null())
        .status()
        .context("taskset")?;
    if !out.success() {
        bail!("taskset -a -cp {core} {pid} failed");
    }
    Ok(())
}

/// Raises (or lowers) this process's scheduling priority: its autogroup's nice level
/// (with autogroups, the kernel shares CPU between sessions first, so a plain nice
/// level alone would not outweigh another session's build), and the nice level of its
/// main thread, which threads and children created later inherit.
pub fn prioritize(nice: i32) -> anyhow::Result<()> {
    let autogroup = Path::new("/proc/self/autogroup");
    if autogroup.exists() {
        std::fs::write(autogroup, nice.to_string()).context("setting the autogroup's nice")?;
    }
    renice(std::process::id(), nice)
}

/// Sets the nice level of a process's (main) thread; threads created later inherit it.
pub fn renice(pid: u32, nice: i32) -> anyhow::Result<()> {
    let out = Command::new("renice")
        .args(["-n", &nice.to_string(), "-p", &pid.to_string()])
        .stdout(Stdio::null())
        .status()
        .context("renice")?;
    if !out.success() {
        bail!("renice -n {nice} -p {pid} failed");
    }
    Ok(())
}

/// Clock ticks per second, the unit of `/proc/<pid>/stat` CPU times.
pub fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

/// A process's user + system CPU time, in clock ticks. `pid` `None` is this process.
pub fn cpu_ticks(pid: Option<u32>) -> anyhow::Result<u64> {
    let (user, system) = cpu_split(pid)?;
    Ok(user + system)
}

/// A process's (user, system) CPU time, in clock ticks.
pub fn cpu_split(pid: Option<u32>) -> anyhow::Result<(u64, u64)> {
    let stat = std::fs::read_to_string(proc_path(pid, "stat"))?;
    // The command name may hold spaces: fields are counted after its closing paren.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("odd /proc stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 (utime) and 15 (stime) of proc(5); `rest` starts at field 3.
    let utime: u64 = fields.get(11).context("no utime")?.parse()?;
    let stime: u64 = fields.get(12).context("no stime")?.parse()?;
    Ok((utime, stime))
}

/// One core's time from `/proc/stat`, clock ticks.
#[derive(Debug, Clone, Copy, Default)]
pub struct CoreTimes {
    /// user + nice + system + irq + softirq: whatever ran there, including the kernel's
    /// packet processing, which is not charged to any process.
    pub busy: u64,
    pub softirq: u64,
    pub all: u64,
}

impl CoreTimes {
    pub fn since(self, before: Self) -> Self {
        Self {
            busy: self.busy.saturating_sub(before.busy),
            softirq: self.softirq.saturating_sub(before.softirq),
            all: self.all.saturating_sub(before.all),
        }
    }
}

pub fn core_times(core: usize) -> anyhow::Result<CoreTimes> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let name = format!("cpu{core}");
    let line = stat
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name.as_str()))
        .with_context(|| format!("no {name} in /proc/stat"))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let at = |i: usize| v.get(i).copied().unwrap_or(0);
    // user nice system idle iowait irq softirq steal
    let busy = at(0) + at(1) + at(2) + at(5) + at(6);
    Ok(CoreTimes {
        busy,
        softirq: at(6),
        all: busy + at(3) + at(4) + at(7),
    })
}

/// Resident set size, bytes.
pub fn rss_bytes(pid: Option<u32>) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(proc_path(pid, "status"))?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .context("no VmRSS")?
        .trim()
        .parse()?;
    Ok(kib * 1024)
}

fn proc_path(pid: Option<u32>, file: &str) -> PathBuf {
    match pid {
        Some(pid) => PathBuf::from(format!("/proc/{pid}/{file}")),
        None => PathBuf::from(format!("/proc/self/{file}")),
    }
}
