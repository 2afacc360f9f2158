//! A whole hotline on loopback for one test: the local stack (voice webhook behind the
//! local gateway, the stream node) on a fresh store, with the simulated OpenAI Realtime
//! server and the fake Twilio REST API standing in for the outside world.

use std::time::Duration;

use hotline_core::model::{Agent, Call, Turn};
use hotline_core::{AccountSid, CallSid, OrgId};
use hotline_local::configure::{ConfigSource, DEMO_AGENT, DEMO_ORG, configure};
use hotline_local::{Stack, StackConfig};
use hotline_sim::chat::ChatSim;
use hotline_sim::deepgram::DeepgramSim;
use hotline_sim::elevenlabs::ElevenLabsSim;
use hotline_sim::gemini::GeminiSim;
use hotline_sim::openai_rest::FakeOpenAi;
use hotline_sim::phone::{AudioSource, CallSpec, hangup_on_api_update};
use hotline_sim::realtime::{RealtimeSim, Script};
use hotline_sim::twilio_rest::FakeTwilio;
use hotline_store::Stores;
use secrecy::SecretString;

pub const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
pub const TOKEN: &str = "5b1e3c7d9a2f4e6b8c0d1f3a5b7c9e2d";
pub const NUMBER: &str = "+15550100001";
pub const CALLER: &str = "+14155550100";
pub const API_KEY: &str = "sk-test-hotline";
pub const GEMINI_KEY: &str = "AIza-test-hotline";
pub const DEEPGRAM_KEY: &str = "dg-test-hotline";
pub const ELEVENLABS_KEY: &str = "xi-test-hotline";
pub const LLM_KEY: &str = "sk-test-llm";
/// How long a pre-warmed session waits for its stream in these tests.
pub const PREWARM_UNUSED_AFTER: Duration = Duration::from_secs(2);

/// How a [`World`]'s stack differs from the usual one.
struct Setup {
    max_calls: usize,
    drain: Duration,
    openai_base_url: Option<String>,
    webhook_allow_private: bool,
    nodes: usize,
    prewarm: bool,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            max_calls: 100,
            drain: Duration::from_secs(5),
            openai_base_url: None,
            webhook_allow_private: true,
            nodes: 1,
            prewarm: true,
        }
    }
}

pub struct World {
    pub stack: Stack,
    pub stores: Stores,
    pub ai: RealtimeSim,
    /// Gemini Live, for agents switched to `gemini_live` (see [`World::start_gemini`]).
    pub gemini: GeminiSim,
    /// The pipeline's three services, for agents switched to `pipeline` (see
    /// [`World::start_pipeline`]).
    pub deepgram: DeepgramSim,
    pub llm: ChatSim,
    pub elevenlabs: ElevenLabsSim,
    /// OpenAI's REST API: texts, and the voice of pipeline agents whose `tts.vendor`
    /// is `openai`.
    pub openai: FakeOpenAi,
    pub twilio: FakeTwilio,
    _dir: tempfile::TempDir,
}

impl World {
    /// Everything up, the example configuration applied with known credentials.
    pub async fn start(script: Script) -> Self {
        Self::start_with(script, |_| {}).await
    }

    /// As `start`, with the demo agent changed by `edit` first.
    pub async fn start_with(script: Script, edit: impl FnOnce(&mut Agent)) -> Self {
        Self::start_full(script, edit, 100, Duration::from_secs(5)).await
    }

    /// As `start_with`, with the node's call bound and drain deadline.
    pub async fn start_full(
        script: Script,
        edit: impl FnOnce(&mut Agent),
        max_calls: usize,
        drain: Duration,
    ) -> Self {
        Self::start_inner(
            script,
            edit,
            Setup {
                max_calls,
                drain,
                ..Setup::default()
            },
        )
        .await
    }

    /// As `start_with`, with the voice webhook never asking the node to open a session
    /// before the stream starts (`HOTLINE_PREWARM=false`).
    pub async fn start_cold(script: Script, edit: impl FnOnce(&mut Agent)) -> Self {
        let setup = Setup {
            prewarm: false,
            ..Setup::default()
        };
        Self::start_inner(script, edit, setup).await
    }

