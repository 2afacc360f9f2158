//! The post-call worker against the fakes (Twilio REST, OpenAI REST, a signed-webhook
//! receiver) on both stores: local (SQLite, files, outbox) and AWS on moto (DynamoDB,
//! S3, SQS, SES). Each case counts the outside effects, so "exactly once" is measured.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use chrono::{TimeZone, Utc};
use hotline_core::ids::{AccountSid, AgentId, CallSid, E164, OrgId, Party, RecordingSid};
use hotline_core::model::{
    Agent, AnalysisResult, Analyzer, Call, CallLimits, CallStatus, Contact, ContactField,
    Direction, EndReason, OrgSettings, Organization, Outcome, Provider, RecordingRef,
    RecordingStatus, Speaker, Stage, StageStatus, TranscriptSource, Turn, TwilioAccount,
};
use hotline_core::ports::{BlobKey, Queue};
use hotline_core::postcall::{PostcallJob, Requested, request_job};
use hotline_postcall::{
    DEADLINE_MARGIN, Deps, JobError, PostcallConfig, handle_batch, run_job, run_job_before,
};
use hotline_sim::moto::{Moto, unique_name};
use hotline_sim::openai_rest::{CHAT_COMPLETIONS, FakeOpenAi, TRANSCRIPTIONS};
use hotline_sim::twilio_rest::FakeTwilio;
use hotline_sim::webhook::WebhookReceiver;
use hotline_store::local::read_outbox;
use hotline_testkit::store::{QueueSpec, TestStore};
use secrecy::SecretString;
use serde_json::{Value, json};

const OPENAI_KEY: &str = "sk-test-postcall";
const TOKEN: &str = "twilio-auth-token";
const WEBHOOK_SECRET: &str = "whsec_postcall_test";
const FROM: &str = "reports@hotline.test";
const MAX_RECEIVES: u32 = 2;
/// The structured outputs one call asks for: two analyzers, to-dos, contact facts.
const SCHEMAS: [&str; 4] = ["summary", "sentiment", "call_todos", "contact_facts"];
const AUDIO: &[u8] = b"ID3\x04\x00 fake mp3 frames of the call";
const SPOKEN: &str = "Hello, Bright Smile Dental. Hi, this is Dana Lee from Acme Dental Supply, \
                      I need to move my cleaning to Tuesday at three. Please call me back.";

enum Mail {
    Outbox(PathBuf),
    Ses(&'static Moto),
}

struct Bed {
    stores: TestStore,
    queue: Arc<dyn Queue>,
    dlq: Arc<dyn Queue>,
    twilio: FakeTwilio,
    openai: FakeOpenAi,
    hook: WebhookReceiver,
    deps: Deps,
    org: Organization,
    mail: Mail,
    /// Unique per bed: moto's SES is shared by every test in the process.
    recipient: String,
}

fn account() -> AccountSid {
    AccountSid::parse(&format!("AC{}", "5".repeat(32))).expect("account")
}

fn config(twilio: &FakeTwilio, openai: &FakeOpenAi) -> PostcallConfig {
    let vars = [
        ("OPENAI_API_KEY", OPENAI_KEY.to_owned()),
        ("OPENAI_BASE_URL", openai.base_url().to_owned()),
        ("TWILIO_API_BASE_URL", twilio.base_url().to_owned()),
        ("HOTLINE_REPORT_FROM", FROM.to_owned()),
        ("HOTLINE_POSTCALL_MAX_RECEIVES", MAX_RECEIVES.to_string()),
        ("HOTLINE_POSTCALL_LEASE_SECS", "0.3".to_owned()),
        ("HOTLINE_RECORDING_RETRY_SECS", "0.05,0.05,0.05".to_owned()),
        ("HOTLINE_WEBHOOK_RETRY_SECS", "0.05,0.05".to_owned()),
        ("HOTLINE_CALL_SETTLE_SECS", "0".to_owned()),
        // The receiver listens on loopback; production refuses that (see below).
        ("HOTLINE_WEBHOOK_ALLOW_PRIVATE", "true".to_owned()),
    ];
    PostcallConfig::from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone()))
        .expect("config")
}

/// The post-call queue, redelivering soon: moto's SQS counts its visibility timeout in
/// whole seconds.
const QUEUE: QueueSpec = QueueSpec {
    name: "postcall",
    visibility: Duration::from_secs(1),
    max_receives: MAX_RECEIVES,
};

async fn local() -> Bed {
    let stores = TestStore::local_with(QueueSpec {
        visibility: Duration::from_millis(500),
        ..QUEUE
    });
    let outbox = hotline_store::local::outbox_dir(stores.dir().expect("local store"));
    bed(stores, Mail::Outbox(outbox)).await
}

async fn aws() -> Bed {
    let moto = Moto::shared();
    moto.verify_email_identity(FROM)
        .await
        .expect("verify sender");
    bed(TestStore::aws_with(QUEUE).await, Mail::Ses(moto)).await
}

