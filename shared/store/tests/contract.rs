//! One contract, two adapters: every case runs against the local store and against
//! DynamoDB/S3/SQS on moto. The AWS half fails (never skips) when moto is missing.

use std::time::Duration;

use chrono::{DateTime, SubsecRound, TimeZone, Utc};
use hotline_core::ids::{AccountSid, AgentId, CallSid, E164, MessageSid, OrgId, Party};
use hotline_core::model::{
    Agent, Analyzer, Call, CallLimits, CallStatus, Channel, Contact, Direction, JobClaim, Message,
    MessageDirection, OrgSettings, Organization, PhoneNumber, Provider, Speaker, Todo, TodoItem,
    ToolKind, ToolSpec, Turn, TwilioAccount,
};
use hotline_core::model::{ApiKey, Role};
use hotline_core::ports::{BlobKey, CallPosition, StoreError, TodoPosition};
use hotline_testkit::store::{QueueSpec, TestStore};

#[path = "contract/people.rs"]
mod people;

/// A store plus a work queue and its dead-letter queue.
type Fixture = TestStore;

const VISIBILITY: Duration = Duration::from_secs(1);
const MAX_RECEIVES: u32 = 2;
/// A short visibility timeout, so that redelivery and dead-lettering are quick.
const QUEUE: QueueSpec = QueueSpec {
    name: "work",
    visibility: VISIBILITY,
    max_receives: MAX_RECEIVES,
};

async fn local() -> Fixture {
    TestStore::local_with(QUEUE)
}

async fn aws() -> Fixture {
    TestStore::aws_with(QUEUE).await
}

hotline_testkit::on_both_stores! {
    local: local, aws: aws;
    organization_round_trips_and_is_found_by_its_account,
    organization_that_changed_account_is_not_found_by_the_old_one,
    agents_round_trip_with_nested_settings_and_list_per_organization,
    numbers_resolve_to_organization_and_agent,
    an_account_another_organization_holds_is_refused,
    an_account_left_behind_by_an_organization_that_moved_can_be_claimed,
    a_number_another_organization_holds_is_refused,
    creating_a_call_twice_keeps_the_first_record,
    a_dial_is_created_once_and_updated_by_version,
    updating_a_call_needs_the_current_version,
    calls_list_per_organization_newest_first,
    calls_awaiting_their_job_are_found_oldest_end_first_until_it_is_sent,
    turns_append_once_and_come_back_in_order,
    a_record_over_the_item_limit_is_refused_as_invalid_not_unavailable,
    contacts_are_created_once_and_updated_by_version,
    todos_are_created_once_and_listed_per_call_and_organization,
    blobs_round_trip_and_overwrite,
    queue_delivers_hides_and_redelivers_after_the_visibility_timeout,
    queue_honours_send_delay,
    queue_dead_letters_after_the_receive_limit,
    stale_receipt_does_not_delete_a_redelivered_message,
    api_keys_are_found_by_hash_listed_per_organization_and_revoked,
    numbers_list_per_organization,
    agents_update_by_version_and_create_only_when_absent,
    calls_page_after_a_position_newest_first,
    messages_are_created_once_by_sid_and_updated_by_version,
    a_conversation_lists_one_contact_channel_and_organization_newest_first,
    stream_nodes_report_and_the_latest_report_wins,
    todos_are_found_by_id_in_their_organization_updated_by_version_and_paged,
    org_secrets_are_sealed_in_the_table_and_plain_through_the_ports,
    a_rotated_secret_is_read_at_once_by_a_store_opened_before,
    an_org_written_before_sealing_still_reads_and_is_sealed_when_written,
    a_wrong_or_absent_key_is_a_clear_error_not_a_panic,
    a_number_is_deleted_only_by_its_organization_and_is_then_free,
    a_number_is_updated_only_over_the_version_read,
    campaigns_are_created_once_kept_per_organization_and_found_running,
    leads_are_one_per_number_paged_listed_by_state_and_claimed_over_the_version,
    due_leads_are_the_pending_and_the_retries_whose_time_came,
    the_do_not_call_list_is_kept_per_organization,
    two_dialers_at_once_place_each_lead_once,
    outside_the_window_nothing_is_dialed_until_it_opens,
    a_lead_whose_callback_never_came_is_released_and_the_campaign_completes,
    a_lead_opting_out_during_its_call_stays_opted_out_when_the_call_ends,
}

#[path = "contract/campaigns.rs"]
mod campaigns;
use campaigns::*;

#[path = "contract/numbers_delete.rs"]
mod numbers_delete;
use numbers_delete::*;

#[path = "contract/sealing.rs"]
mod sealing;
use sealing::*;

fn org_id(n: &str) -> OrgId {
    OrgId::parse(n).expect("org id")
}

fn account(n: u8) -> AccountSid {
    AccountSid::parse(&format!("AC{n:032x}")).expect("account sid")
}

fn call_sid(n: u32) -> CallSid {
    CallSid::parse(&format!("CA{n:032x}")).expect("call sid")
}

fn phone(s: &str) -> E164 {
    E164::parse(s).expect("phone")
}

fn org(id: &str, acct: u8) -> Organization {
    Organization {
        id: org_id(id),
        name: format!("Org {id} — café ☎"),
        twilio: TwilioAccount {
            parent: None,
            account_sid: account(acct),
            auth_token: "secret-token".to_owned().into(),
        },
        settings: OrgSettings {
            report_emails: vec!["ops@example.com".into()],
            report_webhook_url: Some("https://example.com/hook".into()),
            report_webhook_secret: Some("whsec-test".to_owned().into()),
            delete_twilio_recordings: true,
            default_analyzers: Vec::new(),
        },
        version: 0,
    }
}