    /// As `start_with`, with webhook tools held to the deployed rules (`https` to public
    /// addresses only) instead of `hotline up`'s.
    pub async fn start_deployed(script: Script, edit: impl FnOnce(&mut Agent)) -> Self {
        let setup = Setup {
            webhook_allow_private: false,
            ..Setup::default()
        };
        Self::start_inner(script, edit, setup).await
    }

    /// As `start`, with the stream node reaching OpenAI at `openai_base_url` (a test's
    /// own server in front of [`World::ai`]) instead of the simulator itself.
    pub async fn start_via(script: Script, openai_base_url: String) -> Self {
        let setup = Setup {
            openai_base_url: Some(openai_base_url),
            ..Setup::default()
        };
        Self::start_inner(script, |_| {}, setup).await
    }

    /// `nodes` stream nodes of `max_calls` each behind the registry, drain deadline 5 s.
    pub async fn start_nodes(script: Script, nodes: usize, max_calls: usize) -> Self {
        let setup = Setup {
            max_calls,
            nodes,
            ..Setup::default()
        };
        Self::start_inner(script, |_| {}, setup).await
    }

    /// As `start_with`, the demo agent on Gemini Live (voice `Puck`) and the Gemini
    /// simulator following `gemini`.
    pub async fn start_gemini(
        gemini: hotline_sim::gemini::Script,
        edit: impl FnOnce(&mut Agent),
    ) -> Self {
        let world = Self::start_with(Script::default(), |agent| {
            agent.provider = hotline_core::model::Provider::GeminiLive;
            agent.model = "gemini-live-2.5-flash-preview".into();
            agent.voice = "Puck".into();
            edit(agent);
        })
        .await;
        world.gemini.set_script(hotline_sim::gemini::Script {
            api_key: Some(GEMINI_KEY.to_owned()),
            ..gemini
        });
        world
    }

    /// As `start_with`, the demo agent on the pipeline (Deepgram, the chat model, an
    /// ElevenLabs voice) and the three simulators following their scripts.
    pub async fn start_pipeline(
        heard: hotline_sim::deepgram::Script,
        llm: hotline_sim::chat::Script,
        tts: hotline_sim::elevenlabs::Script,
        edit: impl FnOnce(&mut Agent),
    ) -> Self {
        let world = Self::start_with(Script::default(), |agent| {
            agent.provider = hotline_core::model::Provider::Pipeline;
            agent.model = "gpt-4.1-mini".into();
            agent.voice = "21m00Tcm4TlvDq8ikWAM".into();
            agent.pipeline = Some(hotline_core::model::PipelineSpec::default());
            edit(agent);
        })
        .await;
        world.deepgram.set_script(hotline_sim::deepgram::Script {
            api_key: Some(DEEPGRAM_KEY.to_owned()),
            ..heard
        });
        world.llm.set_script(hotline_sim::chat::Script {
            api_key: Some(LLM_KEY.to_owned()),
            ..llm
        });
        world
            .elevenlabs
            .set_script(hotline_sim::elevenlabs::Script {
                api_key: Some(ELEVENLABS_KEY.to_owned()),
                ..tts
            });
        world
    }