async fn bed(stores: TestStore, mail: Mail) -> Bed {
    let twilio = FakeTwilio::start().await.expect("twilio");
    twilio.add_account(account().as_str(), TOKEN);
    let openai = FakeOpenAi::start(OPENAI_KEY).await.expect("openai");
    let hook = WebhookReceiver::start(WEBHOOK_SECRET).await.expect("hook");
    let recipient = format!("{}@clinic.test", unique_name("ops").to_lowercase());
    let org = Organization {
        id: OrgId::parse("bright-smile").expect("org"),
        name: "Bright Smile Dental".into(),
        twilio: TwilioAccount {
            parent: None,
            account_sid: account(),
            auth_token: SecretString::from(TOKEN),
        },
        settings: OrgSettings {
            report_emails: vec![recipient.clone()],
            report_webhook_url: Some(hook.url().to_owned()),
            report_webhook_secret: Some(SecretString::from(WEBHOOK_SECRET)),
            delete_twilio_recordings: true,
            default_analyzers: Vec::new(),
        },
        version: 0,
    };
    stores.directory.put_org(&org).await.expect("org");
    stores.directory.put_agent(&agent()).await.expect("agent");
    script(&openai);
    let deps = Deps::new(
        config(&twilio, &openai),
        &stores,
        SecretString::from(OPENAI_KEY),
    )
    .expect("deps");
    Bed {
        queue: Arc::clone(&stores.queue),
        dlq: Arc::clone(&stores.dlq),
        stores,
        twilio,
        openai,
        hook,
        deps,
        org,
        mail,
        recipient,
    }
}

fn agent() -> Agent {
    let object = |props: Value, required: &[&str]| {
        json!({"type": "object", "additionalProperties": false,
               "properties": props, "required": required})
    };
    Agent {
        org: OrgId::parse("bright-smile").expect("org"),
        id: AgentId::parse("receptionist").expect("agent"),
        name: "Receptionist".into(),
        instructions: "Book appointments.".into(),
        voice: "marin".into(),
        greeting: None,
        voicemail_message: None,
        enabled: true,
        provider: Provider::OpenaiRealtime,
        model: "gpt-realtime".into(),
        tools: vec![],
        analyzers: vec![
            Analyzer {
                name: "summary".into(),
                prompt: "Summarize the call in one sentence.".into(),
                schema: object(json!({"summary": {"type": "string"}}), &["summary"]),
            },
            Analyzer {
                name: "sentiment".into(),
                prompt: "How did the caller feel?".into(),
                schema: object(
                    json!({"sentiment": {"type": "string", "enum": ["positive", "neutral", "negative"]}}),
                    &["sentiment"],
                ),
            },
        ],
        limits: CallLimits::default(),
        fallback: None,
        pipeline: None,
        version: 0,
    }
}

/// What the model "says" for each schema.
fn script(openai: &FakeOpenAi) {
    openai.set_transcript_for(AUDIO, SPOKEN);
    openai.respond(
        "summary",
        json!({"summary": "Dana moved her cleaning to Tuesday at three."}),
    );
    openai.respond("sentiment", json!({"sentiment": "positive"}));
    openai.respond(
        "call_todos",
        json!({"todos": [{"title": "Call Dana back to confirm Tuesday", "due": "2026-11-24", "assignee": "front desk"}]}),
    );
    openai.respond(
        "contact_facts",
        json!({"name": "Dana Lee", "company": "Acme Dental Supply", "notes": "Prefers afternoons"}),
    );
}

fn sid(n: u32) -> CallSid {
    CallSid::parse(&format!("CA{n:032x}")).expect("call sid")
}

fn recording_sid(n: u32) -> RecordingSid {
    RecordingSid::parse(&format!("RE{n:032x}")).expect("recording sid")
}

fn caller() -> E164 {
    E164::parse("+14155550123").expect("phone")
}

impl Bed {
    /// A call the stream node finished, with live turns, whose recording Twilio holds.
    async fn finished_call(&self, n: u32, recording_status: &str) -> Call {
        let started = Utc
            .with_ymd_and_hms(2026, 11, 21, 14, 2, 0)
            .single()
            .expect("time");
        let call = Call {
            sid: sid(n),
            org: self.org.id.clone(),
            agent: AgentId::parse("receptionist").expect("agent"),
            from: Party::Phone(caller()),
            to: Party::parse("+14155550199").expect("to"),
            direction: Direction::Inbound,
            status: CallStatus::Completed,
            started_at: started,
            answered_at: Some(started),
            ended_at: Some(started + chrono::Duration::seconds(92)),
            contact: Some(caller()),
            greeting: None,
            stream_token: "t".into(),
            transfers: Vec::new(),
            outcome: Some(Outcome {
                reason: EndReason::AgentEnded,
                detail: None,
                provider: Some(Provider::OpenaiRealtime),
                latency: None,
            }),
            recording: Some(RecordingRef {
                sid: recording_sid(n),
                status: RecordingStatus::parse(recording_status).expect("recording status"),
                duration_secs: Some(92),
                error_code: None,
                blob_key: None,
                deleted_from_twilio: false,
            }),
            post_call: Default::default(),
            outbound: None,
            version: 0,
        };
        self.stores.calls.create_call(&call).await.expect("call");
        for (seq, (speaker, text)) in [
            (Speaker::Agent, "Hello, Bright Smile Dental."),
            (
                Speaker::Caller,
                "This is Dana Lee, I need to move my cleaning.",
            ),
            (Speaker::Agent, "Tuesday at three works."),
        ]
        .into_iter()
        .enumerate()
        {
            let turn = Turn {
                seq: seq as u32,
                speaker,
                text: text.into(),
                offset_ms: seq as u64 * 2000,
            };
            self.stores
                .calls
                .append_turn(&call.sid, &turn)
                .await
                .expect("turn");
        }
        if recording_status == "completed" {
            self.twilio.add_recording(
                account().as_str(),
                recording_sid(n).as_str(),
                AUDIO.to_vec(),
            );
        }
        call
    }

