//! The sweeper on both stores (local, and DynamoDB/SQS on moto) against the fake Twilio
//! REST API: a call whose recording callback never came gets exactly one post-call job,
//! however often it is swept and whenever the callback finally arrives.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hotline_core::ids::{AccountSid, AgentId, CallSid, OrgId, Party, RecordingSid};
use hotline_core::model::{
    Call, CallStatus, Direction, JobClaim, OrgSettings, Organization, RecordingStatus,
    TwilioAccount,
};
use hotline_core::postcall::{PostcallJob, Requested, request_job};
use hotline_sim::twilio_rest::FakeTwilio;
use hotline_sweeper::{Deps, SweepConfig, TwilioRecordings, handle};
use hotline_testkit::store::{QueueSpec, TestStore};
use secrecy::SecretString;

const TOKEN: &str = "twilio-auth-token";
/// Calls ended longer ago than this are due.
const AFTER_SECS: i64 = 120;

struct Bed {
    store: TestStore,
    twilio: FakeTwilio,
    deps: Deps,
    org: Organization,
}

fn account() -> AccountSid {
    AccountSid::parse(&format!("AC{}", "7".repeat(32))).expect("account")
}

fn sid(n: u32) -> CallSid {
    CallSid::parse(&format!("CA{n:032x}")).expect("call sid")
}

fn recording_sid(n: u32) -> RecordingSid {
    RecordingSid::parse(&format!("RE{n:032x}")).expect("recording sid")
}

const QUEUE: QueueSpec = QueueSpec {
    name: "sweep",
    visibility: Duration::from_secs(30),
    max_receives: 5,
};

async fn local() -> Bed {
    bed(TestStore::local_with(QUEUE)).await
}

async fn aws() -> Bed {
    bed(TestStore::aws_with(QUEUE).await).await
}

async fn bed(store: TestStore) -> Bed {
    let twilio = FakeTwilio::start().await.expect("twilio");
    twilio.add_account(account().as_str(), TOKEN);
    let org = Organization {
        id: OrgId::parse("bright-smile").expect("org"),
        name: "Bright Smile Dental".into(),
        twilio: TwilioAccount {
            parent: None,
            account_sid: account(),
            auth_token: SecretString::from(TOKEN),
        },
        settings: OrgSettings::default(),
        version: 0,
    };
    store.directory.put_org(&org).await.expect("org");
    let config = SweepConfig::from_lookup(|k| match k {
        "HOTLINE_SWEEP_AFTER_SECS" => Some(AFTER_SECS.to_string()),
        "TWILIO_API_BASE_URL" => Some(twilio.base_url().to_owned()),
        _ => None,
    })
    .expect("config");
    let deps = Deps {
        recordings: TwilioRecordings::new(&config.twilio_api_base_url).expect("client"),
        config,
        directory: store.directory.clone(),
        calls: store.calls.clone(),
        queue: Arc::clone(&store.queue),
    };
    Bed {
        store,
        twilio,
        deps,
        org,
    }
}

impl Bed {
    /// A call that was answered and ended `ended_secs_ago`, with nothing else known.
    async fn ended_call(&self, n: u32, ended_secs_ago: i64) -> Call {
        let end = Utc::now() - chrono::Duration::seconds(ended_secs_ago);
        let call = Call {
            sid: sid(n),
            org: self.org.id.clone(),
            agent: AgentId::parse("receptionist").expect("agent"),
            from: Party::parse("+14155550123").expect("from"),
            to: Party::parse("+14155550199").expect("to"),
            direction: Direction::Inbound,
            status: CallStatus::InProgress,
            started_at: end - chrono::Duration::seconds(90),
            answered_at: None,
            ended_at: None,
            contact: None,
            greeting: None,
            stream_token: "t".into(),
            transfers: Vec::new(),
            outcome: None,
            recording: None,
            post_call: Default::default(),
            outbound: None,
            version: 0,
        };
        let created = self
            .store
            .calls
            .create_call(&call)
            .await
            .expect("create")
            .into_inner();
        let mut ended = created;
        ended.apply_status(CallStatus::Completed, end);
        self.store.calls.update_call(&ended).await.expect("end")
    }