    async fn start_inner(script: Script, edit: impl FnOnce(&mut Agent), setup: Setup) -> Self {
        let Setup {
            max_calls,
            drain,
            openai_base_url,
            webhook_allow_private,
            nodes,
            prewarm,
        } = setup;
        let dir = tempfile::tempdir().expect("tempdir");
        let stores = Stores::local(dir.path()).expect("store");
        let env = |k: &str| match k {
            "TWILIO_ACCOUNT_SID" => Some(ACCOUNT.to_owned()),
            "TWILIO_AUTH_TOKEN" => Some(TOKEN.to_owned()),
            "TWILIO_PHONE_NUMBER" => Some(NUMBER.to_owned()),
            _ => None,
        };
        configure(stores.directory.as_ref(), &ConfigSource::Example, &env)
            .await
            .expect("the example configuration");
        let org = OrgId::parse(DEMO_ORG).expect("org");
        let mut agent = stores
            .directory
            .get_agent(
                &org,
                &hotline_core::AgentId::parse(DEMO_AGENT).expect("agent"),
            )
            .await
            .expect("get agent")
            .expect("demo agent");
        edit(&mut agent);
        stores.directory.put_agent(&agent).await.expect("put agent");

        let ai = RealtimeSim::start(Script {
            api_key: Some(API_KEY.to_owned()),
            ..script
        })
        .await
        .expect("realtime sim");
        let gemini = GeminiSim::start(hotline_sim::gemini::Script {
            api_key: Some(GEMINI_KEY.to_owned()),
            ..hotline_sim::gemini::Script::default()
        })
        .await
        .expect("gemini sim");
        let deepgram = DeepgramSim::start(hotline_sim::deepgram::Script {
            api_key: Some(DEEPGRAM_KEY.to_owned()),
            ..hotline_sim::deepgram::Script::default()
        })
        .await
        .expect("deepgram sim");
        let llm = ChatSim::start(hotline_sim::chat::Script {
            api_key: Some(LLM_KEY.to_owned()),
            ..hotline_sim::chat::Script::default()
        })
        .await
        .expect("chat sim");
        let elevenlabs = ElevenLabsSim::start(hotline_sim::elevenlabs::Script {
            api_key: Some(ELEVENLABS_KEY.to_owned()),
            ..hotline_sim::elevenlabs::Script::default()
        })
        .await
        .expect("elevenlabs sim");
        let openai = FakeOpenAi::start(API_KEY).await.expect("fake openai");
        let twilio = FakeTwilio::start().await.expect("fake twilio");
        twilio.add_account(ACCOUNT, TOKEN);
        let stack = Stack::start(
            StackConfig {
                http_addr: ([127, 0, 0, 1], 0).into(),
                stream_addr: ([127, 0, 0, 1], 0).into(),
                public_url: None,
                stream_public_url: None,
                openai_base_url: openai_base_url.unwrap_or_else(|| ai.base_url().to_owned()),
                openai_api_key: SecretString::from(API_KEY.to_owned()),
                gemini_base_url: gemini.base_url().to_owned(),
                gemini_api_key: SecretString::from(GEMINI_KEY.to_owned()),
                llm_base_url: llm.base_url().to_owned(),
                llm_api_key: SecretString::from(LLM_KEY.to_owned()),
                deepgram_base_url: deepgram.base_url().to_owned(),
                deepgram_api_key: SecretString::from(DEEPGRAM_KEY.to_owned()),
                elevenlabs_base_url: elevenlabs.base_url().to_owned(),
                elevenlabs_api_key: SecretString::from(ELEVENLABS_KEY.to_owned()),
                openai_rest_base_url: openai.base_url().to_owned(),
                openai_rest_api_key: SecretString::from(API_KEY.to_owned()),
                twilio_api_base_url: twilio.base_url().to_owned(),
                max_calls,
                drain,
                nodes,
                webhook_allow_private,
                prewarm,
                // Short, so a test sees an unused session closed without waiting long.
                prewarm_unused_after: PREWARM_UNUSED_AFTER,
            },
            stores.clone(),
        )
        .await
        .expect("stack");
        Self {
            stack,
            stores,
            ai,
            gemini,
            deepgram,
            llm,
            elevenlabs,
            openai,
            twilio,
            _dir: dir,
        }
    }