    fn job(&self, n: u32) -> PostcallJob {
        PostcallJob::new(self.org.id.clone(), sid(n), recording_sid(n))
    }

    async fn call(&self, n: u32) -> Call {
        self.stores
            .calls
            .get_call(&sid(n))
            .await
            .expect("get")
            .expect("call exists")
    }

    /// Hands `bodies` to the worker as one SQS batch, as Lambda would.
    async fn deliver(&self, bodies: &[String], receive_count: u32) -> SqsBatchResponse {
        let records: Vec<Value> = bodies
            .iter()
            .enumerate()
            .map(|(i, body)| {
                json!({
                    "messageId": format!("m-{i}"),
                    "receiptHandle": format!("r-{i}"),
                    "body": body,
                    "attributes": {"ApproximateReceiveCount": receive_count.to_string()},
                    "messageAttributes": {},
                    "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:postcall",
                    "awsRegion": "us-east-1"
                })
            })
            .collect();
        let event: SqsEvent = serde_json::from_value(json!({ "Records": records })).expect("event");
        handle_batch(&self.deps, event)
            .await
            .expect("named failures")
    }

    /// Receives from the real queue until it is empty, like the event source mapping:
    /// deletes what succeeded, leaves the rest to come back or be dead-lettered.
    async fn drain_queue(&self, rounds: u32) {
        for _ in 0..rounds {
            let messages = self
                .queue
                .receive(10, Duration::from_millis(1500))
                .await
                .expect("receive");
            if messages.is_empty() {
                continue;
            }
            for m in messages {
                let resp = self
                    .deliver(std::slice::from_ref(&m.body), m.receive_count)
                    .await;
                if resp.batch_item_failures.is_empty() {
                    self.queue.delete(&m.receipt).await.expect("delete");
                }
            }
        }
    }

    fn downloads(&self, n: u32) -> usize {
        let path = format!("Recordings/{}.mp3", recording_sid(n));
        self.twilio
            .requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path.ends_with(&path) && r.status == 200)
            .count()
    }

    fn deletes(&self, n: u32) -> usize {
        let path = format!("Recordings/{}.json", recording_sid(n));
        self.twilio
            .requests()
            .iter()
            .filter(|r| r.method == "DELETE" && r.path.ends_with(&path))
            .count()
    }

    fn chats(&self, schema: &str) -> usize {
        self.openai
            .requests()
            .iter()
            .filter(|r| r.path == CHAT_COMPLETIONS && r.schema_name.as_deref() == Some(schema))
            .count()
    }

    fn transcriptions(&self) -> usize {
        self.openai.count(TRANSCRIPTIONS)
    }

    /// Reports e-mailed about call `n`.
    async fn emails(&self, n: u32) -> Vec<(Vec<String>, String, String)> {
        let needle = sid(n).to_string();
        let all: Vec<(Vec<String>, String, String)> = match &self.mail {
            Mail::Outbox(dir) => read_outbox(dir)
                .unwrap_or_default()
                .into_iter()
                .map(|e| (e.to, e.subject, e.text))
                .collect(),
            Mail::Ses(moto) => moto
                .sent_emails()
                .await
                .expect("moto emails")
                .into_iter()
                .map(|e| (e.to, e.subject, e.body))
                .collect(),
        };
        all.into_iter()
            .filter(|(to, _, text)| to.contains(&self.recipient) && text.contains(&needle))
            .collect()
    }

    fn webhooks(&self, n: u32) -> Vec<hotline_sim::webhook::Delivery> {
        let id = sid(n).to_string();
        self.hook
            .deliveries()
            .into_iter()
            .filter(|d| d.event_id.as_deref() == Some(id.as_str()))
            .collect()
    }

    /// Every outside effect of call `n`'s pipeline happened exactly once.
    async fn assert_each_effect_once(&self, n: u32) {
        assert_eq!(self.downloads(n), 1, "recording downloads");
        assert_eq!(self.deletes(n), 1, "recording deletions");
        assert_eq!(self.transcriptions(), 1, "transcriptions");
        for schema in SCHEMAS {
            assert_eq!(self.chats(schema), 1, "{schema} completions");
        }
        assert_eq!(self.emails(n).await.len(), 1, "report e-mails");
        let ok: Vec<_> = self
            .webhooks(n)
            .into_iter()
            .filter(|d| d.status == 200)
            .collect();
        assert_eq!(ok.len(), 1, "accepted webhook deliveries");
        let todos = self.stores.todos.call_todos(&sid(n)).await.expect("todos");
        assert_eq!(todos.len(), 1, "to-do items");
    }
}

hotline_testkit::on_both_stores! {
    local: local, aws: aws;
    a_finished_call_gets_every_stage_exactly_once,
    a_crash_after_each_stage_resumes_without_repeating_it,
    a_job_that_keeps_failing_is_dead_lettered_with_its_error_on_the_call,
    recording_callbacks_yield_one_job_and_duplicates_change_nothing,
    a_very_long_call_keeps_its_record_small_with_the_long_parts_stored,
    the_calls_turns_join_the_contacts_phone_conversation_once,
}