fn agent(org: &str, id: &str) -> Agent {
    Agent {
        org: org_id(org),
        id: AgentId::parse(id).expect("agent id"),
        name: "Front desk".into(),
        instructions: "Be kind.\nSay \"hello\".".into(),
        voice: "marin".into(),
        greeting: Some("Thanks for calling!".into()),
        voicemail_message: None,
        enabled: true,
        provider: Provider::OpenaiRealtime,
        model: "gpt-realtime".into(),
        tools: vec![ToolSpec {
            name: "transfer_call".into(),
            description: "Hand over to a human".into(),
            parameters: serde_json::json!({
                "type": "object",
                "properties": {"reason": {"type": "string"}, "urgency": {"type": "number", "minimum": 0.5}},
                "required": [],
                "additionalProperties": false,
                "nothing": null
            }),
            kind: ToolKind::TransferCall {
                to: phone("+14155550199"),
                // Warm, so every setting of a transfer goes through the store.
                mode: hotline_core::transfer::TransferMode::Warm,
                hold_music_url: Some("https://example.com/hold.mp3".into()),
                ring_timeout_secs: Some(20),
            },
        }],
        analyzers: vec![Analyzer {
            name: "sentiment".into(),
            prompt: "How did the caller feel?".into(),
            schema: serde_json::json!({"type": "object", "properties": {}}),
        }],
        limits: CallLimits {
            max_duration_secs: 600,
            silence_timeout_secs: 15,
        },
        fallback: None,
        pipeline: None,
        version: 0,
    }
}

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_790_000_000 + secs, 0)
        .single()
        .expect("time")
}

fn call(n: u32, org: &str, started: DateTime<Utc>) -> Call {
    Call {
        sid: call_sid(n),
        org: org_id(org),
        agent: AgentId::parse("front-desk").expect("agent"),
        from: Party::parse("+14155550100").expect("from"),
        to: Party::parse("+14155550111").expect("to"),
        direction: Direction::Inbound,
        status: CallStatus::Ringing,
        started_at: started,
        answered_at: None,
        ended_at: None,
        contact: Some(phone("+14155550100")),
        greeting: Some("Hello".into()),
        stream_token: "tok".into(),
        transfers: Vec::new(),
        outcome: None,
        recording: None,
        post_call: Default::default(),
        outbound: None,
        version: 0,
    }
}

fn dial(id: &str) -> hotline_core::model::Dial {
    hotline_core::model::Dial {
        id: id.to_owned(),
        org: org_id("acme"),
        agent: AgentId::parse("front-desk").expect("agent"),
        from: phone("+14155550111"),
        to: phone("+14155550100"),
        variables: [("name".to_owned(), "Ada «☎»".to_owned())].into(),
        instructions: "Remind Ada «☎» of her visit.".into(),
        greeting: Some("Hi Ada".into()),
        voicemail_message: None,
        machine_detection: true,
        fingerprint: "f".into(),
        state: hotline_core::model::DialState::Pending,
        call_sid: None,
        error: None,
        retry: false,
        lead: None,
        created_at: at(0),
        version: 0,
    }
}

async fn a_dial_is_created_once_and_updated_by_version(f: Fixture) {
    let d = &f.stores.dials;
    let id = format!("dl_{}", "ab".repeat(16));
    let first = d.create_dial(&dial(&id)).await.expect("create");
    assert!(first.is_new());
    let mut other = dial(&id);
    other.instructions = "something else".into();
    let again = d.create_dial(&other).await.expect("create again");
    assert!(!again.is_new());
    let mut stored = again.into_inner();
    assert_eq!(stored, first.clone().into_inner());
    assert_eq!(stored.version, 1);

    stored.call_sid = Some(call_sid(7));
    stored.state = hotline_core::model::DialState::Placed;
    let updated = d.update_dial(&stored).await.expect("update");
    assert_eq!(updated.version, 2);
    let err = d.update_dial(&stored).await.expect_err("stale version");
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    let got = d.get_dial(&id).await.expect("get").expect("found");
    assert_eq!(got, updated);
    assert!(d.get_dial("dl_nope").await.expect("get").is_none());
}

async fn organization_round_trips_and_is_found_by_its_account(f: Fixture) {
    let d = &f.stores.directory;
    d.put_org(&org("acme", 1)).await.expect("put");
    let got = d
        .get_org(&org_id("acme"))
        .await
        .expect("get")
        .expect("found");
    assert_eq!(got.name, "Org acme — café ☎");
    assert_eq!(got.settings.report_emails, vec!["ops@example.com"]);
    assert_eq!(
        got.settings
            .report_webhook_secret
            .as_ref()
            .map(secrecy::ExposeSecret::expose_secret),
        Some("whsec-test")
    );
    let by_account = d
        .org_by_account(&account(1))
        .await
        .expect("get")
        .expect("found");
    assert_eq!(by_account.id, org_id("acme"));
    assert!(d.org_by_account(&account(2)).await.expect("get").is_none());
    assert!(d.get_org(&org_id("nobody")).await.expect("get").is_none());
    d.put_org(&org("beta", 2)).await.expect("put");
    d.put_org(&org("acme", 1)).await.expect("put again");
    let all: Vec<_> = d
        .list_orgs()
        .await
        .expect("list")
        .into_iter()
        .map(|o| o.id.to_string())
        .collect();
    assert_eq!(all, ["acme", "beta"]);
}

