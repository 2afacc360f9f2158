//! `hotline up` as a user runs it: a real process, driven over HTTP and WebSocket by the
//! phone simulator, read back with `hotline calls`, restarted, and run on AWS (moto).

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use hotline_core::{AccountSid, CallSid, RecordingSid};
use hotline_sim::moto::REGION;
use hotline_sim::phone::{AfterCall, AudioSource, CallSpec, Phone, Segment, hangup_on_api_update};
use hotline_sim::recording::silent_mp3;
use hotline_sim::twilio_callbacks::{RecordingCallback, post_signed};
use hotline_sim::twilio_rest::FakeTwilio;
use hotline_testkit::store::{AwsResources, QueueSpec};

const ACCOUNT: &str = "AC5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e";
const TOKEN: &str = "0a9b8c7d6e5f40312a3b4c5d6e7f8091";
const NUMBER: &str = "+15550123456";

fn free_addr() -> String {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").to_string()
}

/// The environment of one `hotline` installation.
struct Install {
    env: Vec<(String, String)>,
    http: String,
    stream: String,
}

impl Install {
    fn new(extra: &[(&str, &str)], twilio_api: &str) -> Self {
        let http = free_addr();
        let stream = free_addr();
        let mut env: Vec<(String, String)> = [
            ("HOTLINE_HTTP_ADDR", http.as_str()),
            ("HOTLINE_STREAM_ADDR", stream.as_str()),
            ("TWILIO_ACCOUNT_SID", ACCOUNT),
            ("TWILIO_AUTH_TOKEN", TOKEN),
            ("TWILIO_PHONE_NUMBER", NUMBER),
            ("TWILIO_API_BASE_URL", twilio_api),
            ("RUST_LOG", "info"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        env.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        Self { env, http, stream }
    }

    /// An installation on AWS: the resources made on moto for this test.
    fn aws(aws: &AwsResources, twilio_api: &str) -> Self {
        Self::new(
            &[
                ("HOTLINE_STORE", "aws"),
                ("HOTLINE_TABLE", &aws.table),
                ("HOTLINE_BUCKET", &aws.bucket),
                ("HOTLINE_POSTCALL_QUEUE_URL", aws.queue.url()),
                ("HOTLINE_KMS_KEY_ID", &aws.kms_key),
                ("AWS_ENDPOINT_URL", &aws.endpoint),
                ("AWS_REGION", REGION),
                ("AWS_ACCESS_KEY_ID", "test"),
                ("AWS_SECRET_ACCESS_KEY", "test"),
            ],
            twilio_api,
        )
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hotline"));
        cmd.args(args)
            .env_remove("OPENAI_API_KEY")
            .env_remove("HOTLINE_STORE")
            .env_remove("HOTLINE_PUBLIC_URL")
            .env_remove("HOTLINE_STREAM_PUBLIC_URL")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        cmd
    }

    async fn up(&self) -> Up {
        self.up_with(&["up"]).await
    }

    async fn up_with(&self, args: &[&str]) -> Up {
        let child = self
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("hotline up");
        let up = Up { child };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while !healthy(&self.stream).await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "hotline up never got ready"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        up
    }

    fn calls_json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.command(args).output().expect("hotline calls");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("JSON")
    }
}

struct Up {
    child: Child,
}

impl Up {
    /// SIGTERM, as a process manager stops it, then wait.
    fn stop(mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while self.child.try_wait().expect("wait").is_none() {
            assert!(
                std::time::Instant::now() < deadline,
                "hotline up ignored SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn healthy(addr: &str) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else {
        return false;
    };
    let req = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).await.is_err() {
        return false;
    }
    let mut out = String::new();
    let _ = s.read_to_string(&mut out).await;
    out.starts_with("HTTP/1.1 200")
}

async fn raw_post(addr: &str, path: &str, body: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    out.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status")
}

/// One simulated call to the demo number; returns its CallSid.
async fn place_call(install: &Install, twilio: &FakeTwilio) -> String {
    dial(install, twilio, true).await
}

/// A call to the demo number, with or without Twilio's recording callback after it.
async fn dial(install: &Install, twilio: &FakeTwilio, recording_callback: bool) -> String {
    let sid = hotline_sim::phone::new_call_sid();
    twilio.add_call(sid.as_str());
    let mut spec = CallSpec::new(
        format!("http://{}/twilio/voice", install.http),
        AccountSid::parse(ACCOUNT).expect("sid"),
        TOKEN,
    );
    spec.call_sid = Some(sid.clone());
    spec.to = NUMBER.into();
    spec.audio = AudioSource::Script(vec![
        Segment::Silence { ms: 3000 },
        Segment::Speech { ms: 800 },
        Segment::Silence { ms: 3000 },
    ]);
    spec.duration = Duration::from_secs(6);
    spec.hangup = Some(hangup_on_api_update(twilio.subscribe(), &sid));
    spec.after_call = AfterCall {
        recording_callback,
        status_callback: Some(format!("http://{}/twilio/status", install.http)),
    };
    let report = Phone::call(spec, None).await.expect("call");
    let expected = recording_callback.then_some(204);
    assert_eq!(report.recording_callback_status, expected, "{report:?}");
    assert_eq!(report.status_callback_status, Some(204), "{report:?}");
    assert_eq!(report.http_status, 200, "{report:?}");
    assert!(report.stream_sid.is_some(), "the stream opened");
    assert!(
        report.bytes_heard >= 8 * 1000,
        "the agent was heard: {report:?}"
    );
    sid.to_string()
}

/// The phone's recording callback started the post-call pipeline: it runs to the end,
/// downloads the recording once, and a repeated callback changes nothing.
async fn postcall_completes(install: &Install, twilio: &FakeTwilio, sid: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let record = loop {
        let record = install.calls_json(&["calls", "show", sid, "--json"]);
        if !record["post_call"]["completed_at"].is_null() {
            break record;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "post-call never finished: {record}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let stages = &record["post_call"]["stages"];
    for stage in ["recording", "transcript", "analysis", "todos", "contact"] {
        assert_eq!(stages[stage]["status"], "done", "{stage}: {record}");
    }
    // The demo organization has no report recipients or webhook by default.
    assert_eq!(stages["report_email"]["status"], "skipped", "{record}");
    assert_eq!(stages["report_webhook"]["status"], "skipped", "{record}");
    assert_eq!(record["post_call"]["transcript"]["source"], "recording");
    let key = format!("recordings/demo/{sid}.mp3");
    assert_eq!(record["recording"]["blob_key"], key.as_str(), "{record}");
    assert!(record["post_call"]["analysis"]["summary"]["value"].is_object());

    let recording = record["recording"]["sid"].as_str().expect("recording sid");
    let downloads = || {
        twilio
            .requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path.ends_with(&format!("{recording}.mp3")))
            .count()
    };
    assert_eq!(downloads(), 1);
    // Twilio retries a callback it did not see answered: the same one again.
    let mut again = RecordingCallback::completed(
        AccountSid::parse(ACCOUNT).expect("sid"),
        CallSid::parse(sid).expect("call sid"),
        6,
    );
    again.recording_sid = RecordingSid::parse(recording).expect("recording sid");
    let (status, _) = post_signed(
        &reqwest::Client::new(),
        &format!("http://{}/twilio/recording", install.http),
        TOKEN,
        &again.params(),
    )
    .await
    .expect("post");
    assert_eq!(status, 204);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(downloads(), 1, "a repeated callback starts no second job");
    let after = install.calls_json(&["calls", "show", sid, "--json"]);
    assert_eq!(after["post_call"], record["post_call"]);
}

async fn full_flow(install: &Install, twilio: &FakeTwilio, data_survives_restart: bool) {
    let up = install.up().await;
    assert_eq!(
        raw_post(&install.http, "/twilio/voice", "AccountSid=AC5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e&CallSid=CA00000000000000000000000000000001").await,
        403,
        "unsigned webhooks are refused"
    );
    let sid = place_call(install, twilio).await;

    // The record is readable by another process with the same environment.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let record = loop {
        let record = install.calls_json(&["calls", "show", &sid, "--json"]);
        if !record["outcome"].is_null() {
            break record;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never finalized: {record}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(record["status"], "completed");
    assert_eq!(record["outcome"]["reason"], "caller_hung_up");
    assert!(record["stream_token"].is_null(), "secrets are not printed");
    let turns = record["turns"].as_array().expect("turns");
    assert!(turns.iter().any(|t| t["speaker"] == "agent"), "{record}");
    assert!(turns.iter().any(|t| t["speaker"] == "caller"), "{record}");
    postcall_completes(install, twilio, &sid).await;

    up.stop();
    if data_survives_restart {
        let up = install.up().await;
        let listed = install.calls_json(&["calls", "--json"]);
        let sids: Vec<&str> = listed
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|c| c["sid"].as_str())
            .collect();
        assert_eq!(sids, [sid.as_str()], "the call survived the restart");
        assert!(
            listed
                .as_array()
                .expect("list")
                .iter()
                .all(|c| c.get("stream_token").is_none()),
            "listed calls carry no per-call secret: {listed}"
        );
        // And the restarted stack still answers calls on the same number.
        place_call(install, twilio).await;
        up.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hotline_up_serves_a_whole_call_on_the_local_store_and_keeps_it() {
    let twilio = FakeTwilio::start().await.expect("fake twilio");
    twilio.add_account(ACCOUNT, TOKEN);
    twilio.record_every_call(silent_mp3(Duration::from_secs(6)));
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_str().expect("utf-8 path");
    let install = Install::new(&[("HOTLINE_DATA_DIR", data)], twilio.base_url());
    full_flow(&install, &twilio, true).await;
    assert!(Path::new(data).join("hotline.sqlite3").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hotline_up_runs_the_same_flow_on_aws() {
    let twilio = FakeTwilio::start().await.expect("fake twilio");
    twilio.add_account(ACCOUNT, TOKEN);
    twilio.record_every_call(silent_mp3(Duration::from_secs(6)));
    let aws = AwsResources::create(QueueSpec {
        name: "up",
        visibility: Duration::from_secs(30),
        max_receives: 5,
    })
    .await;
    let install = Install::aws(&aws, twilio.base_url());
    full_flow(&install, &twilio, true).await;
}

/// Runs `hotline` to the end; its exit status, stdout and stderr.
fn run(install: &Install, args: &[&str]) -> (bool, String, String) {
    let out = install.command(args).output().expect("hotline");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A configuration as a user writes one: secrets from the environment, two agents.
fn clinic_yaml(instructions: &str) -> String {
    format!(
        r#"# Our clinic
organizations:
  - id: clinic
    name: "Downtown Clinic"
    twilio:
      account_sid: "${{TWILIO_ACCOUNT_SID}}"
      auth_token: "${{TWILIO_AUTH_TOKEN}}"
    reports:
      emails: [office@clinic.example]
    agents:
      - id: front-desk
        provider: openai_realtime
        voice: marin
        instructions: "{instructions}"
        tools:
          - name: end_call
            type: end_call
        limits:
          max_duration_secs: ${{MAX_CALL_SECS:-900}}
      - id: after-hours
        provider: openai_realtime
        voice: cedar
        greeting: "We are closed; I can take a message."
        instructions: Take a message.
    numbers:
      - number: "${{TWILIO_PHONE_NUMBER}}"
        agent: front-desk
"#
    )
}

/// `hotline apply` as an operator runs it against one store.
fn apply_flow(install: &Install, dir: &Path) {
    let file = dir.join("hotline.yaml");
    let path = file.to_str().expect("utf-8");
    std::fs::write(&file, clinic_yaml("You answer for the clinic.")).expect("write");

    let (ok, out, err) = run(install, &["apply", "-f", path, "--dry-run"]);
    assert!(ok, "{err}");
    assert!(out.contains("+ create organization clinic"), "{out}");
    assert!(out.contains("+ create agent clinic/front-desk"), "{out}");
    assert!(
        out.contains(&format!("+ create number {NUMBER} → clinic/front-desk")),
        "{out}"
    );
    assert!(
        out.contains("4 to create, 0 to change, 0 unchanged (dry run: nothing written)"),
        "{out}"
    );
    assert!(
        !out.contains(TOKEN) && !err.contains(TOKEN),
        "the token is never printed"
    );
    // A dry run wrote nothing: the same plan again.
    let (_, again, _) = run(install, &["apply", "-f", path, "--dry-run"]);
    assert!(again.contains("4 to create"), "{again}");

    let (ok, out, err) = run(install, &["apply", "-f", path]);
    assert!(ok, "{err}");
    assert!(
        out.contains("4 to create, 0 to change, 0 unchanged"),
        "{out}"
    );
    let (ok, out, err) = run(install, &["apply", "-f", path]);
    assert!(ok, "{err}");
    assert!(
        out.contains("0 to create, 0 to change, 4 unchanged"),
        "applying twice changes nothing: {out}"
    );

    std::fs::write(&file, clinic_yaml("You answer for the clinic, in French.")).expect("write");
    let (ok, out, err) = run(install, &["apply", "-f", path]);
    assert!(ok, "{err}");
    assert!(
        out.contains("~ change agent clinic/front-desk: instructions"),
        "{out}"
    );
    assert!(
        out.contains("0 to create, 1 to change, 3 unchanged"),
        "{out}"
    );

    // Another organization may not take the clinic's number (nor its account).
    let rival = dir.join("rival.yaml");
    std::fs::write(
        &rival,
        format!(
            "organizations:\n  - id: rival\n    twilio:\n      account_sid: AC{}\n      auth_token: x\n    agents:\n      - {{id: a, provider: pipeline, voice: v, instructions: i}}\n    numbers:\n      - {{number: \"{NUMBER}\", agent: a}}\n",
            "ab".repeat(16)
        ),
    )
    .expect("write");
    let (ok, _, err) = run(install, &["apply", "-f", rival.to_str().expect("utf-8")]);
    assert!(!ok, "a taken number is refused");
    assert!(
        err.contains(&format!("number {NUMBER} belongs to another organization")),
        "{err}"
    );
    let (_, out, _) = run(install, &["apply", "-f", path, "--dry-run"]);
    assert!(
        out.contains("0 to create, 0 to change, 4 unchanged"),
        "nothing of the clinic moved: {out}"
    );

    // Mistakes name where they are.
    std::fs::write(
        &file,
        clinic_yaml("x").replace(
            "provider: openai_realtime\n        voice: cedar",
            "provider: gemni\n        voice: cedar",
        ),
    )
    .expect("write");
    let (ok, _, err) = run(install, &["apply", "-f", path]);
    assert!(!ok);
    assert!(
        err.contains("organizations[0].agents[1].provider: unknown value \"gemni\""),
        "{err}"
    );
    std::fs::write(
        &file,
        clinic_yaml("x").replace("TWILIO_PHONE_NUMBER", "CLINIC_NUMBER"),
    )
    .expect("write");
    let (ok, _, err) = run(install, &["apply", "-f", path]);
    assert!(!ok);
    assert!(
        err.contains("line 26: ${CLINIC_NUMBER} is not set and has no default"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hotline_apply_configures_the_local_store_and_up_serves_the_file() {
    let twilio = FakeTwilio::start().await.expect("fake twilio");
    twilio.add_account(ACCOUNT, TOKEN);
    twilio.record_every_call(silent_mp3(Duration::from_secs(6)));
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let install = Install::new(
        &[("HOTLINE_DATA_DIR", data.to_str().expect("utf-8"))],
        twilio.base_url(),
    );
    apply_flow(&install, dir.path());

    // `hotline up --config` applies the file at start and answers its number.
    std::fs::write(
        dir.path().join("hotline.yaml"),
        clinic_yaml("You answer for the clinic."),
    )
    .expect("write");
    let file = dir.path().join("hotline.yaml");
    let up = install
        .up_with(&["up", "--config", file.to_str().expect("utf-8")])
        .await;
    let sid = place_call(&install, &twilio).await;
    let record = install.calls_json(&["calls", "show", &sid, "--json", "--org", "clinic"]);
    assert_eq!(record["org"], "clinic", "{record}");
    assert_eq!(record["agent"], "front-desk", "{record}");
    up.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hotline_apply_configures_aws() {
    let aws = AwsResources::create(QueueSpec {
        name: "apply",
        visibility: Duration::from_secs(30),
        max_receives: 5,
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let install = Install::aws(&aws, "http://127.0.0.1:9");
    apply_flow(&install, dir.path());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hotline_up_sweeps_a_call_whose_recording_callback_never_came() {
    let twilio = FakeTwilio::start().await.expect("fake twilio");
    twilio.add_account(ACCOUNT, TOKEN);
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_str().expect("utf-8 path");
    let install = Install::new(
        &[
            ("HOTLINE_DATA_DIR", data),
            ("HOTLINE_SWEEP_SECS", "1"),
            ("HOTLINE_SWEEP_AFTER_SECS", "1"),
        ],
        twilio.base_url(),
    );
    let up = install.up().await;
    let sid = dial(&install, &twilio, false).await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let record = loop {
        let record = install.calls_json(&["calls", "show", &sid, "--json"]);
        if !record["post_call"]["completed_at"].is_null() {
            break record;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the sweeper never requested the job: {record}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    // Twilio was asked for the call's recordings; it had none, so the live turns are
    // the transcript.
    let listed = format!("/Calls/{sid}/Recordings.json");
    assert!(
        twilio.requests().iter().any(|r| r.path.ends_with(&listed)),
        "recordings never listed"
    );
    let stages = &record["post_call"]["stages"];
    assert_eq!(stages["recording"]["status"], "skipped", "{record}");
    assert_eq!(stages["transcript"]["status"], "done", "{record}");
    assert_eq!(
        record["post_call"]["transcript"]["source"], "live",
        "{record}"
    );
    assert_eq!(record["post_call"]["attempts"], 1, "one job: {record}");
    up.stop();
}

/// The first line of `up`'s output that starts with `prefix` (trimmed), within 30 s.
fn banner_line(up: &mut Up, prefix: &str) -> String {
    use std::io::BufRead as _;
    let stdout = up.child.stdout.take().expect("stdout piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = rx.recv_timeout(left).expect("the banner names it");
        if let Some(rest) = line.trim().strip_prefix(prefix) {
            return rest.trim().to_owned();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hotline_up_prints_an_api_key_that_reads_the_demo_organization() {
    let twilio = FakeTwilio::start().await.expect("fake twilio");
    twilio.add_account(ACCOUNT, TOKEN);
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_str().expect("utf-8 path");
    let install = Install::new(&[("HOTLINE_DATA_DIR", data)], twilio.base_url());
    let mut up = install.up().await;
    let line = banner_line(&mut up, "API key");
    let key = line.split_whitespace().next().expect("the key").to_owned();
    assert!(key.starts_with("hk_"), "{line}");

    let client = reqwest::Client::new();
    let agents = format!("http://{}/api/v1/agents", install.http);
    let resp = client
        .get(&agents)
        .bearer_auth(&key)
        .send()
        .await
        .expect("GET agents");
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.expect("JSON");
    let agents_listed = body["agents"].as_array().expect("agents");
    assert!(!agents_listed.is_empty(), "{body}");
    let id = agents_listed[0]["id"].as_str().expect("id").to_owned();
    let one = client
        .get(format!("http://{}/api/v1/agents/{id}", install.http))
        .bearer_auth(&key)
        .send()
        .await
        .expect("GET agent");
    assert_eq!(one.status(), 200);
    let refused = client.get(&agents).send().await.expect("GET without a key");
    assert_eq!(refused.status(), 401);
    assert_eq!(
        refused.headers()["content-type"].to_str().expect("type"),
        "application/problem+json"
    );
    let doc = client
        .get(format!("http://{}/api/v1/openapi.json", install.http))
        .send()
        .await
        .expect("GET document");
    assert_eq!(doc.status(), 200);

    // `hotline keys` on the same store: a viewer key reads and is refused a write.
    let out = install
        .command(&["keys", "create", "--org", "demo", "--role", "viewer"])
        .output()
        .expect("keys create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let viewer = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let agent: serde_json::Value = one.json().await.expect("agent");
    let mut write = agent.clone();
    write.as_object_mut().expect("object").remove("id");
    let forbidden = client
        .put(format!("http://{}/api/v1/agents/{id}", install.http))
        .bearer_auth(&viewer)
        .json(&write)
        .send()
        .await
        .expect("PUT");
    assert_eq!(forbidden.status(), 403);
    let listed = install
        .command(&["keys", "list", "--org", "demo"])
        .output()
        .expect("keys list");
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(
        listed.contains("viewer") && !listed.contains(&viewer),
        "{listed}"
    );
    // The query string reaches the function through the gateway's Lambda event.
    let page: serde_json::Value = client
        .get(format!(
            "http://{}/api/v1/calls?limit=1&status=completed",
            install.http
        ))
        .bearer_auth(&viewer)
        .send()
        .await
        .expect("GET calls")
        .json()
        .await
        .expect("JSON");
    assert!(page["calls"].is_array(), "{page}");
    let bad = client
        .get(format!("http://{}/api/v1/calls?limit=0", install.http))
        .bearer_auth(&viewer)
        .send()
        .await
        .expect("GET calls");
    assert_eq!(bad.status(), 400);

    // Revoked from another process, the key stops working at once.
    let viewer_id = listed
        .lines()
        .find(|l| l.contains(" viewer "))
        .and_then(|l| l.split_whitespace().next())
        .expect("the viewer key's id")
        .to_owned();
    let out = install
        .command(&["keys", "revoke", "--org", "demo", &viewer_id])
        .output()
        .expect("keys revoke");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let revoked = client
        .get(&agents)
        .bearer_auth(&viewer)
        .send()
        .await
        .expect("GET agents");
    assert_eq!(revoked.status(), 401);
    let unknown = install
        .command(&["keys", "create", "--org", "nobody", "--role", "admin"])
        .output()
        .expect("keys create");
    assert!(
        !unknown.status.success(),
        "a key for an organization that does not exist"
    );
    up.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hotline_sms_texts_the_running_stack_and_prints_the_reply() {
    let twilio = FakeTwilio::start().await.expect("fake twilio");
    twilio.add_account(ACCOUNT, TOKEN);
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_str().expect("utf-8 path");
    let install = Install::new(&[("HOTLINE_DATA_DIR", data)], twilio.base_url());
    let up = install.up().await;
    assert_eq!(
        raw_post(&install.http, "/twilio/sms", "AccountSid=AC5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e&MessageSid=SM00000000000000000000000000000001").await,
        403,
        "unsigned texts are refused"
    );
    let (ok, out, err) = run(
        &install,
        &["sms", "--to", NUMBER, "Can I move my cleaning?"],
    );
    assert!(ok, "{err}");
    assert!(out.contains("Thanks for your text!"), "{out}");
    // Twilio's retry of the same message gets the same answer.
    let sid = "SM0123456789abcdef0123456789abcdef";
    let (ok, first, err) = run(
        &install,
        &["sms", "--to", NUMBER, "--message-sid", sid, "Hi"],
    );
    assert!(ok, "{err}");
    let (ok, again, err) = run(
        &install,
        &["sms", "--to", NUMBER, "--message-sid", sid, "Hi"],
    );
    assert!(ok, "{err}");
    assert_eq!(first, again);
    // An opt-out is recorded, not answered.
    let (ok, out, err) = run(&install, &["sms", "--to", NUMBER, "STOP"]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "(no reply)");
    up.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_added_with_hotline_users_signs_in_to_the_running_stack() {
    let twilio = FakeTwilio::start().await.expect("fake twilio");
    twilio.add_account(ACCOUNT, TOKEN);
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_str().expect("utf-8 path");
    let install = Install::new(&[("HOTLINE_DATA_DIR", data)], twilio.base_url());
    let up = install.up().await;

    let password = "a passphrase long enough";
    let mut add = install
        .command(&[
            "users",
            "add",
            "--org",
            "demo",
            "--email",
            "Ana@Example.com",
            "--role",
            "admin",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("users add");
    {
        use std::io::Write as _;
        let mut stdin = add.stdin.take().expect("stdin");
        writeln!(stdin, "{password}").expect("write the password");
    }
    let out = add.wait_with_output().expect("users add");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (ok, listed, _) = run(&install, &["users", "list", "--org", "demo"]);
    assert!(
        ok && listed.contains("ana@example.com") && listed.contains("admin"),
        "{listed}"
    );

    let client = reqwest::Client::new();
    let api = format!("http://{}/api/v1", install.http);
    let resp = client
        .post(format!("{api}/session"))
        .json(&serde_json::json!({"email": "ana@example.com", "password": password}))
        .send()
        .await
        .expect("sign in");
    assert_eq!(resp.status(), 200);
    let set_cookie = resp.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_owned();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"),
        "{set_cookie}"
    );
    let cookie = set_cookie.split(';').next().expect("name=value").to_owned();
    let body: serde_json::Value = resp.json().await.expect("JSON");
    let csrf = body["csrf_token"].as_str().expect("csrf").to_owned();

    let me: serde_json::Value = client
        .get(format!("{api}/session"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("who am I")
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        (me["org"].as_str(), me["role"].as_str()),
        (Some("demo"), Some("admin"))
    );
    let forged = client
        .patch(format!("{api}/organization"))
        .header("cookie", &cookie)
        .json(&serde_json::json!({"name": "Demo Inc"}))
        .send()
        .await
        .expect("PATCH");
    assert_eq!(forged.status(), 403);
    // The right token from another site's page: refused by its origin.
    let elsewhere = client
        .patch(format!("{api}/organization"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .header("origin", "https://evil.example")
        .json(&serde_json::json!({"name": "Evil Inc"}))
        .send()
        .await
        .expect("PATCH");
    assert_eq!(elsewhere.status(), 403);
    let origin = api.trim_end_matches("/api/v1").to_owned();
    let patched = client
        .patch(format!("{api}/organization"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .header("origin", &origin)
        .json(&serde_json::json!({"name": "Demo Inc"}))
        .send()
        .await
        .expect("PATCH");
    assert_eq!(patched.status(), 200);

    // The start's apply and the person's change, in the organization's audit log.
    let audit: serde_json::Value = client
        .get(format!("{api}/audit"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("audit")
        .json()
        .await
        .expect("JSON");
    let entries = audit["entries"].as_array().expect("entries");
    assert_eq!(entries[0]["action"], "organization.update", "{audit}");
    assert_eq!(entries[0]["after"]["name"], "Demo Inc");
    assert!(
        entries
            .iter()
            .any(|e| e["actor"] == "hotline apply" && e["action"] == "organization.create"),
        "{audit}"
    );

    let out = client
        .delete(format!("{api}/session"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .header("origin", &origin)
        .send()
        .await
        .expect("sign out");
    assert_eq!(out.status(), 204);
    let after = client
        .get(format!("{api}/session"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("who am I");
    assert_eq!(after.status(), 401);
    up.stop();
}

/// What the API gives about a call is usable from outside: its recording through a
/// short-lived link `hotline up` serves (refused once altered or expired), its contact
/// editable by a person whose edit the next call's enrichment leaves alone; and the key
/// printed at start is the same after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hotline_up_links_recordings_keeps_a_persons_contact_edit_and_its_key() {
    use hotline_core::ports::BlobKey;
    use hotline_store::local::SignedLinks;

    let twilio = FakeTwilio::start().await.expect("fake twilio");
    twilio.add_account(ACCOUNT, TOKEN);
    let media = silent_mp3(Duration::from_secs(6));
    twilio.record_every_call(media.clone());
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_str().expect("utf-8 path");
    let install = Install::new(&[("HOTLINE_DATA_DIR", data)], twilio.base_url());
    let mut up = install.up().await;
    let key = banner_line(&mut up, "API key");
    let key = key.split_whitespace().next().expect("the key").to_owned();
    let base = format!("http://{}", install.http);
    let client = reqwest::Client::new();
    let api = |path: String| {
        let client = client.clone();
        let (url, key) = (format!("{base}{path}"), key.clone());
        async move {
            let resp = client
                .get(&url)
                .bearer_auth(&key)
                .send()
                .await
                .expect("GET");
            assert_eq!(resp.status(), 200, "{url}");
            resp.json::<serde_json::Value>().await.expect("JSON")
        }
    };

    let sid = place_call(&install, &twilio).await;
    postcall_completes(&install, &twilio, &sid).await;
    let call = api(format!("/api/v1/calls/{sid}")).await;
    let link = call["recording_url"]
        .as_str()
        .expect("recording link")
        .to_owned();
    assert!(link.starts_with(&format!("{base}/blobs/")), "{link}");
    let got = client.get(&link).send().await.expect("GET link");
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.expect("body").to_vec(), media);
    let transcript = call["transcript_url"].as_str().expect("transcript link");
    assert_eq!(
        client.get(transcript).send().await.expect("GET").status(),
        200
    );
    // Altered: refused.
    let forged = format!(
        "{}0",
        link.trim_end_matches(|c: char| c.is_ascii_hexdigit())
    );
    assert_eq!(client.get(&forged).send().await.expect("GET").status(), 403);
    let other_blob = link.replace(&sid, &format!("CA{}", "0".repeat(32)));
    assert_eq!(
        client.get(&other_blob).send().await.expect("GET").status(),
        403
    );
    // Signed with the right secret but expired: refused.
    let secret = std::fs::read(dir.path().join("link-secret")).expect("the link secret");
    let recording = BlobKey::parse(&format!("recordings/demo/{sid}.mp3")).expect("key");
    let expired = SignedLinks::new(&base, secret.clone()).link_until(
        &recording,
        chrono::Utc::now() - chrono::Duration::seconds(5),
    );
    assert_eq!(
        client.get(&expired).send().await.expect("GET").status(),
        403
    );
    let fresh = SignedLinks::new(&base, secret).link_until(
        &recording,
        chrono::Utc::now() + chrono::Duration::minutes(1),
    );
    assert_eq!(client.get(&fresh).send().await.expect("GET").status(), 200);

    // A person edits the caller's notes and name; the next call's contact stage (which
    // `postcall_completes` sees done) adds nothing over them, where it would otherwise
    // append what it learned to the notes.
    let phone = call["contact"].as_str().expect("contact").to_owned();
    let contact = api(format!("/api/v1/contacts/{phone}")).await;
    let learned = contact["notes"].as_str().expect("learned notes").to_owned();
    assert_eq!(learned.lines().count(), 1, "{contact}");
    let edited = client
        .patch(format!("{base}/api/v1/contacts/{phone}"))
        .bearer_auth(&key)
        .json(&serde_json::json!({"name": "Dr. Dana Lee", "notes": "VIP, call mornings"}))
        .send()
        .await
        .expect("PATCH");
    assert_eq!(edited.status(), 200);
    let second = place_call(&install, &twilio).await;
    postcall_completes(&install, &twilio, &second).await;
    let contact = api(format!("/api/v1/contacts/{phone}")).await;
    assert_eq!(contact["name"], "Dr. Dana Lee", "{contact}");
    assert_eq!(contact["notes"], "VIP, call mornings", "{contact}");
    assert_eq!(contact["edited"], serde_json::json!(["name", "notes"]));

    // The same key after a restart, and it still works.
    up.stop();
    let mut up = install.up().await;
    let again = banner_line(&mut up, "API key");
    assert_eq!(again.split_whitespace().next(), Some(key.as_str()));
    api("/api/v1/todos".into()).await;
    up.stop();
}

/// The issue's "done when": a CSV imported, a campaign started and watched to its end
/// with `hotline campaign`, on `hotline up` dialing every `HOTLINE_DIALER_SECS`, the
/// callees played by the Twilio simulator (a person, busy then a person, a machine).
#[tokio::test]
async fn hotline_campaign_imports_a_csv_and_is_watched_to_its_end_with_a_retry() {
    use chrono::Timelike;
    use hotline_sim::twilio_rest::{Callee, OutboundTiming};

    let twilio = FakeTwilio::start().await.expect("fake twilio");
    twilio.add_account(ACCOUNT, TOKEN);
    twilio.place_outbound_calls(OutboundTiming {
        ring: Duration::from_millis(100),
        no_answer_after: Duration::from_millis(300),
        hello: Duration::from_millis(300),
        verdict_delay: Duration::from_millis(300),
        human_talk: Duration::from_millis(1500),
        greeting: Duration::from_millis(600),
        beep: Duration::from_millis(200),
    });
    twilio.set_callee("+12125550100", Callee::Human);
    twilio.set_callees("+12125550101", &[Callee::Busy, Callee::Human]);
    twilio.set_callee("+12125550102", Callee::Voicemail);
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_str().expect("utf-8");
    let install = Install::new(
        &[("HOTLINE_DATA_DIR", data), ("HOTLINE_DIALER_SECS", "1")],
        twilio.base_url(),
    );
    let up = install.up().await;

    // Leads in UTC, in a window open for the next two hours.
    let hour = chrono::Utc::now().hour();
    let window = format!("{:02}:00-{:02}:00", (hour + 23) % 24, (hour + 2) % 24);
    let (ok, id, err) = run(
        &install,
        &[
            "campaign",
            "create",
            "--name",
            "Recall",
            "--agent",
            hotline_local::configure::DEMO_AGENT,
            "--from",
            NUMBER,
            "--cooldown",
            "1",
            "--retry-on",
            "busy,no-answer",
            "--window",
            &window,
            "--concurrency",
            "2",
            "--cps",
            "2",
        ],
    );
    assert!(ok, "{err}");
    let id = id.trim().to_owned();
    assert!(id.starts_with("cp_"), "{id}");
    let csv = dir.path().join("leads.csv");
    std::fs::write(
        &csv,
        "Phone,Name,Zone,Visit\n+12125550100,Ada,UTC,Monday\nnot a number,Bo,UTC,\n+12125550101,Cy,UTC,Tuesday\n+12125550102,Di,UTC,\n",
    )
    .expect("csv");
    let (ok, out, err) = run(
        &install,
        &[
            "campaign",
            "import",
            &id,
            csv.to_str().expect("utf-8"),
            "--phone-column",
            "Phone",
            "--name-column",
            "Name",
            "--timezone-column",
            "Zone",
        ],
    );
    assert!(ok, "{err}");
    assert!(out.contains("imported 3 leads; 1 rows refused"), "{out}");
    assert!(out.contains("line 3: phone"), "{out}");
    let (ok, out, err) = run(&install, &["campaign", "start", &id]);
    assert!(ok && out.contains("running"), "{out}{err}");

    // `status --watch` follows it to the end and returns.
    let mut watch = install
        .command(&["campaign", "status", &id, "--watch"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("status --watch");
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while watch.try_wait().expect("wait").is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the campaign never completed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let out = watch.wait_with_output().expect("output");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = String::from_utf8_lossy(&out.stdout);
    let last = out.rsplit(&id).next().unwrap_or_default();
    assert!(out.contains(&format!("{id}  completed")), "{out}");
    assert!(last.contains("finished 3"), "{out}");
    assert!(
        last.contains("human 2") && last.contains("machine 1"),
        "{out}"
    );
    assert!(last.contains("busy → human"), "{out}");

    let (ok, out, _) = run(&install, &["campaign", "status", &id, "--json"]);
    assert!(ok);
    let status: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(status["campaign"]["counts"]["attempts"], 4, "{status}");
    up.stop();
}

/// With the standard OTLP variables set, `hotline up` exports the call as a trace (the
/// call, the provider's connect, each timed turn inside the call) and the latency
/// histograms, to a collector it knows only by those variables.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hotline_up_exports_the_call_its_turns_and_latency_over_otlp() {
    let collector = hotline_sim::otlp::Collector::start()
        .await
        .expect("collector");
    let twilio = FakeTwilio::start().await.expect("fake twilio");
    twilio.add_account(ACCOUNT, TOKEN);
    let dir = tempfile::tempdir().expect("tempdir");
    let endpoint = collector.endpoint();
    let install = Install::new(
        &[
            ("HOTLINE_DATA_DIR", dir.path().to_str().expect("utf-8 path")),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_SERVICE_NAME", "hotline-under-test"),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "300"),
        ],
        twilio.base_url(),
    );
    let up = install.up().await;
    let sid = dial(&install, &twilio, false).await;

    let spans = collector
        .wait_for_spans(
            |spans| {
                spans
                    .iter()
                    .any(|s| s.name == "call" && s.attribute("call_sid") == Some(&sid))
                    && spans
                        .iter()
                        .any(|s| s.name == "turn" && s.attribute("heard_ms").is_some())
            },
            Duration::from_secs(30),
        )
        .await
        .unwrap_or_else(|| {
            panic!(
                "no call with a heard turn exported: {:?}",
                collector.spans()
            )
        });
    let call = spans
        .iter()
        .find(|s| s.name == "call" && s.attribute("call_sid") == Some(&sid))
        .expect("call span");
    assert_eq!(call.service.as_deref(), Some("hotline-under-test"));
    assert!(
        call.parent_span_id.is_empty(),
        "the call is the trace's root: {call:?}"
    );
    assert!(
        call.attribute("stream_sid")
            .is_some_and(|s| s.starts_with("MZ")),
        "{call:?}"
    );
    let inside = |name: &str| {
        spans
            .iter()
            .filter(|s| s.name == name && s.trace_id == call.trace_id)
            .cloned()
            .collect::<Vec<_>>()
    };
    let connects = inside("provider.connect");
    assert_eq!(connects.len(), 1, "{spans:?}");
    assert_eq!(connects[0].parent_span_id, call.span_id);
    assert_eq!(connects[0].attribute("provider"), Some("OpenaiRealtime"));
    let turns = inside("turn");
    let heard = turns
        .iter()
        .find(|t| t.attribute("heard_ms").is_some())
        .expect("a turn the caller heard");
    assert_eq!(
        heard.parent_span_id, call.span_id,
        "turns are inside the call"
    );
    let respond: u64 = heard
        .attribute("respond_ms")
        .expect("respond_ms")
        .parse()
        .expect("ms");
    let heard_ms: u64 = heard
        .attribute("heard_ms")
        .expect("heard_ms")
        .parse()
        .expect("ms");
    assert!(respond <= heard_ms, "{heard:?}");
    // The span lasts from the caller's stop to the echo: its length is the heard time.
    assert!(
        heard.duration().as_millis().abs_diff(u128::from(heard_ms)) < 50,
        "{heard:?}"
    );
    assert!(
        heard.start_unix_nanos >= call.start_unix_nanos
            && heard.end_unix_nanos <= call.end_unix_nanos
    );

    let points = collector
        .wait_for_histograms(
            |points| {
                [
                    "hotline.turn.respond",
                    "hotline.turn.heard",
                    "hotline.provider.connect",
                ]
                .iter()
                .all(|name| points.iter().any(|p| p.metric == *name && p.count > 0))
            },
            Duration::from_secs(30),
        )
        .await
        .unwrap_or_else(|| panic!("latency histograms: {:?}", collector.histograms()));
    let respond_hist = points
        .iter()
        .rev()
        .find(|p| p.metric == "hotline.turn.respond")
        .expect("respond histogram");
    assert_eq!(respond_hist.unit, "ms");
    assert!(
        respond_hist.max.is_some_and(|m| m >= respond as f64),
        "{respond_hist:?}"
    );
    assert_eq!(collector.refused(), 0);
    up.stop();
}

/// What one call costs on AWS comes from what it does there: the call and its post-call
/// run on `hotline up` against moto through a metering proxy, whose counts (requests,
/// bytes and DynamoDB units by operation) `infra/cost.py` prices.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_call_is_metered_on_aws_and_priced_by_the_cost_script() {
    let twilio = FakeTwilio::start().await.expect("fake twilio");
    twilio.add_account(ACCOUNT, TOKEN);
    twilio.record_every_call(silent_mp3(Duration::from_secs(6)));
    let aws = AwsResources::create(QueueSpec {
        name: "cost",
        visibility: Duration::from_secs(30),
        max_receives: 5,
    })
    .await;
    let meter = hotline_sim::meter::AwsMeter::start(&aws.endpoint)
        .await
        .expect("meter");
    let mut install = Install::aws(&aws, twilio.base_url());
    for (k, v) in &mut install.env {
        if k == "AWS_ENDPOINT_URL" {
            *v = meter.endpoint();
        }
    }
    let up = install.up().await;
    // What starting the platform costs is not the call's.
    tokio::time::sleep(Duration::from_secs(2)).await;
    meter.reset();
    let sid = place_call(&install, &twilio).await;
    postcall_completes(&install, &twilio, &sid).await;
    up.stop();

    let usage = meter.usage();
    let count = |op: &str| usage.get(op).map_or(0, |u| u.requests);
    assert!(
        count("dynamodb:PutItem:CALL") > 0,
        "the call's record was written: {usage:?}"
    );
    assert_eq!(count("sqs:SendMessage"), 1, "one post-call job: {usage:?}");
    let recording_bytes = usage.get("s3:PUT").map_or(0, |u| u.request_bytes);
    assert!(recording_bytes > 0, "the recording was stored: {usage:?}");

    let mut measured = meter.usage_json();
    // The Lambda invocations of the call: the webhooks Twilio sent (voice, status,
    // recording), and the post-call worker once per job queued.
    measured["lambda:voice"] = serde_json::json!({"requests": 1});
    measured["lambda:status"] = serde_json::json!({"requests": 1});
    measured["lambda:recording"] = serde_json::json!({"requests": 1});
    measured["lambda:postcall"] = serde_json::json!({"requests": count("sqs:SendMessage")});
    let file = Path::new(env!("CARGO_TARGET_TMPDIR")).join("one-call.json");
    std::fs::write(
        &file,
        serde_json::to_string_pretty(&measured).expect("json"),
    )
    .expect("write");
    eprintln!("measured: {}", file.display());

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../cost.py");
    let priced = Command::new("python3")
        .arg(&script)
        .arg(&file)
        .args(["--minutes", "3", "--recorded-seconds", "6"])
        .output()
        .expect("python3");
    let text = String::from_utf8_lossy(&priced.stdout);
    assert!(
        priced.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&priced.stderr)
    );
    eprintln!("{text}");
    assert!(text.contains("per call-minute"), "{text}");
}
