use chrono::TimeZone;

use super::import::{CsvMapping, LeadInput, build_leads, parse_csv};
use super::*;

fn at(h: u32, m: u32) -> DateTime<Utc> {
    // A Wednesday.
    Utc.with_ymd_and_hms(2026, 12, 2, h, m, 0)
        .single()
        .expect("time")
}

fn phone(s: &str) -> E164 {
    E164::parse(s).expect("phone")
}

fn campaign() -> Campaign {
    Campaign {
        id: format!("cp_{}", "a".repeat(32)),
        org: OrgId::parse("acme").expect("org"),
        name: "Renewals".into(),
        agent: AgentId::parse("front").expect("agent"),
        caller_ids: vec![phone("+14155550111"), phone("+14155550112")],
        caller_id_mode: CallerIdMode::RoundRobin,
        retry: RetryPolicy {
            max_attempts: 3,
            cooldown_secs: 600,
            retry_on: [RetryOn::Busy, RetryOn::NoAnswer].into_iter().collect(),
        },
        window: Window::parse_range("09:00-17:00").expect("window"),
        max_concurrent: 2,
        calls_per_second: 1,
        machine_detection: true,
        state: CampaignState::Running,
        created_at: at(0, 0),
        version: 1,
    }
}

fn lead(number: &str, tz: Tz) -> Lead {
    let (mut leads, errors) = build_leads(
        &campaign(),
        vec![(
            2,
            LeadInput {
                phone: number.into(),
                timezone: Some(tz.name().into()),
                ..Default::default()
            },
        )],
    );
    assert!(errors.is_empty(), "{errors:?}");
    leads.remove(0)
}

fn dial(n: usize) -> String {
    format!("dl_{n:032x}")
}

#[test]
fn a_busy_lead_is_retried_a_cooldown_after_the_attempt_ended_not_after_it_started() {
    let c = campaign();
    let mut l = lead("+12125550100", chrono_tz::America::New_York);
    assert!(l.claim(dial(0), at(15, 0)));
    // The call rang for 25 s.
    let end = at(15, 0) + chrono::Duration::seconds(25);
    assert!(l.record_result(&c.retry, &dial(0), None, AttemptOutcome::Busy, end));
    assert_eq!(
        l.state,
        LeadState::RetryAt {
            at: end + chrono::Duration::seconds(600)
        }
    );
    assert!(!l.is_due(end + chrono::Duration::seconds(599)));
    assert!(l.is_due(end + chrono::Duration::seconds(600)));
}

#[test]
fn a_lead_is_finished_with_its_last_outcome_at_the_max_attempts() {
    let c = campaign();
    let mut l = lead("+12125550100", chrono_tz::America::New_York);
    let mut now = at(15, 0);
    for n in 0..3 {
        assert!(l.claim(dial(n), now), "attempt {n}");
        assert!(l.record_result(&c.retry, &dial(n), None, AttemptOutcome::NoAnswer, now));
        now += chrono::Duration::seconds(600);
    }
    assert_eq!(
        l.state,
        LeadState::Finished {
            outcome: AttemptOutcome::NoAnswer
        }
    );
    assert_eq!(l.attempts.len(), 3);
    assert!(!l.claim(dial(9), now + chrono::Duration::days(1)));
}

#[test]
fn outcomes_not_in_retry_on_finish_the_lead_at_once() {
    let c = campaign();
    for outcome in [
        AttemptOutcome::Human,
        AttemptOutcome::VoicemailLeft,
        AttemptOutcome::Failed,
        AttemptOutcome::Fax,
    ] {
        let mut l = lead("+12125550100", chrono_tz::America::New_York);
        l.claim(dial(0), at(15, 0));
        l.record_result(&c.retry, &dial(0), None, outcome, at(15, 1));
        assert_eq!(l.state, LeadState::Finished { outcome }, "{outcome:?}");
    }
    let mut with_voicemail = c.retry;
    with_voicemail.retry_on.insert(RetryOn::Voicemail);
    let mut l = lead("+12125550100", chrono_tz::America::New_York);
    l.claim(dial(0), at(15, 0));
    l.record_result(
        &with_voicemail,
        &dial(0),
        None,
        AttemptOutcome::VoicemailLeft,
        at(15, 1),
    );
    assert_eq!(l.state.kind(), LeadStateKind::RetryAt);
}