async fn organization_that_changed_account_is_not_found_by_the_old_one(f: Fixture) {
    let d = &f.stores.directory;
    d.put_org(&org("acme", 1)).await.expect("put");
    d.put_org(&org("acme", 3)).await.expect("put moved");
    assert!(d.org_by_account(&account(1)).await.expect("get").is_none());
    assert_eq!(
        d.org_by_account(&account(3))
            .await
            .expect("get")
            .map(|o| o.id),
        Some(org_id("acme"))
    );
}

async fn agents_round_trip_with_nested_settings_and_list_per_organization(f: Fixture) {
    let d = &f.stores.directory;
    let a = agent("acme", "front-desk");
    d.put_agent(&a).await.expect("put");
    d.put_agent(&agent("acme", "after-hours"))
        .await
        .expect("put");
    d.put_agent(&agent("other", "front-desk"))
        .await
        .expect("put");
    let got = d
        .get_agent(&org_id("acme"), &a.id)
        .await
        .expect("get")
        .expect("found");
    assert_eq!(got, a);
    let names: Vec<_> = d
        .list_agents(&org_id("acme"))
        .await
        .expect("list")
        .into_iter()
        .map(|a| a.id.to_string())
        .collect();
    assert_eq!(names, ["after-hours", "front-desk"]);
}

async fn numbers_resolve_to_organization_and_agent(f: Fixture) {
    let d = &f.stores.directory;
    let n = PhoneNumber {
        number: phone("+14155550111"),
        org: org_id("acme"),
        agent: AgentId::parse("front-desk").expect("agent"),
        enabled: true,
        sms: true,
        sms_agent: None,
        sms_disabled_message: None,
        analyzers: Vec::new(),
        version: 0,
    };
    d.put_number(&n).await.expect("put");
    assert_eq!(d.get_number(&n.number).await.expect("get"), Some(n));
    assert!(
        d.get_number(&phone("+14155550112"))
            .await
            .expect("get")
            .is_none()
    );
}

async fn creating_a_call_twice_keeps_the_first_record(f: Fixture) {
    let c = &f.stores.calls;
    let first = call(1, "acme", at(0));
    let created = c.create_call(&first).await.expect("create");
    assert!(created.is_new());
    assert_eq!(created.clone().into_inner().version, 1);
    let mut second = first.clone();
    second.greeting = Some("something else".into());
    let again = c.create_call(&second).await.expect("create again");
    assert!(!again.is_new());
    let stored = again.into_inner();
    assert_eq!(stored.greeting.as_deref(), Some("Hello"));
    assert_eq!(stored.version, 1);
    assert_eq!(
        c.list_calls(&org_id("acme"), 10).await.expect("list").len(),
        1
    );
}

async fn updating_a_call_needs_the_current_version(f: Fixture) {
    let c = &f.stores.calls;
    let created = c
        .create_call(&call(1, "acme", at(0)))
        .await
        .expect("create")
        .into_inner();
    let mut answered = created.clone();
    answered.status = CallStatus::InProgress;
    answered.answered_at = Some(at(3));
    let updated = c.update_call(&answered).await.expect("update");
    assert_eq!(updated.version, 2);
    let mut stale = created;
    stale.status = CallStatus::Completed;
    let err = c.update_call(&stale).await.expect_err("stale write");
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    let stored = c.get_call(&call_sid(1)).await.expect("get").expect("found");
    assert_eq!(stored.status, CallStatus::InProgress);
    assert_eq!(stored.answered_at, Some(at(3)));
    assert_eq!(stored.version, 2);
    let missing = call(9, "acme", at(0));
    assert!(
        c.update_call(&missing).await.is_err(),
        "update of a missing call"
    );
}

async fn calls_list_per_organization_newest_first(f: Fixture) {
    let c = &f.stores.calls;
    for (n, secs) in [(1, 10), (2, 30), (3, 20), (4, 40)] {
        c.create_call(&call(n, "acme", at(secs)))
            .await
            .expect("create");
    }
    c.create_call(&call(5, "other", at(50)))
        .await
        .expect("create");
    let listed: Vec<_> = c
        .list_calls(&org_id("acme"), 3)
        .await
        .expect("list")
        .into_iter()
        .map(|c| c.sid)
        .collect();
    assert_eq!(listed, [call_sid(4), call_sid(2), call_sid(3)]);
    let other = c.list_calls(&org_id("other"), 10).await.expect("list");
    assert_eq!(other.len(), 1);
    assert!(
        c.list_calls(&org_id("nobody"), 10)
            .await
            .expect("list")
            .is_empty()
    );
}