async fn the_calls_turns_join_the_contacts_phone_conversation_once(b: Bed) {
    use hotline_core::model::{Channel, MessageDirection};
    b.finished_call(81, "completed").await;
    run_job(&b.deps, &b.job(81), 1).await.expect("job");
    let phone = |b: &Bed| {
        let org = b.org.id.clone();
        let messages = b.stores.messages.clone();
        async move {
            messages
                .conversation(&org, &caller(), Channel::Phone, 50)
                .await
                .expect("conversation")
        }
    };
    let said: Vec<(MessageDirection, String)> = phone(&b)
        .await
        .into_iter()
        .rev()
        .map(|m| (m.direction, m.body))
        .collect();
    assert_eq!(
        said,
        [
            (
                MessageDirection::Outbound,
                "Hello, Bright Smile Dental.".to_owned()
            ),
            (
                MessageDirection::Inbound,
                "This is Dana Lee, I need to move my cleaning.".to_owned()
            ),
            (
                MessageDirection::Outbound,
                "Tuesday at three works.".to_owned()
            ),
        ]
    );
    // A second call's turns and a redelivered job add only the new call's.
    b.finished_call(82, "completed").await;
    run_job(&b.deps, &b.job(82), 1).await.expect("job");
    run_job(&b.deps, &b.job(81), 2).await.expect("redelivery");
    assert_eq!(phone(&b).await.len(), 6);
    // The texts conversation is another channel: untouched.
    let texts = b
        .stores
        .messages
        .conversation(&b.org.id, &caller(), Channel::Sms, 50)
        .await
        .expect("texts");
    assert!(texts.is_empty());
}

async fn a_finished_call_gets_every_stage_exactly_once(b: Bed) {
    b.finished_call(1, "completed").await;
    let resp = b.deliver(&[b.job(1).to_body().expect("body")], 1).await;
    assert!(resp.batch_item_failures.is_empty(), "{resp:?}");

    let call = b.call(1).await;
    let pc = &call.post_call;
    assert!(pc.completed_at.is_some(), "{pc:?}");
    for stage in Stage::ALL {
        assert_eq!(
            pc.stages.get(&stage).map(|s| s.status),
            Some(StageStatus::Done),
            "{stage}: {:?}",
            pc.stages.get(&stage)
        );
    }
    // The recording: hotline's copy, byte for byte; Twilio's deleted as the org asked.
    let recording = call.recording.as_ref().expect("recording");
    let key = BlobKey::recording(&b.org.id, &sid(1));
    assert_eq!(recording.blob_key.as_deref(), Some(key.as_str()));
    assert!(recording.deleted_from_twilio);
    assert!(
        !b.twilio
            .has_recording(account().as_str(), recording_sid(1).as_str())
    );
    let blob = b
        .stores
        .blobs
        .get_blob(&key)
        .await
        .expect("get")
        .expect("copied");
    assert_eq!(
        (blob.bytes.as_slice(), blob.content_type.as_str()),
        (AUDIO, "audio/mpeg")
    );
    // The transcript: from the recording, with the configured model, on the call and stored.
    let transcript = pc.transcript.as_ref().expect("transcript");
    assert_eq!(transcript.source, TranscriptSource::Recording);
    assert_eq!(transcript.text, SPOKEN);
    let sent = b
        .openai
        .requests()
        .into_iter()
        .find(|r| r.path == TRANSCRIPTIONS)
        .expect("transcription request");
    assert_eq!(sent.model, "gpt-4o-transcribe");
    assert_eq!(sent.file_bytes, Some(AUDIO.len()));
    let doc = b
        .stores
        .blobs
        .get_blob(&BlobKey::transcript(&b.org.id, &sid(1)))
        .await
        .expect("get")
        .expect("stored");
    let doc: Value = serde_json::from_slice(&doc.bytes).expect("json");
    assert_eq!(doc["text"], SPOKEN);
    assert_eq!(doc["turns"].as_array().map(Vec::len), Some(3));
    // Analysis, to-dos, contact.
    assert_eq!(
        pc.analysis.get("sentiment"),
        Some(&AnalysisResult::Ok {
            value: json!({"sentiment": "positive"}),
            at: match pc.analysis.get("sentiment") {
                Some(AnalysisResult::Ok { at, .. }) => *at,
                other => panic!("sentiment: {other:?}"),
            },
            blob_key: None,
        })
    );
    let todos = b.stores.todos.call_todos(&sid(1)).await.expect("todos");
    assert_eq!(todos[0].title, "Call Dana back to confirm Tuesday");
    assert_eq!(todos[0].due, chrono::NaiveDate::from_ymd_opt(2026, 11, 24));
    assert_eq!(todos[0].contact, Some(caller()));
    let contact = b
        .stores
        .contacts
        .get_contact(&b.org.id, &caller())
        .await
        .expect("get")
        .expect("contact");
    assert_eq!(contact.name.as_deref(), Some("Dana Lee"));
    assert_eq!(contact.company.as_deref(), Some("Acme Dental Supply"));
    assert_eq!(
        contact.notes.as_deref(),
        Some("2026-11-21: Prefers afternoons")
    );
    // The report: e-mailed, and POSTed with a signature the receiver verifies.
    let emails = b.emails(1).await;
    assert_eq!(emails.len(), 1);
    assert!(
        emails[0].1.contains("Dana Lee"),
        "subject {:?}",
        emails[0].1
    );
    assert!(emails[0].2.contains("Call Dana back to confirm Tuesday"));
    let hooks = b.webhooks(1);
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0].verified, Ok(()));
    let report = hooks[0].json.clone().expect("json report");
    assert_eq!(report["type"], "call.report");
    assert_eq!(
        report["analysis"]["summary"]["value"]["summary"],
        "Dana moved her cleaning to Tuesday at three."
    );
    assert_eq!(report["contact"]["name"], "Dana Lee");
    assert_eq!(report["todos"][0]["assignee"], "front desk");

    // A duplicate delivery after the fact changes nothing.
    let version = call.version;
    let resp = b.deliver(&[b.job(1).to_body().expect("body")], 1).await;
    assert!(resp.batch_item_failures.is_empty());
    assert_eq!(b.call(1).await.version, version);
    b.assert_each_effect_once(1).await;
}