    async fn call(&self, n: u32) -> Call {
        self.store
            .calls
            .get_call(&sid(n))
            .await
            .expect("get")
            .expect("call")
    }

    /// Every job on the queue now (taken off it).
    async fn jobs(&self) -> Vec<PostcallJob> {
        let mut jobs = Vec::new();
        loop {
            let batch = self
                .store
                .queue
                .receive(10, Duration::from_millis(200))
                .await
                .expect("receive");
            if batch.is_empty() {
                return jobs;
            }
            for m in batch {
                jobs.push(PostcallJob::parse(&m.body).expect("a post-call job"));
                self.store.queue.delete(&m.receipt).await.expect("delete");
            }
        }
    }
}

fn ago(secs: i64) -> DateTime<Utc> {
    Utc::now() - chrono::Duration::seconds(secs)
}

hotline_testkit::on_both_stores! {
    local: local, aws: aws;
    a_call_ended_without_any_callback_gets_exactly_one_job,
    repeated_sweeps_and_a_late_callback_still_give_one_job,
    a_recording_whose_callback_never_came_is_found_on_twilio,
    a_recording_twilio_is_still_processing_waits_for_a_later_sweep,
    a_claim_orphaned_before_its_send_is_requested_again,
    calls_not_yet_due_or_still_live_are_left_alone,
    a_call_whose_organization_is_gone_still_gets_its_job,
    a_recording_processing_for_over_an_hour_is_waited_for_no_longer,
}

async fn a_call_ended_without_any_callback_gets_exactly_one_job(b: Bed) {
    b.ended_call(1, AFTER_SECS + 60).await;
    let swept = handle(&b.deps).await.expect("sweep");
    assert_eq!(swept.requested, 1);
    assert_eq!(
        b.jobs().await,
        [PostcallJob::without_recording(b.org.id.clone(), sid(1))]
    );
    let claim = b.call(1).await.post_call.job.expect("claimed");
    assert!(claim.enqueued_at.is_some(), "{claim:?}");
    // Twilio was asked for the call's recordings before the job went without one.
    let listed = format!(
        "/2010-04-01/Accounts/{}/Calls/{}/Recordings.json",
        account(),
        sid(1)
    );
    assert!(b.twilio.requests().iter().any(|r| r.path == listed));
}

async fn repeated_sweeps_and_a_late_callback_still_give_one_job(b: Bed) {
    b.ended_call(2, AFTER_SECS + 60).await;
    for _ in 0..3 {
        handle(&b.deps).await.expect("sweep");
    }
    // The recording callback arrives at last and asks for the job as it always does.
    let late = PostcallJob::new(b.org.id.clone(), sid(2), recording_sid(2));
    let answer = request_job(
        b.deps.calls.as_ref(),
        b.deps.queue.as_ref(),
        &late,
        Utc::now(),
    )
    .await
    .expect("late callback");
    assert_eq!(answer, Requested::AlreadyRequested);
    assert_eq!(b.jobs().await.len(), 1);
    let swept = handle(&b.deps).await.expect("sweep");
    assert_eq!(swept.requested + swept.already_requested, 0, "{swept:?}");
}

async fn a_recording_whose_callback_never_came_is_found_on_twilio(b: Bed) {
    b.ended_call(3, AFTER_SECS + 60).await;
    b.twilio.add_call_recording(
        account().as_str(),
        sid(3).as_str(),
        recording_sid(3).as_str(),
        b"ID3 mp3".to_vec(),
        0,
    );
    handle(&b.deps).await.expect("sweep");
    assert_eq!(
        b.jobs().await,
        [PostcallJob::new(b.org.id.clone(), sid(3), recording_sid(3))]
    );
    // The worker finds it on the call and copies it.
    let recording = b.call(3).await.recording.expect("noted");
    assert_eq!(
        (recording.sid, recording.status),
        (recording_sid(3), RecordingStatus::Completed)
    );
}