#[test]
fn a_replayed_or_late_result_changes_nothing_and_a_final_state_stays_final() {
    let c = campaign();
    let mut l = lead("+12125550100", chrono_tz::America::New_York);
    l.claim(dial(0), at(15, 0));
    assert!(l.record_result(&c.retry, &dial(0), None, AttemptOutcome::Human, at(15, 3)));
    let before = l.clone();
    // The same callback again, an earlier status after it, an attempt never made.
    assert!(!l.record_result(&c.retry, &dial(0), None, AttemptOutcome::Human, at(15, 3)));
    assert!(!l.record_result(&c.retry, &dial(0), None, AttemptOutcome::Busy, at(15, 1)));
    assert!(!l.record_result(&c.retry, &dial(7), None, AttemptOutcome::Busy, at(15, 4)));
    assert_eq!(l, before);

    // An opted-out lead stays opted out when its call's result comes.
    let mut l = lead("+12125550100", chrono_tz::America::New_York);
    l.claim(dial(0), at(15, 0));
    assert!(l.opt_out());
    assert!(l.record_result(&c.retry, &dial(0), None, AttemptOutcome::Busy, at(15, 1)));
    assert_eq!(l.state, LeadState::OptedOut);
    assert_eq!(l.attempts[0].outcome, Some(AttemptOutcome::Busy));
}

#[test]
fn the_window_is_read_in_each_leads_zone() {
    let w = Window::parse_range("09:00-17:00").expect("window");
    // 15:00 UTC is 10:00 in New York and 07:00 in Los Angeles.
    assert!(w.is_open(chrono_tz::America::New_York, at(15, 0)));
    assert!(!w.is_open(chrono_tz::America::Los_Angeles, at(15, 0)));
    // Opens at 17:00 UTC for Los Angeles, closes at 22:00 for New York.
    assert!(w.is_open(chrono_tz::America::Los_Angeles, at(17, 0)));
    assert!(!w.is_open(chrono_tz::America::New_York, at(22, 0)));
    // A window over midnight, and a weekday filter.
    let night = Window::parse_range("22:00-02:00").expect("window");
    assert!(night.is_open(chrono_tz::UTC, at(23, 0)));
    assert!(night.is_open(chrono_tz::UTC, at(1, 0)));
    assert!(!night.is_open(chrono_tz::UTC, at(3, 0)));
    let weekends = Window {
        days: vec![Weekday::Sat, Weekday::Sun],
        ..w
    };
    assert!(!weekends.is_open(chrono_tz::America::New_York, at(15, 0)));
    assert!(Window::parse_range("9-5").is_err());
    assert!(
        Window::parse_range("09:00-09:00")
            .expect("parsed")
            .validate()
            .is_err()
    );
}

#[test]
fn due_leads_are_picked_in_their_window_within_the_concurrency_left() {
    let c = campaign();
    let ny = |n: u32| lead(&format!("+121255501{n:02}"), chrono_tz::America::New_York);
    let la = lead("+14155550100", chrono_tz::America::Los_Angeles);
    let mut waiting = ny(3);
    waiting.claim(dial(0), at(14, 0));
    waiting.record_result(&c.retry, &dial(0), None, AttemptOutcome::Busy, at(14, 55));
    let leads = vec![la, ny(1), waiting, ny(2)];
    // At 15:00 UTC: Los Angeles is closed, the busy lead cools down till 15:05.
    let picked: Vec<_> = pick_due(&c, &leads, 0, at(15, 0))
        .iter()
        .map(|l| l.phone.to_string())
        .collect();
    assert_eq!(picked, ["+12125550101", "+12125550102"]);
    // One call live: one more.
    assert_eq!(pick_due(&c, &leads, 1, at(15, 0)).len(), 1);
    assert!(pick_due(&c, &leads, 2, at(15, 0)).is_empty());
    // Outside every window: nothing, whatever the budget.
    assert!(pick_due(&c, &leads, 0, at(3, 0)).is_empty());
}