async fn calls_awaiting_their_job_are_found_oldest_end_first_until_it_is_sent(f: Fixture) {
    let c = &f.stores.calls;
    let claim = |enqueued: bool| JobClaim {
        key: "no-recording".into(),
        token: "t".into(),
        claimed_at: at(70),
        enqueued_at: enqueued.then(|| at(71)),
        message_id: enqueued.then(|| "m".to_owned()),
    };
    // (call, ended at, claim): 1 and 5 are due, 2 ends too late, 3 is still on the
    // line, 4's job was sent; 5's claimant died before sending.
    for (n, end, job) in [
        (1, Some(100), None),
        (2, Some(200), None),
        (3, None, None),
        (4, Some(50), Some(claim(true))),
        (5, Some(60), Some(claim(false))),
    ] {
        let created = c
            .create_call(&call(n, "acme", at(0)))
            .await
            .expect("create")
            .into_inner();
        let mut changed = created.clone();
        if let Some(end) = end {
            changed.apply_status(CallStatus::Completed, at(end));
        } else {
            changed.apply_status(CallStatus::InProgress, at(5));
        }
        changed.post_call.job = job;
        c.update_call(&changed).await.expect("update");
    }
    let due = |v: Vec<Call>| v.into_iter().map(|c| c.sid).collect::<Vec<_>>();
    assert_eq!(
        due(c.calls_awaiting_job(at(150), 10).await.expect("due")),
        [call_sid(5), call_sid(1)]
    );
    assert_eq!(
        due(c.calls_awaiting_job(at(150), 1).await.expect("due")),
        [call_sid(5)]
    );

    let mut sent = c.get_call(&call_sid(1)).await.expect("get").expect("call");
    sent.post_call.job = Some(claim(true));
    c.update_call(&sent).await.expect("update");
    assert_eq!(
        due(c.calls_awaiting_job(at(1000), 10).await.expect("due")),
        [call_sid(5), call_sid(2)]
    );
}

async fn a_record_over_the_item_limit_is_refused_as_invalid_not_unavailable(f: Fixture) {
    let c = &f.stores.calls;
    let created = c
        .create_call(&call(1, "acme", at(0)))
        .await
        .expect("create")
        .into_inner();
    let mut huge = created;
    huge.greeting = Some("x".repeat(450 * 1024));
    let err = c.update_call(&huge).await.expect_err("too large");
    assert!(matches!(err, StoreError::Invalid(_)), "{err}");
    assert!(!err.is_retryable(), "retrying cannot help: {err}");
    // Nothing was written.
    let stored = c.get_call(&call_sid(1)).await.expect("get").expect("call");
    assert_eq!(stored.greeting.as_deref(), Some("Hello"));
}

async fn turns_append_once_and_come_back_in_order(f: Fixture) {
    let c = &f.stores.calls;
    let sid = call_sid(1);
    c.create_call(&call(1, "acme", at(0)))
        .await
        .expect("create");
    let turn = |seq, speaker, text: &str| Turn {
        seq,
        speaker,
        text: text.into(),
        offset_ms: u64::from(seq) * 1000,
    };
    for t in [
        turn(1, Speaker::Caller, "I need an appointment"),
        turn(0, Speaker::Agent, "Hello, how can I help?"),
        turn(10, Speaker::Agent, "Done"),
    ] {
        c.append_turn(&sid, &t).await.expect("append");
    }
    c.append_turn(&sid, &turn(1, Speaker::Caller, "replayed"))
        .await
        .expect("replay");
    let turns = c.turns(&sid).await.expect("turns");
    let seqs: Vec<_> = turns.iter().map(|t| t.seq).collect();
    assert_eq!(seqs, [0, 1, 10]);
    assert_eq!(turns[1].text, "I need an appointment");
    // Turns never leak into the call listing.
    assert_eq!(
        c.list_calls(&org_id("acme"), 10).await.expect("list").len(),
        1
    );
}

async fn contacts_are_created_once_and_updated_by_version(f: Fixture) {
    let c = &f.stores.contacts;
    let new = Contact::new(org_id("acme"), phone("+14155550100"), at(0));
    let created = c.create_contact(&new).await.expect("create").into_inner();
    let mut named = created.clone();
    named.name = Some("Ada".into());
    named.last_call = Some(call_sid(1));
    let named = c.update_contact(&named).await.expect("update");
    let again = c.create_contact(&new).await.expect("create again");
    assert!(!again.is_new());
    assert_eq!(again.into_inner().name.as_deref(), Some("Ada"));
    let mut stale = created;
    stale.name = Some("Bob".into());
    assert!(matches!(
        c.update_contact(&stale).await,
        Err(StoreError::Conflict(_))
    ));
    c.create_contact(&Contact::new(org_id("other"), phone("+14155550100"), at(0)))
        .await
        .expect("other org");
    let listed = c.list_contacts(&org_id("acme")).await.expect("list");
    assert_eq!(listed, vec![named]);
}

async fn todos_are_created_once_and_listed_per_call_and_organization(f: Fixture) {
    let t = &f.stores.todos;
    let item = |title: &str| TodoItem {
        title: title.into(),
        due: chrono::NaiveDate::from_ymd_opt(2026, 11, 24),
        assignee: Some("front desk".into()),
    };
    let todo = |call: u32, org: &str, n: usize, title: &str, secs: i64| {
        Todo::from_item(
            &org_id(org),
            &call_sid(call),
            Some(&phone("+14155550100")),
            n,
            &item(title),
            at(secs),
        )
    };
    let first = todo(1, "acme", 0, "Call back about the invoice", 0);
    assert!(t.create_todo(&first).await.expect("create").is_new());
    t.create_todo(&todo(1, "acme", 1, "Send the form", 0))
        .await
        .expect("create");
    t.create_todo(&todo(2, "acme", 0, "Newer", 60))
        .await
        .expect("create");
    t.create_todo(&todo(3, "other", 0, "Not acme's", 120))
        .await
        .expect("create");
    let mut retried = first.clone();
    retried.title = "A different title".into();
    let again = t.create_todo(&retried).await.expect("create again");
    assert!(!again.is_new());
    assert_eq!(again.into_inner().title, "Call back about the invoice");

    let of_call = t.call_todos(&call_sid(1)).await.expect("call todos");
    let titles: Vec<_> = of_call.iter().map(|t| t.title.as_str()).collect();
    assert_eq!(titles, ["Call back about the invoice", "Send the form"]);
    assert_eq!(
        of_call[0].due,
        chrono::NaiveDate::from_ymd_opt(2026, 11, 24)
    );
    let listed = t.list_todos(&org_id("acme"), 10).await.expect("list");
    let titles: Vec<_> = listed.iter().map(|t| t.title.as_str()).collect();
    assert_eq!(titles[0], "Newer");
    assert_eq!(titles.len(), 3);
    assert_eq!(
        t.list_todos(&org_id("acme"), 1).await.expect("list").len(),
        1
    );
}