async fn a_recording_twilio_is_still_processing_waits_for_a_later_sweep(b: Bed) {
    b.ended_call(4, AFTER_SECS + 60).await;
    // Processing: the media answers 404 (and the list says `processing`) for now.
    b.twilio.add_call_recording(
        account().as_str(),
        sid(4).as_str(),
        recording_sid(4).as_str(),
        b"ID3 mp3".to_vec(),
        1,
    );
    let swept = handle(&b.deps).await.expect("sweep");
    assert_eq!(swept.waiting, 1);
    assert!(b.jobs().await.is_empty());
    assert!(b.call(4).await.post_call.job.is_none());
}

async fn a_claim_orphaned_before_its_send_is_requested_again(b: Bed) {
    let call = b.ended_call(5, AFTER_SECS + 60).await;
    // A recording callback's Lambda claimed the job and died before sending it.
    let mut orphaned = call;
    orphaned.post_call.job = Some(JobClaim {
        key: recording_sid(5).to_string(),
        token: "dead-lambda".into(),
        claimed_at: ago(AFTER_SECS),
        enqueued_at: None,
        message_id: None,
    });
    b.store.calls.update_call(&orphaned).await.expect("claim");
    let swept = handle(&b.deps).await.expect("sweep");
    assert_eq!(swept.requested, 1, "{swept:?}");
    assert_eq!(b.jobs().await.len(), 1);
    let claim = b.call(5).await.post_call.job.expect("claim");
    assert_ne!(claim.token, "dead-lambda");
    assert!(claim.enqueued_at.is_some());
}

async fn calls_not_yet_due_or_still_live_are_left_alone(b: Bed) {
    b.ended_call(6, 5).await;
    let live = Call {
        sid: sid(7),
        status: CallStatus::InProgress,
        ended_at: None,
        version: 0,
        ..b.ended_call(8, AFTER_SECS + 60).await
    };
    b.store.calls.create_call(&live).await.expect("live");
    // Only call 8 is due.
    let swept = handle(&b.deps).await.expect("sweep");
    assert_eq!(swept.requested, 1, "{swept:?}");
    let jobs = b.jobs().await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].call, sid(8));
}

async fn a_call_whose_organization_is_gone_still_gets_its_job(b: Bed) {
    let mut orphan = b.ended_call(9, AFTER_SECS + 60).await;
    orphan.sid = sid(10);
    orphan.org = OrgId::parse("gone").expect("org");
    orphan.version = 0;
    b.store.calls.create_call(&orphan).await.expect("create");
    // Created already ended: straight into the index.
    let swept = handle(&b.deps).await.expect("sweep");
    assert_eq!(swept.requested, 2, "{swept:?}");
    let mut calls: Vec<CallSid> = b.jobs().await.into_iter().map(|j| j.call).collect();
    calls.sort_by_key(ToString::to_string);
    assert_eq!(calls, [sid(9), sid(10)]);
}

async fn a_recording_processing_for_over_an_hour_is_waited_for_no_longer(b: Bed) {
    b.ended_call(11, 2 * 3600).await;
    b.twilio.add_call_recording(
        account().as_str(),
        sid(11).as_str(),
        recording_sid(11).as_str(),
        b"ID3 mp3".to_vec(),
        1000,
    );
    let swept = handle(&b.deps).await.expect("sweep");
    assert_eq!(swept.requested, 1, "{swept:?}");
    assert_eq!(
        b.jobs().await,
        [PostcallJob::new(
            b.org.id.clone(),
            sid(11),
            recording_sid(11)
        )]
    );
    // Noted as Twilio reports it: the worker goes on from the live turns.
    let recording = b.call(11).await.recording.expect("noted");
    assert_eq!(recording.status, RecordingStatus::Processing);
}