async fn a_crash_after_each_stage_resumes_without_repeating_it(mut b: Bed) {
    // Long enough that no slow store lets it lapse between the crash and the redelivery;
    // its expiry is then written on the record instead of waited for.
    b.deps.config.lease = Duration::from_secs(600);
    for (n, crash_stage) in (10..).zip(Stage::ALL) {
        b.finished_call(n, "completed").await;
        let crashed = Arc::new(AtomicBool::new(false));
        let flag = crashed.clone();
        b.deps.crash_after = Some(Arc::new(move |stage| {
            stage == crash_stage && !flag.swap(true, Ordering::SeqCst)
        }));
        let job = b.job(n);
        let before = b.llm_counts();
        match run_job(&b.deps, &job, 1).await {
            Err(JobError::Crashed(s)) => assert_eq!(s, crash_stage),
            other => panic!("expected a crash after {crash_stage}: {other:?}"),
        }
        let call = b.call(n).await;
        assert!(call.post_call.finished(crash_stage));
        assert!(call.post_call.completed_at.is_none());
        // A crashed worker leaves its lease: a redelivery right away waits…
        assert!(matches!(
            run_job(&b.deps, &job, 2).await,
            Err(JobError::Leased(_))
        ));
        // …and once it has expired, resumes and finishes.
        hotline_core::ports::modify_call(b.stores.calls.as_ref(), &sid(n), |c| {
            c.post_call.lease_until = Some(Utc::now() - chrono::Duration::seconds(1));
        })
        .await
        .expect("lease lapses");
        run_job(&b.deps, &job, 2).await.expect("resumed");
        let call = b.call(n).await;
        assert!(call.post_call.completed_at.is_some(), "after {crash_stage}");
        assert_eq!(call.post_call.attempts, 2);
        b.assert_each_effect_once_for_call(n, crash_stage, &before)
            .await;
    }
}

impl Bed {
    /// Transcriptions, then completions per schema, so far.
    fn llm_counts(&self) -> Vec<usize> {
        let mut counts = vec![self.transcriptions()];
        counts.extend(SCHEMAS.iter().map(|s| self.chats(s)));
        counts
    }

    /// Like `assert_each_effect_once`, for one of several calls in the bed: the LLM
    /// requests carry no call id, so they are counted from `before`.
    async fn assert_each_effect_once_for_call(&self, n: u32, crashed: Stage, before: &[usize]) {
        assert_eq!(self.downloads(n), 1, "downloads, crash after {crashed}");
        assert_eq!(self.deletes(n), 1, "deletions, crash after {crashed}");
        let made: Vec<usize> = self
            .llm_counts()
            .iter()
            .zip(before)
            .map(|(now, was)| now - was)
            .collect();
        assert_eq!(
            made, [1; 5],
            "transcription + {SCHEMAS:?}, crash after {crashed}"
        );
        assert_eq!(
            self.emails(n).await.len(),
            1,
            "e-mails, crash after {crashed}"
        );
        assert_eq!(self.webhooks(n).len(), 1, "webhooks, crash after {crashed}");
        let todos = self.stores.todos.call_todos(&sid(n)).await.expect("todos");
        assert_eq!(todos.len(), 1, "to-dos, crash after {crashed}");
    }
}

async fn a_job_that_keeps_failing_is_dead_lettered_with_its_error_on_the_call(b: Bed) {
    b.finished_call(30, "completed").await;
    b.openai.fail_always(500);
    b.queue
        .send(&b.job(30).to_body().expect("body"), Duration::ZERO)
        .await
        .expect("send");
    // Long polls may end just before the message is visible again: poll generously.
    b.drain_queue(4 * MAX_RECEIVES).await;

    let dead = b
        .dlq
        .receive(10, Duration::from_secs(2))
        .await
        .expect("dlq");
    assert_eq!(dead.len(), 1, "the job is in the dead-letter queue");
    assert_eq!(PostcallJob::parse(&dead[0].body), Ok(b.job(30)));
    let call = b.call(30).await;
    let pc = &call.post_call;
    assert!(pc.dead_lettered);
    assert_eq!(pc.attempts, MAX_RECEIVES);
    let error = pc.last_error.as_deref().unwrap_or_default();
    assert!(error.starts_with("transcript: "), "{error}");
    assert!(error.contains("500"), "{error}");
    // The recording stage had finished and was not repeated.
    assert_eq!(pc.stages[&Stage::Recording].status, StageStatus::Done);
    assert_eq!(pc.stages[&Stage::Transcript].status, StageStatus::Retrying);
    assert_eq!(b.downloads(30), 1);
}

async fn recording_callbacks_yield_one_job_and_duplicates_change_nothing(b: Bed) {
    b.finished_call(40, "completed").await;
    let calls = b.stores.calls.as_ref();
    let job = b.job(40);
    let first = request_job(calls, b.queue.as_ref(), &job, Utc::now())
        .await
        .expect("request");
    assert!(matches!(first, Requested::Enqueued { .. }), "{first:?}");
    let again = request_job(calls, b.queue.as_ref(), &job, Utc::now())
        .await
        .expect("request again");
    assert_eq!(again, Requested::AlreadyRequested);
    b.drain_queue(2).await;
    assert!(b.call(40).await.post_call.completed_at.is_some());
    assert!(
        b.queue
            .receive(10, Duration::ZERO)
            .await
            .expect("receive")
            .is_empty()
    );
    b.assert_each_effect_once(40).await;
}