async fn blobs_round_trip_and_overwrite(f: Fixture) {
    let b = &f.stores.blobs;
    let key = BlobKey::recording(&org_id("acme"), &call_sid(1));
    assert!(b.get_blob(&key).await.expect("get").is_none());
    let audio: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    b.put_blob(&key, audio.clone(), "audio/mpeg")
        .await
        .expect("put");
    let got = b.get_blob(&key).await.expect("get").expect("found");
    assert_eq!(got.content_type, "audio/mpeg");
    assert_eq!(got.bytes, audio);
    b.put_blob(&key, b"second".to_vec(), "audio/mpeg")
        .await
        .expect("overwrite");
    assert_eq!(
        b.get_blob(&key).await.expect("get").expect("found").bytes,
        b"second"
    );
}

async fn queue_delivers_hides_and_redelivers_after_the_visibility_timeout(f: Fixture) {
    let q = &f.queue;
    q.send("job-1", Duration::ZERO).await.expect("send");
    let first = q
        .receive(10, Duration::from_secs(2))
        .await
        .expect("receive");
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].body, "job-1");
    assert_eq!(first[0].receive_count, 1);
    assert!(
        q.receive(10, Duration::ZERO)
            .await
            .expect("receive")
            .is_empty(),
        "a received message must stay hidden during its visibility timeout"
    );
    tokio::time::sleep(VISIBILITY + Duration::from_millis(300)).await;
    let again = q
        .receive(10, Duration::from_secs(2))
        .await
        .expect("receive");
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].id, first[0].id);
    assert_eq!(again[0].receive_count, 2);
    q.delete(&again[0].receipt).await.expect("delete");
    tokio::time::sleep(VISIBILITY + Duration::from_millis(300)).await;
    assert!(
        q.receive(10, Duration::ZERO)
            .await
            .expect("receive")
            .is_empty()
    );
}

async fn queue_honours_send_delay(f: Fixture) {
    let q = &f.queue;
    q.send("later", Duration::from_secs(1)).await.expect("send");
    assert!(
        q.receive(10, Duration::ZERO)
            .await
            .expect("receive")
            .is_empty()
    );
    let got = q
        .receive(10, Duration::from_secs(3))
        .await
        .expect("receive");
    assert_eq!(got.len(), 1);
}

async fn queue_dead_letters_after_the_receive_limit(f: Fixture) {
    let q = &f.queue;
    q.send("poison", Duration::ZERO).await.expect("send");
    for n in 1..=MAX_RECEIVES {
        let got = q
            .receive(10, Duration::from_secs(3))
            .await
            .expect("receive");
        assert_eq!(got.len(), 1, "receive #{n}");
        assert_eq!(got[0].receive_count, n);
        tokio::time::sleep(VISIBILITY + Duration::from_millis(300)).await;
    }
    assert!(
        q.receive(10, Duration::from_secs(1))
            .await
            .expect("receive")
            .is_empty(),
        "a message past its receive limit must not be delivered again"
    );
    let dead = f
        .dlq
        .receive(10, Duration::from_secs(3))
        .await
        .expect("dlq");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body, "poison");
}

async fn stale_receipt_does_not_delete_a_redelivered_message(f: Fixture) {
    let q = &f.queue;
    q.send("job", Duration::ZERO).await.expect("send");
    let first = q.receive(1, Duration::from_secs(2)).await.expect("receive");
    tokio::time::sleep(VISIBILITY + Duration::from_millis(300)).await;
    let second = q.receive(1, Duration::from_secs(2)).await.expect("receive");
    assert_eq!(second.len(), 1);
    // SQS accepts an old receipt but may not delete; the contract only says "may be ignored".
    q.delete(&first[0].receipt)
        .await
        .expect("stale delete is not an error");
    q.delete(&second[0].receipt).await.expect("delete");
    tokio::time::sleep(VISIBILITY + Duration::from_millis(300)).await;
    assert!(
        q.receive(10, Duration::ZERO)
            .await
            .expect("receive")
            .is_empty()
    );
}

async fn an_account_another_organization_holds_is_refused(f: Fixture) {
    let d = &f.stores.directory;
    d.put_org(&org("acme", 1)).await.expect("put acme");
    let err = d
        .put_org(&org("globex", 1))
        .await
        .expect_err("globex claims acme's account");
    assert!(matches!(err, StoreError::Taken(_)), "{err:?}");
    assert!(!err.is_retryable());
    // Nothing moved: the account still answers for acme, and globex was not written.
    let holder = d
        .org_by_account(&account(1))
        .await
        .expect("get")
        .expect("found");
    assert_eq!(holder.id, org_id("acme"));
    assert!(d.get_org(&org_id("globex")).await.expect("get").is_none());
    // The holder itself may write again.
    d.put_org(&org("acme", 1))
        .await
        .expect("acme rewrites itself");
}

