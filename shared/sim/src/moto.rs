//! A local AWS emulator for tests: moto's server (PyPI `moto[server]`), which the test
//! command installs into the project's `.venv`. One server per test process, on a free
//! loopback port, stopped when the process ends. Tests isolate themselves with fresh
//! table, bucket and queue names, never by skipping: without moto they fail.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum MotoError {
    #[error(
        "moto_server not found at {0}: run tests/run (it installs moto into .venv), \
         or set HOTLINE_MOTO_SERVER, or HOTLINE_TEST_AWS_ENDPOINT to a running emulator"
    )]
    NotInstalled(PathBuf),
    #[error("could not start moto_server: {0}")]
    Spawn(std::io::Error),
    #[error("moto_server did not listen on {0} within {1:?}")]
    NotReady(String, Duration),
    #[error("moto request failed: {0}")]
    Request(String),
}

/// An e-mail as moto's SES recorded it (SES v1 `SendEmail` or v2 simple content).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentEmail {
    /// The message id SES returned.
    pub id: String,
    /// `From` as sent.
    pub source: String,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub bcc: Vec<String>,
    pub subject: String,
    /// Moto keeps one body: the HTML part when there was one, else the text.
    pub body: String,
}

/// A running emulator. Region and credentials are fixed test values.
#[derive(Debug)]
pub struct Moto {
    pub endpoint: String,
    _child: Option<Child>,
}

pub const REGION: &str = "us-east-1";

impl Moto {
    /// The process-wide emulator: `HOTLINE_TEST_AWS_ENDPOINT` if set, otherwise a
    /// `moto_server` started on first use.
    ///
    /// # Panics
    /// When no emulator can be had: tests that need AWS must fail, not skip.
    pub fn shared() -> &'static Self {
        static MOTO: OnceLock<Moto> = OnceLock::new();
        MOTO.get_or_init(|| match Self::start() {
            Ok(m) => m,
            Err(e) => panic!("AWS emulator unavailable: {e}"),
        })
    }

    pub fn start() -> Result<Self, MotoError> {
        if let Ok(endpoint) = std::env::var("HOTLINE_TEST_AWS_ENDPOINT")
            && !endpoint.is_empty()
        {
            return Ok(Self {
                endpoint,
                _child: None,
            });
        }
        let server = std::env::var_os("HOTLINE_MOTO_SERVER").map_or_else(
            || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/moto_server"),
            PathBuf::from,
        );
        if !server.exists() {
            return Err(MotoError::NotInstalled(server));
        }
        let port = free_port().map_err(MotoError::Spawn)?;
        // The shell stays as a watchdog: when this test process is gone, it stops moto, so
        // no emulator outlives the tests that needed it.
        let script = format!(
            "\"$0\" -H 127.0.0.1 -p {port} >/dev/null 2>&1 & m=$!; \
             while kill -0 {parent} 2>/dev/null && kill -0 $m 2>/dev/null; do sleep 1; done; \
             kill $m 2>/dev/null",
            parent = std::process::id()
        );
        let child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg(&server)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(MotoError::Spawn)?;
        let addr = format!("127.0.0.1:{port}");
        let limit = Duration::from_secs(60);
        let started = Instant::now();
        while TcpStream::connect(&addr).is_err() {
            if started.elapsed() > limit {
                return Err(MotoError::NotReady(addr, limit));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(Self {
            endpoint: format!("http://{addr}"),
            _child: Some(child),
        })
    }
}

impl Moto {
    /// Marks `address` (or a whole domain) as a verified SES identity, through SES v1
    /// `VerifyEmailIdentity`: moto verifies at once, and SES v1 and v2 share identities,
    /// so v2 `SendEmail` from it is accepted afterwards. (SES v2 `CreateEmailIdentity`
    /// has the same effect.) Moto refuses mail from any other sender with
    /// `MessageRejected`.
    pub async fn verify_email_identity(&self, address: &str) -> Result<(), MotoError> {
        let response = reqwest::Client::new()
            .post(format!("{}/", self.endpoint))
            // Moto picks the service and region from the credential scope and checks no
            // signature.
            .header(
                "Authorization",
                format!(
                    "AWS4-HMAC-SHA256 Credential=test/20250101/{REGION}/ses/aws4_request, \
                     SignedHeaders=host, Signature=0"
                ),
            )
            .form(&[
                ("Action", "VerifyEmailIdentity"),
                ("Version", "2010-12-01"),
                ("EmailAddress", address),
            ])
            .send()
            .await
            .map_err(|e| MotoError::Request(e.to_string()))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            let body = response.text().await.unwrap_or_default();
            Err(MotoError::Request(format!(
                "VerifyEmailIdentity answered {status}: {body}"
            )))
        }
    }

    /// Every e-mail moto's SES accepted so far, in every account and region, oldest
    /// first; read from moto's model dump (`GET /moto-api/data.json`, `ses.Message`).
    /// Raw and templated messages are not included.
    pub async fn sent_emails(&self) -> Result<Vec<SentEmail>, MotoError> {
        let fail = |e: reqwest::Error| MotoError::Request(e.to_string());
        let data: serde_json::Value = reqwest::Client::new()
            .get(format!("{}/moto-api/data.json", self.endpoint))
            .send()
            .await
            .map_err(fail)?
            .error_for_status()
            .map_err(fail)?
            .json()
            .await
            .map_err(fail)?;
        Ok(data
            .pointer("/ses/Message")
            .and_then(serde_json::Value::as_array)
            .map(|messages| messages.iter().map(SentEmail::from_moto).collect())
            .unwrap_or_default())
    }
}

impl SentEmail {
    fn from_moto(m: &serde_json::Value) -> Self {
        let text = |key: &str| m[key].as_str().unwrap_or_default().to_owned();
        let addresses = |key: &str| {
            m["destinations"][key]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        Self {
            id: text("id"),
            source: text("source"),
            to: addresses("ToAddresses"),
            cc: addresses("CcAddresses"),
            bcc: addresses("BccAddresses"),
            subject: text("subject"),
            body: text("body"),
        }
    }
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// A name no other test uses: `{prefix}-{random}`, valid for tables, buckets and queues.
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{prefix}-{}-{n}-{nanos:x}", std::process::id())
}
