//! Campaigns and leads: one organization never reads another's campaign, a lead is one
//! per number, is claimed only over the version read, and is found by state and by the
//! time it waits for; two dialers at once place each lead once.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use hotline_core::campaign::dialer::{DialerPorts, Pace, STUCK_AFTER, run_dialer};
use hotline_core::campaign::import::{LeadInput, build_leads};
use hotline_core::campaign::{
    AttemptOutcome, CallerIdMode, Campaign, CampaignState, Lead, LeadState, LeadStateKind, RetryOn,
    RetryPolicy, Window,
};
use hotline_core::dial::{CallPlacer, DialPorts, DialUrls, PlaceCall, PlaceError};
use hotline_core::ids::{AgentId, CallSid, E164};
use hotline_core::model::{Organization, PhoneNumber};
use hotline_core::ports::StoreError;
use hotline_testkit::store::TestStore;

use super::{agent, org, org_id, phone};

/// Noon UTC on a Wednesday, plus `secs`.
fn noon(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 2, 12, 0, 0)
        .single()
        .expect("time")
        + chrono::Duration::seconds(secs)
}

fn campaign(org: &str, n: u8, created: i64) -> Campaign {
    Campaign {
        id: format!("cp_{n:032x}"),
        org: org_id(org),
        name: format!("Renewals {n} — «☎»"),
        agent: AgentId::parse("front-desk").expect("agent"),
        caller_ids: vec![phone("+14155550111")],
        caller_id_mode: CallerIdMode::RoundRobin,
        retry: RetryPolicy {
            max_attempts: 2,
            cooldown_secs: 60,
            retry_on: [RetryOn::Busy].into_iter().collect(),
        },
        window: Window::parse_range("09:00-17:00").expect("window"),
        max_concurrent: 50,
        calls_per_second: 30,
        machine_detection: true,
        state: CampaignState::Draft,
        created_at: noon(created),
        version: 0,
    }
}

fn leads(c: &Campaign, count: u32) -> Vec<Lead> {
    let rows = (0..count)
        .map(|i| {
            (
                u64::from(i) + 2,
                LeadInput {
                    phone: format!("+1415555{i:04}"),
                    name: Some(format!("Lead {i}")),
                    timezone: Some("UTC".into()),
                    ..Default::default()
                },
            )
        })
        .collect();
    let (leads, errors) = build_leads(c, rows);
    assert!(errors.is_empty(), "{errors:?}");
    leads
}

pub async fn campaigns_are_created_once_kept_per_organization_and_found_running(f: TestStore) {
    let s = &f.stores.campaigns;
    let first = campaign("acme", 1, 0);
    assert!(s.create_campaign(&first).await.expect("create").is_new());
    let again = s.create_campaign(&first).await.expect("create again");
    assert!(!again.is_new());
    s.create_campaign(&campaign("acme", 2, 10))
        .await
        .expect("create");
    s.create_campaign(&campaign("other", 3, 5))
        .await
        .expect("create");

    // Another organization asking for it finds nothing.
    assert!(
        s.get_campaign(&org_id("other"), &first.id)
            .await
            .expect("get")
            .is_none()
    );
    let ids: Vec<String> = s
        .list_campaigns(&org_id("acme"))
        .await
        .expect("list")
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(ids, [campaign("acme", 2, 0).id, first.id.clone()]);
    assert!(s.running_campaigns().await.expect("running").is_empty());

    let mut stored = s
        .get_campaign(&org_id("acme"), &first.id)
        .await
        .expect("get")
        .expect("found");
    assert_eq!(stored.version, 1);
    stored.state = CampaignState::Running;
    let running = s.update_campaign(&stored).await.expect("start");
    let err = s.update_campaign(&stored).await.expect_err("stale");
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    let found: Vec<String> = s
        .running_campaigns()
        .await
        .expect("running")
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(found, std::slice::from_ref(&first.id));
    let mut paused = running;
    paused.state = CampaignState::Paused;
    s.update_campaign(&paused).await.expect("pause");
    assert!(s.running_campaigns().await.expect("running").is_empty());
}