async fn an_account_left_behind_by_an_organization_that_moved_can_be_claimed(f: Fixture) {
    let d = &f.stores.directory;
    d.put_org(&org("acme", 1)).await.expect("put");
    d.put_org(&org("acme", 2))
        .await
        .expect("acme moves to account 2");
    d.put_org(&org("globex", 1))
        .await
        .expect("account 1 is free now");
    let holder = d
        .org_by_account(&account(1))
        .await
        .expect("get")
        .expect("found");
    assert_eq!(holder.id, org_id("globex"));
    let err = d
        .put_org(&org("acme", 1))
        .await
        .expect_err("acme cannot take it back from globex");
    assert!(matches!(err, StoreError::Taken(_)), "{err:?}");
}

async fn a_number_another_organization_holds_is_refused(f: Fixture) {
    let d = &f.stores.directory;
    let number = |org: &str, agent: &str| PhoneNumber {
        number: phone("+14155550111"),
        org: org_id(org),
        agent: AgentId::parse(agent).expect("agent"),
        enabled: true,
        sms: true,
        sms_agent: None,
        sms_disabled_message: None,
        analyzers: Vec::new(),
        version: 0,
    };
    d.put_number(&number("acme", "front-desk"))
        .await
        .expect("acme");
    d.put_number(&number("acme", "sales"))
        .await
        .expect("the holder re-routes its own number");
    let err = d
        .put_number(&number("globex", "front-desk"))
        .await
        .expect_err("globex claims acme's number");
    assert!(matches!(err, StoreError::Taken(_)), "{err:?}");
    let held = d
        .get_number(&phone("+14155550111"))
        .await
        .expect("get")
        .expect("found");
    assert_eq!((held.org, held.agent.as_str()), (org_id("acme"), "sales"));
}

/// A DynamoDB endpoint that accepts connections and never answers: the store gives up
/// after its operation timeout with a retryable error instead of hanging its caller.
#[tokio::test]
async fn a_dynamodb_that_never_answers_times_out_as_unavailable() {
    use hotline_store::aws::{DYNAMODB_TIMEOUT, emulator_config};
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let endpoint = format!("http://{}", silent.local_addr().expect("addr"));
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            open.push(socket);
        }
    });
    let sdk = emulator_config(&endpoint, "us-east-1").await;
    let stores = hotline_store::Stores::aws(&sdk, "table", "bucket", "http://127.0.0.1:9/q");
    // The guard only keeps a regression from hanging the suite.
    let got = tokio::time::timeout(DYNAMODB_TIMEOUT * 6, stores.calls.get_call(&call_sid(1)))
        .await
        .expect("the store gave up by itself");
    let err = got.expect_err("no answer");
    assert!(
        matches!(err, StoreError::Unavailable(_)) && err.is_retryable(),
        "{err}"
    );
    held.abort();
}

async fn api_keys_are_found_by_hash_listed_per_organization_and_revoked(f: Fixture) {
    let k = &f.stores.api_keys;
    let (first, secret) = ApiKey::issue(org_id("acme"), "ci".into(), Role::Admin, at(1));
    let (second, _) = ApiKey::issue(org_id("acme"), "cron".into(), Role::Viewer, at(2));
    let (theirs, _) = ApiKey::issue(org_id("other"), "ci".into(), Role::Owner, at(3));
    for key in [&first, &second, &theirs] {
        assert_eq!(k.create_api_key(key).await.expect("create").version, 1);
    }
    assert!(matches!(
        k.create_api_key(&first).await,
        Err(StoreError::Conflict(_))
    ));
    let found = k
        .api_key_by_hash(&ApiKey::hash(&secret))
        .await
        .expect("get")
        .expect("found");
    assert_eq!(
        (found.id.as_str(), found.role, found.is_active()),
        (first.id.as_str(), Role::Admin, true)
    );
    assert!(
        k.api_key_by_hash(&ApiKey::hash("hk_nope"))
            .await
            .expect("get")
            .is_none()
    );
    let listed: Vec<_> = k
        .list_api_keys(&org_id("acme"))
        .await
        .expect("list")
        .into_iter()
        .map(|k| k.name)
        .collect();
    assert_eq!(listed, ["ci", "cron"]);

    // Another organization cannot revoke it; its own can, once.
    assert!(matches!(
        k.revoke_api_key(&org_id("other"), &first.id, at(9)).await,
        Err(StoreError::NotFound(_))
    ));
    let revoked = k
        .revoke_api_key(&org_id("acme"), &first.id, at(10))
        .await
        .expect("revoke");
    assert_eq!(revoked.revoked_at, Some(at(10)));
    let again = k
        .revoke_api_key(&org_id("acme"), &first.id, at(20))
        .await
        .expect("revoke");
    assert_eq!(again.revoked_at, Some(at(10)));
    let stored = k
        .api_key_by_hash(&first.hash)
        .await
        .expect("get")
        .expect("found");
    assert!(!stored.is_active());
    assert!(matches!(
        k.revoke_api_key(&org_id("acme"), "no-such-key", at(9))
            .await,
        Err(StoreError::NotFound(_))
    ));
}