async fn a_very_long_call_keeps_its_record_small_with_the_long_parts_stored(b: Bed) {
    b.finished_call(45, "completed").await;
    let line = "Let us go over every line of the invoice once more, slowly please. ".repeat(3);
    for seq in 3..600u32 {
        let turn = Turn {
            seq,
            speaker: if seq % 2 == 0 {
                Speaker::Agent
            } else {
                Speaker::Caller
            },
            text: line.clone(),
            offset_ms: u64::from(seq) * 3000,
        };
        b.stores
            .calls
            .append_turn(&sid(45), &turn)
            .await
            .expect("turn");
    }
    // Well over DynamoDB's 400 KB item limit, each of them.
    let spoken = "This is a very long call about an invoice. ".repeat(12_000);
    b.openai.set_transcript_for(AUDIO, spoken.clone());
    let summary = "z".repeat(450 * 1024);
    b.openai.respond("summary", json!({ "summary": summary }));

    let resp = b.deliver(&[b.job(45).to_body().expect("body")], 1).await;
    assert!(resp.batch_item_failures.is_empty(), "{resp:?}");
    let call = b.call(45).await;
    assert!(
        call.post_call.completed_at.is_some(),
        "{:?}",
        call.post_call
    );
    let size = serde_json::to_vec(&call).expect("json").len();
    assert!(size < 64 * 1024, "the call record is {size} bytes");

    let transcript = call.post_call.transcript.as_ref().expect("transcript");
    assert!(transcript.truncated);
    assert!(spoken.starts_with(&transcript.text));
    let key = BlobKey::parse(&transcript.blob_key).expect("key");
    let stored = b
        .stores
        .blobs
        .get_blob(&key)
        .await
        .expect("get")
        .expect("blob");
    let document: Value = serde_json::from_slice(&stored.bytes).expect("json");
    assert_eq!(document["text"], spoken.as_str());

    let Some(AnalysisResult::Ok {
        blob_key: Some(key),
        ..
    }) = call.post_call.analysis.get("summary")
    else {
        panic!("the summary is stored apart: {:?}", call.post_call.analysis);
    };
    let key = BlobKey::parse(key).expect("key");
    let stored = b
        .stores
        .blobs
        .get_blob(&key)
        .await
        .expect("get")
        .expect("blob");
    let value: Value = serde_json::from_slice(&stored.bytes).expect("json");
    assert_eq!(value["summary"], summary.as_str());
    // Small results stay on the record.
    assert!(matches!(
        call.post_call.analysis.get("sentiment"),
        Some(AnalysisResult::Ok { blob_key: None, .. })
    ));
}

// ---------------------------------------------------------------- local-only cases
// The stages' decisions do not depend on the store; these run on the local one.

#[tokio::test]
async fn a_recording_twilio_still_answers_404_for_is_fetched_after_backoff() {
    let b = local().await;
    b.finished_call(50, "completed").await;
    b.twilio.add_pending_recording(
        account().as_str(),
        recording_sid(50).as_str(),
        AUDIO.to_vec(),
        2,
    );
    run_job(&b.deps, &b.job(50), 1).await.expect("job");
    let call = b.call(50).await;
    assert!(call.recording.expect("rec").blob_key.is_some());
    let gets = b
        .twilio
        .requests()
        .iter()
        .filter(|r| r.method == "GET")
        .map(|r| r.status)
        .collect::<Vec<_>>();
    assert_eq!(gets, [404, 404, 200]);
}

#[tokio::test]
async fn a_recording_that_never_appears_is_retried_by_the_queue_not_dropped() {
    let b = local().await;
    b.finished_call(51, "completed").await;
    b.twilio.add_pending_recording(
        account().as_str(),
        recording_sid(51).as_str(),
        AUDIO.to_vec(),
        100,
    );
    let err = run_job(&b.deps, &b.job(51), 1).await.expect_err("404s");
    assert!(err.to_string().contains("404"), "{err}");
    let call = b.call(51).await;
    assert_eq!(
        call.post_call.stages[&Stage::Recording].status,
        StageStatus::Retrying
    );
    assert!(!call.post_call.dead_lettered);
    assert!(
        call.post_call.lease_until.is_none(),
        "a handled failure frees the lease"
    );
}