pub async fn leads_are_one_per_number_paged_listed_by_state_and_claimed_over_the_version(
    f: TestStore,
) {
    let s = &f.stores.campaigns;
    let c = campaign("acme", 1, 0);
    s.create_campaign(&c).await.expect("create");
    let all = leads(&c, 5);
    let added = s.add_leads(&all).await.expect("add");
    assert!(added.iter().all(|a| a.is_new()));
    // The same number again: the stored lead, not a second one.
    let again = s.add_leads(&all[1..2]).await.expect("add again");
    assert!(!again[0].is_new());

    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = s
            .list_leads(&c.id, None, after.as_deref(), 2)
            .await
            .expect("page");
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 2);
        after = page.last().map(|l| l.id.clone());
        seen.extend(page.into_iter().map(|l| l.id));
    }
    let mut expected: Vec<String> = all.iter().map(|l| l.id.clone()).collect();
    expected.sort();
    expected.reverse();
    assert_eq!(seen, expected);

    // Two dialers read the same lead; only the first claim lands.
    let read = s
        .get_lead(&c.id, &all[0].id)
        .await
        .expect("get")
        .expect("found");
    let (mut a, mut b) = (read.clone(), read);
    assert!(a.claim("dl_a".into(), noon(0)));
    assert!(b.claim("dl_b".into(), noon(0)));
    s.update_lead(&a).await.expect("first claim");
    let err = s.update_lead(&b).await.expect_err("second claim");
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");

    assert_eq!(s.count_dialing(&c.id).await.expect("count"), 1);
    let dialing = s
        .list_leads(&c.id, Some(LeadStateKind::Dialing), None, 10)
        .await
        .expect("list");
    assert_eq!(dialing.len(), 1);
    assert_eq!(dialing[0].attempts[0].dial, "dl_a");
    let pending = s
        .list_leads(&c.id, Some(LeadStateKind::Pending), None, 10)
        .await
        .expect("list");
    assert_eq!(pending.len(), 4);
    // Leads of another campaign are not these.
    assert!(
        s.list_leads(&campaign("acme", 9, 0).id, None, None, 10)
            .await
            .expect("list")
            .is_empty()
    );
}