async fn numbers_list_per_organization(f: Fixture) {
    let d = &f.stores.directory;
    for (n, o) in [
        ("+14155550112", "acme"),
        ("+14155550111", "acme"),
        ("+14155550199", "other"),
    ] {
        d.put_number(&PhoneNumber {
            number: phone(n),
            org: org_id(o),
            agent: AgentId::parse("front-desk").expect("agent"),
            enabled: true,
            sms: true,
            sms_agent: None,
            sms_disabled_message: None,
            analyzers: Vec::new(),
            version: 0,
        })
        .await
        .expect("put");
    }
    let listed: Vec<_> = d
        .list_numbers(&org_id("acme"))
        .await
        .expect("list")
        .into_iter()
        .map(|n| n.number.to_string())
        .collect();
    assert_eq!(listed, ["+14155550111", "+14155550112"]);
    assert!(
        d.list_numbers(&org_id("nobody"))
            .await
            .expect("list")
            .is_empty()
    );
}

async fn agents_update_by_version_and_create_only_when_absent(f: Fixture) {
    let d = &f.stores.directory;
    let a = agent("acme", "front-desk");
    let created = d
        .update_agent(&Agent {
            version: 0,
            ..a.clone()
        })
        .await
        .expect("create");
    assert_eq!(created.version, 1);
    assert!(matches!(
        d.update_agent(&Agent {
            version: 0,
            ..a.clone()
        })
        .await,
        Err(StoreError::Conflict(_))
    ));
    let changed = d
        .update_agent(&Agent {
            voice: "cedar".into(),
            ..created.clone()
        })
        .await
        .expect("update");
    assert_eq!(changed.version, 2);
    assert!(matches!(
        d.update_agent(&Agent {
            voice: "sage".into(),
            ..created
        })
        .await,
        Err(StoreError::Conflict(_))
    ));
    let stored = d
        .get_agent(&org_id("acme"), &a.id)
        .await
        .expect("get")
        .expect("agent");
    assert_eq!((stored.voice.as_str(), stored.version), ("cedar", 2));
}

async fn calls_page_after_a_position_newest_first(f: Fixture) {
    let c = &f.stores.calls;
    // Two calls share a start time: the CallSid orders them.
    for (n, secs) in [(1, 10), (2, 20), (3, 20), (4, 30), (5, 40)] {
        c.create_call(&call(n, "acme", at(secs)))
            .await
            .expect("create");
    }
    c.create_call(&call(6, "other", at(25)))
        .await
        .expect("create");
    let acme = org_id("acme");
    let page = |after: Option<CallPosition>, limit| {
        let c = c.clone();
        let acme = acme.clone();
        async move {
            c.list_calls_after(&acme, after.as_ref(), limit)
                .await
                .expect("list")
        }
    };
    let first = page(None, 2).await;
    assert_eq!(
        first.iter().map(|c| c.sid.clone()).collect::<Vec<_>>(),
        [call_sid(5), call_sid(4)]
    );
    let second = page(Some(CallPosition::of(&first[1])), 2).await;
    assert_eq!(
        second.iter().map(|c| c.sid.clone()).collect::<Vec<_>>(),
        [call_sid(3), call_sid(2)]
    );
    let third = page(Some(CallPosition::of(&second[1])), 2).await;
    assert_eq!(
        third.iter().map(|c| c.sid.clone()).collect::<Vec<_>>(),
        [call_sid(1)]
    );
    // A point in time: only calls started before it.
    let before = page(
        Some(CallPosition {
            started_at: at(20),
            sid: None,
        }),
        10,
    )
    .await;
    assert_eq!(
        before.iter().map(|c| c.sid.clone()).collect::<Vec<_>>(),
        [call_sid(1)]
    );
}

fn text(org: &str, n: u32, contact: &str, at_secs: i64) -> Message {
    Message {
        sid: MessageSid::parse(&format!("SM{n:032x}")).expect("sid"),
        org: org_id(org),
        contact: phone(contact),
        channel: Channel::Sms,
        direction: MessageDirection::Inbound,
        number: phone("+14155550111"),
        body: format!("text {n} 😀 <&>"),
        media: 0,
        at: Utc
            .timestamp_opt(1_795_210_800 + at_secs, 0)
            .single()
            .expect("time"),
        agent: None,
        claimed_until: None,
        reply: None,
        replied_at: None,
        reply_texted: false,
        delivery: None,
        version: 0,
    }
}

async fn messages_are_created_once_by_sid_and_updated_by_version(f: Fixture) {
    let m = &f.messages;
    let first = text("acme", 1, "+14155550100", 0);
    let created = m.create_message(&first).await.expect("create");
    assert!(created.is_new());
    let stored = created.into_inner();
    assert_eq!(stored.version, 1);
    let again = m
        .create_message(&Message {
            body: "a retry that must not replace the first".into(),
            ..first.clone()
        })
        .await
        .expect("create again");
    assert!(!again.is_new());
    assert_eq!(again.into_inner().body, first.body);

    let answered = m
        .update_message(&Message {
            reply: Some("hello".into()),
            ..stored.clone()
        })
        .await
        .expect("update");
    assert_eq!(answered.version, 2);
    let lost = m
        .update_message(&Message {
            reply: Some("second answer".into()),
            ..stored
        })
        .await
        .expect_err("stale version");
    assert!(matches!(lost, StoreError::Conflict(_)), "{lost}");
    let read = m
        .get_message(&org_id("acme"), &first.sid)
        .await
        .expect("get")
        .expect("message");
    assert_eq!(read.reply.as_deref(), Some("hello"));
    assert_eq!(read.version, 2);
    // The same sid in another organization is another message.
    assert_eq!(
        m.get_message(&org_id("other"), &first.sid)
            .await
            .expect("get"),
        None
    );
}