    /// A call to the demo number, hung up by Twilio when the fake REST API is told to
    /// (as real Twilio ends the stream on a REST hang-up or redirect).
    pub fn call(&self, audio: AudioSource, duration: Duration) -> CallSpec {
        let sid = hotline_sim::phone::new_call_sid();
        self.twilio.add_call(sid.as_str());
        let mut spec = CallSpec::new(
            format!("{}/twilio/voice", self.stack.public_url),
            AccountSid::parse(ACCOUNT).expect("account"),
            TOKEN,
        );
        spec.call_sid = Some(sid.clone());
        spec.from = CALLER.to_owned();
        spec.to = NUMBER.to_owned();
        spec.audio = audio;
        spec.duration = duration;
        spec.hangup = Some(hangup_on_api_update(self.twilio.subscribe(), &sid));
        spec
    }

    /// The call's record once the stream node has written its outcome.
    pub async fn finished_call(&self, sid: &CallSid) -> Call {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let call = self.stores.calls.get_call(sid).await.expect("get call");
            if let Some(call) = call.filter(|c| c.outcome.is_some()) {
                return call;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "call {sid} was never finalized"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `GET /healthz` on the stream node: its status code.
    pub async fn health(&self) -> u16 {
        health(self.stack.stream).await
    }

    pub async fn turns(&self, sid: &CallSid) -> Vec<Turn> {
        self.stores.calls.turns(sid).await.expect("turns")
    }
}

/// A stream that passed the voice webhook: what a raw WebSocket client needs to
/// pose as Twilio for this call.
pub struct Answered {
    pub call_sid: CallSid,
    /// `ws://…/twilio/stream`, as written in the TwiML (and so as signed).
    pub stream_url: String,
    pub stream_token: String,
}

impl World {
    /// The demo organization signs its report webhooks and webhook tools with `secret`.
    pub async fn sign_webhooks_with(&self, secret: &str) {
        let id = OrgId::parse(DEMO_ORG).expect("org");
        let mut org = self
            .stores
            .directory
            .get_org(&id)
            .await
            .expect("get org")
            .expect("demo org");
        org.settings.report_webhook_secret = Some(secret.to_owned().into());
        self.stores.directory.put_org(&org).await.expect("put org");
    }

    /// Posts a signed voice webhook for a new call and reads the stream details back
    /// from the TwiML.
    pub async fn answered_call(&self) -> Answered {
        let sid = hotline_sim::phone::new_call_sid();
        let mut spec = self.call(AudioSource::Silence, Duration::from_secs(1));
        spec.call_sid = Some(sid.clone());
        let url = spec.voice_url.clone();
        let form = hotline_sim::phone::twilio_form(&spec, &sid);
        let signature = hotline_sim::phone::sign(TOKEN, &url, &form);
        let twiml = post_form(&url, &signature, &form).await;
        let doc = hotline_twilio::twiml_read::parse(&twiml).expect("TwiML");
        let stream = doc.all_named("Stream")[0].clone();
        let token = stream
            .all_named("Parameter")
            .iter()
            .find(|p| p.attr("name") == Some("stream_token"))
            .and_then(|p| p.attr("value"))
            .expect("stream token")
            .to_owned();
        Answered {
            call_sid: sid,
            stream_url: stream.attr("url").expect("url").to_owned(),
            stream_token: token,
        }
    }
}

/// Posts a form to `url` as Twilio does, returning the TwiML.
async fn post_form(url: &str, signature: &str, form: &[(String, String)]) -> String {
    let resp = reqwest::Client::new()
        .post(url)
        .header("x-twilio-signature", signature)
        .form(form)
        .send()
        .await
        .expect("webhook reachable");
    assert_eq!(resp.status(), 200, "voice webhook");
    resp.text().await.expect("TwiML")
}
/// The phone's protocol complaints, less the one every loopback test has: the local
/// stack serves plain `ws://`, where Twilio would only connect to `wss://`.
pub fn violations(report: &hotline_sim::phone::CallReport) -> Vec<&str> {
    report
        .violations
        .iter()
        .map(String::as_str)
        .filter(|v| !v.contains("Twilio only connects to wss://"))
        .collect()
}

/// `GET /healthz` at `addr`: its status code.
pub async fn health(addr: std::net::SocketAddr) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let req = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    out.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status")
}