pub async fn due_leads_are_the_pending_and_the_retries_whose_time_came(f: TestStore) {
    let s = &f.stores.campaigns;
    let c = campaign("acme", 1, 0);
    s.create_campaign(&c).await.expect("create");
    let all = leads(&c, 3);
    s.add_leads(&all).await.expect("add");
    // Lead 0 was busy at noon: retry at noon + 60 s. Lead 1 is being dialed since noon.
    let mut busy = s
        .get_lead(&c.id, &all[0].id)
        .await
        .expect("get")
        .expect("found");
    busy.claim("dl_0".into(), noon(-30));
    busy.record_result(&c.retry, "dl_0", None, AttemptOutcome::Busy, noon(0));
    s.update_lead(&busy).await.expect("busy");
    let mut live = s
        .get_lead(&c.id, &all[1].id)
        .await
        .expect("get")
        .expect("found");
    live.claim("dl_1".into(), noon(0));
    s.update_lead(&live).await.expect("dialing");

    let id = c.id.as_str();
    let due = |at| async move {
        let mut ids: Vec<String> = s
            .due_leads(id, at, 10)
            .await
            .expect("due")
            .into_iter()
            .map(|l| l.id)
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(due(noon(59)).await, [all[2].id.clone()]);
    assert_eq!(due(noon(60)).await, [all[0].id.clone(), all[2].id.clone()]);
    let stored = s
        .get_lead(&c.id, &all[0].id)
        .await
        .expect("get")
        .expect("found");
    assert_eq!(stored.state, LeadState::RetryAt { at: noon(60) });

    assert!(
        s.dialing_since_before(&c.id, noon(0))
            .await
            .expect("stuck")
            .is_empty()
    );
    let stuck = s.dialing_since_before(&c.id, noon(1)).await.expect("stuck");
    assert_eq!(stuck.len(), 1);
    assert_eq!(stuck[0].id, all[1].id);
}

pub async fn the_do_not_call_list_is_kept_per_organization(f: TestStore) {
    let s = &f.stores.campaigns;
    let (acme, other) = (org_id("acme"), org_id("other"));
    let n = phone("+14155550100");
    s.add_do_not_call(&acme, &n, noon(0)).await.expect("add");
    s.add_do_not_call(&acme, &n, noon(5))
        .await
        .expect("add again");
    s.add_do_not_call(&acme, &phone("+14155550101"), noon(0))
        .await
        .expect("add");
    assert!(s.is_do_not_call(&acme, &n).await.expect("is"));
    assert!(!s.is_do_not_call(&other, &n).await.expect("is"));
    assert_eq!(s.list_do_not_call(&acme).await.expect("list").len(), 2);
    assert!(s.list_do_not_call(&other).await.expect("list").is_empty());
    assert!(!s.remove_do_not_call(&other, &n).await.expect("remove"));
    assert!(s.remove_do_not_call(&acme, &n).await.expect("remove"));
    assert!(!s.is_do_not_call(&acme, &n).await.expect("is"));
}

/// Twilio, as far as the dialer can tell: takes every call, counts them by callee.
#[derive(Default)]
struct CountingPlacer {
    next: AtomicU32,
    callees: Mutex<Vec<E164>>,
}

#[async_trait]
impl CallPlacer for CountingPlacer {
    async fn place(&self, _: &Organization, call: &PlaceCall) -> Result<CallSid, PlaceError> {
        // Let the other dialer run between the claim and the call.
        tokio::task::yield_now().await;
        self.callees.lock().expect("lock").push(call.to.clone());
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        Ok(CallSid::parse(&format!("CA{n:032x}")).expect("sid"))
    }
    async fn hang_up(&self, _: &Organization, _: &CallSid) -> Result<(), PlaceError> {
        Ok(())
    }
    async fn run_twiml(&self, _: &Organization, _: &CallSid, _: &str) -> Result<(), PlaceError> {
        Ok(())
    }
}

struct NoPause;

#[async_trait]
impl Pace for NoPause {
    async fn pause(&self, _: Duration) {}
}

pub async fn two_dialers_at_once_place_each_lead_once(f: TestStore) {
    let c = dialer_world(&f, "09:00-17:00", 12).await;
    let s = &f.stores.campaigns;
    let all = s.list_leads(&c.id, None, None, 100).await.expect("leads");
    // One lead is on the do-not-call list: never dialed.
    s.add_do_not_call(&org_id("acme"), &all[3].phone, noon(0))
        .await
        .expect("dnc");

    let placer = CountingPlacer::default();
    let ports = ports(&f, &placer);
    let urls = DialUrls {
        base: "https://hotline.example".into(),
    };
    let (one, two) = tokio::join!(
        run_dialer(&ports, &urls, STUCK_AFTER, noon(0)),
        run_dialer(&ports, &urls, STUCK_AFTER, noon(0)),
    );
    let (one, two) = (one.expect("dialer one"), two.expect("dialer two"));
    assert_eq!(one.placed + two.placed, 11, "{one:?} {two:?}");

    let mut callees = placer.callees.lock().expect("lock").clone();
    callees.sort();
    let mut expected: Vec<E164> = all
        .iter()
        .map(|l| l.phone.clone())
        .filter(|p| p != &all[3].phone)
        .collect();
    expected.sort();
    assert_eq!(
        callees, expected,
        "each lead once, the do-not-call one never"
    );
    let opted = s
        .get_lead(&c.id, &all[3].id)
        .await
        .expect("get")
        .expect("found");
    assert_eq!(opted.state, LeadState::OptedOut);
    assert!(opted.attempts.is_empty());
    for lead in s
        .list_leads(&c.id, Some(LeadStateKind::Dialing), None, 100)
        .await
        .expect("list")
    {
        assert_eq!(lead.attempts.len(), 1, "{}", lead.id);
        assert!(lead.attempts[0].call_sid.is_some(), "{}", lead.id);
    }
    // A run later, nothing is due: nothing more is placed.
    let again = run_dialer(&ports, &urls, STUCK_AFTER, noon(1))
        .await
        .expect("again");
    assert_eq!(again.placed, 0);
    assert_eq!(placer.callees.lock().expect("lock").len(), 11);
}

/// The directory, a running campaign of `count` UTC leads with `window`, and the ports a
/// dialer run needs.
async fn dialer_world(f: &TestStore, window: &str, count: u32) -> Campaign {
    let d = &f.stores.directory;
    d.put_org(&org("acme", 1)).await.expect("org");
    d.put_agent(&agent("acme", "front-desk"))
        .await
        .expect("agent");
    d.put_number(&PhoneNumber {
        number: phone("+14155550111"),
        org: org_id("acme"),
        agent: AgentId::parse("front-desk").expect("agent"),
        enabled: true,
        sms: false,
        sms_agent: None,
        sms_disabled_message: None,
        analyzers: Vec::new(),
        version: 0,
    })
    .await
    .expect("number");
    let mut c = campaign("acme", 1, 0);
    c.state = CampaignState::Running;
    c.window = Window::parse_range(window).expect("window");
    f.stores
        .campaigns
        .create_campaign(&c)
        .await
        .expect("create");
    f.stores
        .campaigns
        .add_leads(&leads(&c, count))
        .await
        .expect("add");
    c
}

fn ports<'a>(f: &'a TestStore, placer: &'a CountingPlacer) -> DialerPorts<'a> {
    DialerPorts {
        dial: DialPorts {
            directory: f.stores.directory.as_ref(),
            calls: f.stores.calls.as_ref(),
            contacts: f.stores.contacts.as_ref(),
            dials: f.stores.dials.as_ref(),
            placer,
        },
        campaigns: f.stores.campaigns.as_ref(),
        pace: &NoPause,
    }
}

pub async fn outside_the_window_nothing_is_dialed_until_it_opens(f: TestStore) {
    // Open 13:00-14:00 UTC; the clock reads noon, then 13:00.
    let c = dialer_world(&f, "13:00-14:00", 3).await;
    let placer = CountingPlacer::default();
    let urls = DialUrls {
        base: "https://hotline.example".into(),
    };
    let closed = run_dialer(&ports(&f, &placer), &urls, STUCK_AFTER, noon(0))
        .await
        .expect("run");
    assert_eq!(closed.placed, 0, "{closed:?}");
    let later = run_dialer(&ports(&f, &placer), &urls, STUCK_AFTER, noon(3599))
        .await
        .expect("run");
    assert_eq!(later.placed, 0, "{later:?}");
    assert!(placer.callees.lock().expect("lock").is_empty());
    let open = run_dialer(&ports(&f, &placer), &urls, STUCK_AFTER, noon(3600))
        .await
        .expect("run");
    assert_eq!(open.placed, 3, "{open:?}");
    assert_eq!(
        f.stores
            .campaigns
            .count_dialing(&c.id)
            .await
            .expect("count"),
        3
    );
}

pub async fn a_lead_whose_callback_never_came_is_released_and_the_campaign_completes(f: TestStore) {
    let mut c = dialer_world(&f, "09:00-17:00", 1).await;
    let placer = CountingPlacer::default();
    let urls = DialUrls {
        base: "https://hotline.example".into(),
    };
    let stuck = chrono::Duration::minutes(10);
    let run = |at| {
        let ports = ports(&f, &placer);
        let urls = urls.clone();
        async move { run_dialer(&ports, &urls, stuck, at).await.expect("run") }
    };
    assert_eq!(run(noon(0)).await.placed, 1);
    // Nothing heard of the call: still dialing 9 minutes on, released at 10.
    assert_eq!(run(noon(540)).await.released, 0);
    let released = run(noon(601)).await;
    assert_eq!(released.released, 1, "{released:?}");
    // `lost` counts as failed, which this campaign does not retry: finished, and the
    // same run completes the campaign.
    assert_eq!(released.completed, 1, "{released:?}");
    let lead = &f
        .stores
        .campaigns
        .list_leads(&c.id, None, None, 10)
        .await
        .expect("list")[0];
    assert_eq!(
        lead.state,
        LeadState::Finished {
            outcome: AttemptOutcome::Lost
        }
    );
    assert_eq!(run(noon(602)).await.campaigns, 0);
    c = f
        .stores
        .campaigns
        .get_campaign(&org_id("acme"), &c.id)
        .await
        .expect("get")
        .expect("found");
    assert_eq!(c.state, CampaignState::Completed);
    assert!(
        f.stores
            .campaigns
            .running_campaigns()
            .await
            .expect("running")
            .is_empty()
    );
}

pub async fn a_lead_opting_out_during_its_call_stays_opted_out_when_the_call_ends(f: TestStore) {
    let c = dialer_world(&f, "09:00-17:00", 1).await;
    let placer = CountingPlacer::default();
    let urls = DialUrls {
        base: "https://hotline.example".into(),
    };
    run_dialer(&ports(&f, &placer), &urls, STUCK_AFTER, noon(0))
        .await
        .expect("run");
    let s = &f.stores.campaigns;
    let lead = s
        .list_leads(&c.id, None, None, 1)
        .await
        .expect("list")
        .remove(0);
    let dial = f
        .stores
        .dials
        .get_dial(&lead.attempts[0].dial)
        .await
        .expect("get")
        .expect("the attempt's dial");
    hotline_core::campaign::dialer::opt_out(s.as_ref(), &dial, noon(5))
        .await
        .expect("opt out");
    let sid = lead.attempts[0].call_sid.clone().expect("sid");
    let recorded = hotline_core::campaign::dialer::record_call_result(
        s.as_ref(),
        &dial,
        &sid,
        AttemptOutcome::Human,
        noon(9),
    )
    .await
    .expect("result");
    assert!(recorded, "the attempt is recorded");
    let after = s
        .get_lead(&c.id, &lead.id)
        .await
        .expect("get")
        .expect("found");
    assert_eq!(after.state, LeadState::OptedOut);
    assert_eq!(after.attempts[0].outcome, Some(AttemptOutcome::Human));
    assert!(
        s.is_do_not_call(&org_id("acme"), &lead.phone)
            .await
            .expect("dnc")
    );
}