#[tokio::test]
async fn an_analyzer_result_off_its_schema_is_a_failure_not_data() {
    let b = local().await;
    b.openai
        .respond_raw("sentiment", r#"{"sentiment": "furious"}"#);
    b.finished_call(60, "completed").await;
    run_job(&b.deps, &b.job(60), 1)
        .await
        .expect("job completes");
    let call = b.call(60).await;
    match call.post_call.analysis.get("sentiment") {
        Some(AnalysisResult::Failed { error, .. }) => {
            assert!(error.contains("/sentiment fails \"enum\""), "{error}");
            assert!(
                !error.contains("furious"),
                "caller data kept out of errors: {error}"
            );
        }
        other => panic!("sentiment: {other:?}"),
    }
    assert!(matches!(
        call.post_call.analysis.get("summary"),
        Some(AnalysisResult::Ok { .. })
    ));
    let detail = call.post_call.stages[&Stage::Analysis].detail.clone();
    assert_eq!(detail.as_deref(), Some("2 analyzers, 1 failed"));
}

#[tokio::test]
async fn without_a_recording_the_live_transcript_carries_the_pipeline() {
    let b = local().await;
    b.finished_call(70, "absent").await;
    run_job(&b.deps, &b.job(70), 1).await.expect("job");
    let call = b.call(70).await;
    let pc = &call.post_call;
    assert_eq!(pc.stages[&Stage::Recording].status, StageStatus::Skipped);
    assert_eq!(
        pc.stages[&Stage::Recording].detail.as_deref(),
        Some("recording absent")
    );
    let transcript = pc.transcript.as_ref().expect("transcript");
    assert_eq!(transcript.source, TranscriptSource::Live);
    assert!(
        transcript
            .text
            .starts_with("Agent: Hello, Bright Smile Dental.\nCaller: This is Dana Lee")
    );
    assert_eq!(b.transcriptions(), 0);
    assert_eq!(b.downloads(70), 0);
    assert!(pc.completed_at.is_some());
    let sent = b
        .openai
        .requests()
        .into_iter()
        .find(|r| r.schema_name.as_deref() == Some("summary"))
        .expect("summary asked");
    assert!(
        sent.messages
            .iter()
            .any(|(role, text)| role == "user" && text.contains("Caller: This is Dana Lee"))
    );
}

#[tokio::test]
async fn person_edited_contact_fields_survive_enrichment() {
    let b = local().await;
    let mut contact = Contact::new(b.org.id.clone(), caller(), Utc::now());
    contact.set_by_person(ContactField::Name, Some("Dr. Dana Lee".into()));
    b.stores
        .contacts
        .create_contact(&contact)
        .await
        .expect("contact");
    b.finished_call(80, "completed").await;
    run_job(&b.deps, &b.job(80), 1).await.expect("job");
    let contact = b
        .stores
        .contacts
        .get_contact(&b.org.id, &caller())
        .await
        .expect("get")
        .expect("contact");
    assert_eq!(contact.name.as_deref(), Some("Dr. Dana Lee"));
    assert_eq!(contact.company.as_deref(), Some("Acme Dental Supply"));
}

#[tokio::test]
async fn the_report_webhook_is_retried_until_it_takes_the_report() {
    let b = local().await;
    b.hook.respond_with(vec![500, 503, 200]);
    b.finished_call(90, "completed").await;
    run_job(&b.deps, &b.job(90), 1).await.expect("job");
    let hooks = b.webhooks(90);
    let statuses: Vec<u16> = hooks.iter().map(|d| d.status).collect();
    assert_eq!(statuses, [500, 503, 200]);
    assert!(hooks.iter().all(|d| d.verified.is_ok()), "{hooks:?}");
    let call = b.call(90).await;
    assert_eq!(
        call.post_call.stages[&Stage::ReportWebhook]
            .detail
            .as_deref(),
        Some("delivered (200 after 3 attempts)")
    );
}

#[tokio::test]
async fn a_webhook_that_refuses_the_report_fails_that_stage_only() {
    let b = local().await;
    b.hook.respond_with(vec![410]);
    b.finished_call(91, "completed").await;
    run_job(&b.deps, &b.job(91), 1)
        .await
        .expect("job completes");
    let call = b.call(91).await;
    let state = &call.post_call.stages[&Stage::ReportWebhook];
    assert_eq!(state.status, StageStatus::Failed);
    assert!(state.error.as_deref().unwrap_or_default().contains("410"));
    assert_eq!(
        call.post_call.stages[&Stage::ReportEmail].status,
        StageStatus::Done
    );
    assert!(call.post_call.completed_at.is_some());
}

#[tokio::test]
async fn production_never_posts_reports_into_its_own_network() {
    let mut b = local().await;
    b.deps.config.webhook_allow_private = false;
    b.finished_call(95, "completed").await;
    run_job(&b.deps, &b.job(95), 1)
        .await
        .expect("job completes");
    let call = b.call(95).await;
    let state = &call.post_call.stages[&Stage::ReportWebhook];
    assert_eq!(state.status, StageStatus::Failed);
    assert!(
        state
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("must be https"),
        "{state:?}"
    );
    assert!(
        b.webhooks(95).is_empty(),
        "nothing reached the loopback receiver"
    );
}

#[tokio::test]
async fn malformed_and_foreign_messages_fail_alone_in_their_batch() {
    let b = local().await;
    b.finished_call(100, "completed").await;
    let mut foreign = b.job(100);
    foreign.org = OrgId::parse("someone-else").expect("org");
    let bodies = [
        "not json".to_owned(),
        b.job(100).to_body().expect("body"),
        foreign.to_body().expect("body"),
        json!({"v": 1, "org": "bright-smile", "call": sid(999).to_string(), "recording": recording_sid(999).to_string()}).to_string(),
    ];
    let resp = b.deliver(&bodies, 1).await;
    let failed: Vec<&str> = resp
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["m-0", "m-2", "m-3"]);
    assert!(b.call(100).await.post_call.completed_at.is_some());
    // The foreign job wrote nothing on the call it named.
    assert_eq!(b.call(100).await.post_call.attempts, 1);
}

#[tokio::test]
async fn concurrent_deliveries_of_one_job_run_it_once() {
    let b = local().await;
    b.finished_call(110, "completed").await;
    let job = b.job(110);
    let (x, y) = tokio::join!(run_job(&b.deps, &job, 1), run_job(&b.deps, &job, 1));
    let leased = [&x, &y]
        .iter()
        .filter(|r| matches!(r, Err(JobError::Leased(_))))
        .count();
    assert_eq!(leased, 1, "{x:?} {y:?}");
    assert!(x.is_ok() || y.is_ok());
    b.assert_each_effect_once(110).await;
}