async fn a_conversation_lists_one_contact_channel_and_organization_newest_first(f: Fixture) {
    let m = &f.messages;
    for (org, n, contact, at) in [
        ("acme", 1, "+14155550100", 10),
        ("acme", 2, "+14155550100", 30),
        ("acme", 3, "+14155550100", 20),
        ("acme", 4, "+14155550199", 40),
        ("other", 5, "+14155550100", 50),
    ] {
        m.create_message(&text(org, n, contact, at))
            .await
            .expect("create");
    }
    let thread = m
        .conversation(&org_id("acme"), &phone("+14155550100"), Channel::Sms, 10)
        .await
        .expect("conversation");
    let bodies: Vec<&str> = thread.iter().map(|t| t.body.as_str()).collect();
    assert_eq!(bodies, ["text 2 😀 <&>", "text 3 😀 <&>", "text 1 😀 <&>"]);
    let newest = m
        .conversation(&org_id("acme"), &phone("+14155550100"), Channel::Sms, 1)
        .await
        .expect("conversation");
    assert_eq!(newest.len(), 1);
    assert_eq!(newest[0].body, "text 2 😀 <&>");
    let web = m
        .conversation(&org_id("acme"), &phone("+14155550100"), Channel::Web, 10)
        .await
        .expect("conversation");
    assert!(web.is_empty());
}

async fn stream_nodes_report_and_the_latest_report_wins(f: Fixture) {
    use hotline_core::model::StreamNodeStatus;
    let n = &f.stores.nodes;
    assert!(n.list_nodes().await.expect("empty list").is_empty());
    // Heartbeats are real times: a record is forgotten an hour after its last one.
    let now = Utc::now().trunc_subsecs(0);
    let at = |secs: i64| now + chrono::Duration::seconds(secs);
    let status = |id: &str, live: u32, draining: bool, secs: i64| StreamNodeStatus {
        id: id.into(),
        url: format!("wss://{id}.example.com"),
        live_calls: live,
        capacity: 100,
        draining,
        heartbeat_at: at(secs),
        version: 0,
    };
    // A node that died two hours ago (its last report arrives late, say) is not listed.
    n.report_node(&status("gone", 0, false, -7200))
        .await
        .expect("gone");
    n.report_node(&status("a", 3, false, 1)).await.expect("a");
    n.report_node(&status("b", 7, false, 1)).await.expect("b");
    n.report_node(&status("a", 4, true, 2))
        .await
        .expect("a again");
    let mut listed = n.list_nodes().await.expect("list");
    listed.sort_by(|x, y| x.id.cmp(&y.id));
    let seen: Vec<_> = listed
        .iter()
        .map(|s| (s.id.as_str(), s.live_calls, s.draining, s.heartbeat_at))
        .collect();
    assert_eq!(
        seen,
        vec![("a", 4, true, at(2)), ("b", 7, false, at(1))],
        "one record per node, the latest report"
    );
}

async fn todos_are_found_by_id_in_their_organization_updated_by_version_and_paged(f: Fixture) {
    let t = &f.stores.todos;
    let item = TodoItem {
        title: "Call back".into(),
        due: None,
        assignee: None,
    };
    // Calls 1..=4 of acme, a minute apart, two to-dos each; one of other's.
    let mut made = Vec::new();
    for call in 1..=4u32 {
        for n in 0..2 {
            let todo = Todo::from_item(
                &org_id("acme"),
                &call_sid(call),
                None,
                n,
                &item,
                at(i64::from(call) * 60),
            );
            t.create_todo(&todo).await.expect("create");
            made.push(todo.id);
        }
    }
    let theirs = Todo::from_item(&org_id("other"), &call_sid(9), None, 0, &item, at(0));
    t.create_todo(&theirs).await.expect("create");

    let acme = org_id("acme");
    let one = t
        .get_todo(&acme, &made[0])
        .await
        .expect("get")
        .expect("todo");
    assert_eq!((one.version, one.done), (1, false));
    assert!(t.get_todo(&acme, &theirs.id).await.expect("get").is_none());
    assert!(
        t.get_todo(&org_id("other"), &made[0])
            .await
            .expect("get")
            .is_none()
    );
    for odd in [
        "",
        "x",
        "CA1-000",
        &format!("{}-abc", call_sid(1)),
        &format!("{}-", call_sid(1)),
    ] {
        assert!(
            t.get_todo(&acme, odd).await.expect("get").is_none(),
            "{odd}"
        );
    }

    let mut done = one.clone();
    done.done = true;
    done.assignee = Some("ana".into());
    let written = t.update_todo(&done).await.expect("update");
    assert_eq!(written.version, 2);
    let mut stale = one;
    stale.title = "Stale".into();
    assert!(matches!(
        t.update_todo(&stale).await,
        Err(StoreError::Conflict(_))
    ));
    let read = t
        .get_todo(&acme, &made[0])
        .await
        .expect("get")
        .expect("todo");
    assert_eq!(
        (read.done, read.assignee.as_deref(), read.version),
        (true, Some("ana"), 2)
    );

    // Newest first, three at a time, resuming after the last one seen.
    let mut seen = Vec::new();
    let mut after: Option<TodoPosition> = None;
    loop {
        let page = t
            .list_todos_after(&acme, after.as_ref(), 3)
            .await
            .expect("page");
        if page.is_empty() {
            break;
        }
        after = page.last().map(TodoPosition::of);
        seen.extend(page.into_iter().map(|t| t.id));
    }
    let mut newest_first = made.clone();
    newest_first.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, newest_first);
}