#[test]
fn campaign_actions_follow_its_state() {
    let mut c = Campaign {
        state: CampaignState::Draft,
        ..campaign()
    };
    assert!(c.apply(CampaignAction::Pause).is_err());
    c.apply(CampaignAction::Start).expect("start");
    c.apply(CampaignAction::Pause).expect("pause");
    assert!(c.apply(CampaignAction::Start).is_err());
    c.apply(CampaignAction::Resume).expect("resume");
    c.apply(CampaignAction::Cancel).expect("cancel");
    assert!(c.apply(CampaignAction::Resume).is_err());
    assert_eq!(c.state, CampaignState::Cancelled);
}

#[test]
fn caller_ids_rotate_per_attempt_or_follow_the_lead() {
    let mut c = campaign();
    let mut l = lead("+12125550100", chrono_tz::America::New_York);
    let first = c.caller_for(&l, 0).expect("from");
    let second = c.caller_for(&l, 1).expect("from");
    assert_ne!(first, second);
    assert_eq!(c.caller_for(&l, 2), Some(first));
    c.caller_id_mode = CallerIdMode::PerLead;
    l.caller_id = Some(phone("+14155550112"));
    assert_eq!(c.caller_for(&l, 0), Some(phone("+14155550112")));
    assert_eq!(c.caller_for(&l, 1), Some(phone("+14155550112")));
}

#[test]
fn a_csv_with_bad_rows_reports_them_by_line_and_imports_the_rest() {
    let csv = "Phone,Name,TZ,Appointment Time\n\
               +12125550100,Ada,,Monday 3pm\n\
               0044 not a number,Bob,,\n\
               +14155550100,Cy,Europe/Nowhere,\n\
               +19995550100,Di,,\n\
               +12125550100,Ada again,,\n\
               +442071838750,Ed,Europe/London,Tuesday\n\
               +13125550100,Flo\n";
    let mapping = CsvMapping {
        phone: "Phone".into(),
        name: Some("Name".into()),
        timezone: Some("TZ".into()),
        caller_id: None,
    };
    let (rows, unreadable) = parse_csv(csv.as_bytes(), &mapping).expect("csv");
    let (leads, mut errors) = build_leads(&campaign(), rows);
    errors.extend(unreadable);
    errors.sort_by_key(|e| e.line);
    let lines: Vec<u64> = errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, [3, 4, 5, 6, 8], "{errors:?}");
    assert!(errors[0].error.contains("phone"), "{errors:?}");
    assert!(errors[1].error.contains("timezone"), "{errors:?}");
    assert!(errors[2].error.contains("inferred"), "{errors:?}");
    assert!(errors[3].error.contains("already"), "{errors:?}");
    let phones: Vec<&str> = leads.iter().map(|l| l.phone.as_str()).collect();
    assert_eq!(phones, ["+12125550100", "+442071838750"]);
    assert_eq!(leads[0].timezone, chrono_tz::America::New_York);
    assert_eq!(leads[0].variables["name"], "Ada");
    assert_eq!(leads[0].variables["appointment_time"], "Monday 3pm");
    assert_eq!(leads[1].timezone, chrono_tz::Europe::London);
    assert!(
        parse_csv(b"Number\n+12125550100\n", &mapping)
            .expect_err("no phone column")
            .contains("Phone")
    );
}

#[test]
fn counts_are_by_state_and_final_outcome() {
    let c = campaign();
    let mut done = lead("+12125550100", chrono_tz::America::New_York);
    done.claim(dial(0), at(15, 0));
    done.record_result(&c.retry, &dial(0), None, AttemptOutcome::Human, at(15, 2));
    let leads = [done, lead("+12125550101", chrono_tz::America::New_York)];
    let mut counts = LeadCounts::default();
    leads.iter().for_each(|l| counts.add(l));
    assert_eq!(counts.total, 2);
    assert_eq!(counts.by_state[&LeadStateKind::Finished], 1);
    assert_eq!(counts.by_state[&LeadStateKind::Pending], 1);
    assert_eq!(counts.by_outcome[&AttemptOutcome::Human], 1);
    assert_eq!(counts.attempts, 1);
    let json = serde_json::to_value(&counts).expect("json");
    assert_eq!(json["by_state"]["finished"], 1);
    assert_eq!(json["by_outcome"]["human"], 1);
}