#[tokio::test]
async fn a_job_near_the_deadline_stops_records_retrying_and_frees_its_lease() {
    let mut b = local().await;
    b.finished_call(96, "completed").await;
    // Twilio answers 404 once, and the worker would wait long before asking again:
    // longer than the function has left.
    b.twilio.add_pending_recording(
        account().as_str(),
        recording_sid(96).as_str(),
        AUDIO.to_vec(),
        1,
    );
    b.deps.config.recording_backoff = vec![Duration::from_secs(120)];
    let deadline = tokio::time::Instant::now() + DEADLINE_MARGIN + Duration::from_millis(500);
    let err = run_job_before(&b.deps, &b.job(96), 1, Some(deadline))
        .await
        .expect_err("stopped");
    assert!(err.to_string().contains("deadline"), "{err}");
    let pc = b.call(96).await.post_call;
    let recording = &pc.stages[&Stage::Recording];
    assert_eq!(recording.status, StageStatus::Retrying);
    assert!(
        recording
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("deadline"),
        "{recording:?}"
    );
    assert!(pc.lease_until.is_none(), "the lease is given back");
    assert!(!pc.dead_lettered, "a first receive is not the last");
    // The redelivery resumes at once (no lease to wait out) and finishes.
    b.deps.config.recording_backoff = vec![Duration::from_millis(50)];
    run_job(&b.deps, &b.job(96), 2).await.expect("resumed");
    assert!(b.call(96).await.post_call.completed_at.is_some());
}

#[tokio::test]
async fn every_failure_on_the_last_receive_marks_the_call_dead_lettered() {
    let b = local().await;
    let call = b.finished_call(97, "completed").await;
    // Another delivery holds the lease past this one's last receive: the message goes
    // to the dead-letter queue without any stage failing.
    let held = hotline_core::ports::modify_call(b.stores.calls.as_ref(), &call.sid, |c| {
        c.post_call.lease_until = Some(Utc::now() + chrono::Duration::hours(1));
    })
    .await
    .expect("lease");
    assert!(!held.post_call.dead_lettered);
    let body = b.job(97).to_body().expect("body");
    let resp = b.deliver(std::slice::from_ref(&body), 1).await;
    assert_eq!(resp.batch_item_failures.len(), 1);
    assert!(
        !b.call(97).await.post_call.dead_lettered,
        "not the last receive"
    );
    let resp = b.deliver(std::slice::from_ref(&body), MAX_RECEIVES).await;
    assert_eq!(resp.batch_item_failures.len(), 1);
    let pc = b.call(97).await.post_call;
    assert!(pc.dead_lettered, "{pc:?}");
    assert!(
        pc.last_error
            .as_deref()
            .unwrap_or_default()
            .contains("holds the job"),
        "{pc:?}"
    );
}

#[tokio::test]
async fn a_job_the_sweeper_sent_without_a_recording_works_from_the_live_turns() {
    let b = local().await;
    let call = b.finished_call(98, "completed").await;
    hotline_core::ports::modify_call(b.stores.calls.as_ref(), &call.sid, |c| {
        c.recording = None;
    })
    .await
    .expect("no recording");
    let job = PostcallJob::without_recording(b.org.id.clone(), sid(98));
    let resp = b.deliver(&[job.to_body().expect("body")], 1).await;
    assert!(resp.batch_item_failures.is_empty(), "{resp:?}");
    let pc = b.call(98).await.post_call;
    assert!(pc.completed_at.is_some(), "{pc:?}");
    assert_eq!(pc.stages[&Stage::Recording].status, StageStatus::Skipped);
    let transcript = pc.transcript.expect("transcript");
    assert_eq!(transcript.source, TranscriptSource::Live);
    assert!(
        transcript.text.contains("move my cleaning"),
        "{transcript:?}"
    );
    assert_eq!(b.transcriptions(), 0, "nothing to transcribe");
}

/// Also run by the next test as a child process with proxy variables set.
#[tokio::test]
async fn a_report_webhook_goes_straight_to_its_host() {
    let b = local().await;
    // By name, so that `NO_PROXY=127.0.0.1` (which keeps the Twilio and OpenAI fakes
    // reachable in the child) does not cover the webhook.
    let mut org = b.org.clone();
    org.settings.report_webhook_url = Some(b.hook.url().replace("127.0.0.1", "localhost"));
    b.stores.directory.put_org(&org).await.expect("org");
    b.finished_call(99, "completed").await;
    run_job(&b.deps, &b.job(99), 1).await.expect("job");
    assert_eq!(b.webhooks(99).len(), 1);
}

#[test]
fn report_webhooks_ignore_proxy_variables() {
    // A proxy would connect wherever the host name leads, past the addresses the SSRF
    // guard checked; this one leads nowhere, so using it fails the webhook.
    let nowhere = "http://127.0.0.1:9";
    let mut child = std::process::Command::new(std::env::current_exe().expect("test binary"));
    child
        .args(["--exact", "a_report_webhook_goes_straight_to_its_host"])
        .env("NO_PROXY", "127.0.0.1")
        .env("no_proxy", "127.0.0.1");
    for var in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ] {
        child.env(var, nowhere);
    }
    let out = child.output().expect("run the child test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
