//! `apply` against the local store and DynamoDB on moto: idempotent, field by field,
//! never taking what another organization holds.

use hotline_config::Config;
use hotline_config::apply::{self, ApplyError, Change};
use hotline_testkit::store::TestStore;

async fn local() -> TestStore {
    TestStore::local()
}

async fn aws() -> TestStore {
    TestStore::aws().await
}

hotline_testkit::on_both_stores! {
    local: local, aws: aws;
    applying_twice_changes_nothing_the_second_time,
    a_change_names_its_fields_and_keeps_secrets_out,
    a_file_claiming_another_organizations_number_writes_nothing,
    turning_texts_off_is_a_change_of_the_number,
    applying_leaves_audit_entries_by_hotline_apply_without_secrets,
    an_api_edit_between_plan_and_write_is_not_overwritten,
    a_subaccount_the_api_made_survives_a_file_naming_the_main_account,
    default_analyzers_the_api_set_survive_a_file_that_names_none,
    an_organization_written_between_plan_and_apply_is_not_overwritten,
}

fn config(instructions: &str, token: &str, number: &str) -> Config {
    let text = format!(
        "
organizations:
  - id: acme
    name: Acme
    twilio:
      account_sid: AC0123456789abcdef0123456789abcdef
      auth_token: \"${{TOKEN}}\"
    agents:
      - id: desk
        provider: openai_realtime
        voice: marin
        instructions: \"{instructions}\"
    numbers:
      - number: \"{number}\"
        agent: desk
"
    );
    let token = token.to_owned();
    Config::parse(&text, &move |k| (k == "TOKEN").then(|| token.clone())).expect("config")
}

async fn applying_twice_changes_nothing_the_second_time(s: TestStore) {
    let d = s.stores.directory.as_ref();
    let c = config("Help.", "tok-1", "+15551230000");
    let plan = apply::plan(d, &c).await.expect("plan");
    assert_eq!(
        (plan.creates(), plan.updates(), plan.unchanged()),
        (3, 0, 0)
    );
    apply::apply(d, &plan).await.expect("apply");

    let again = apply::plan(d, &c).await.expect("plan");
    assert!(again.is_noop(), "{again}");
    assert_eq!(again.unchanged(), 3);
    let org = d
        .get_org(&c.organizations[0].org.id)
        .await
        .expect("get")
        .expect("org");
    let by_account = d
        .org_by_account(&org.twilio.account_sid)
        .await
        .expect("get")
        .expect("indexed");
    assert_eq!(by_account.id, org.id);
    let number = d
        .get_number(&c.organizations[0].numbers[0].number)
        .await
        .expect("get")
        .expect("number");
    assert_eq!(number.agent.as_str(), "desk");
}

async fn a_change_names_its_fields_and_keeps_secrets_out(s: TestStore) {
    let d = s.stores.directory.as_ref();
    let first = apply::plan(d, &config("Help.", "tok-1", "+15551230000"))
        .await
        .expect("plan");
    apply::apply(d, &first).await.expect("apply");
    let stored = d
        .get_agent(
            &"acme".parse().expect("org"),
            &"desk".parse().expect("agent"),
        )
        .await
        .expect("get")
        .expect("agent");

    let plan = apply::plan(d, &config("Help, in French.", "tok-2", "+15551230000"))
        .await
        .expect("plan");
    let changes: Vec<(&str, &Change)> = plan
        .steps
        .iter()
        .map(|s| (s.what.as_str(), &s.change))
        .collect();
    assert_eq!(
        changes,
        [
            (
                "organization acme",
                &Change::Update(vec!["twilio.auth_token"])
            ),
            ("agent acme/desk", &Change::Update(vec!["instructions"])),
            ("number +15551230000 → acme/desk", &Change::Unchanged),
        ]
    );
    let shown = plan.to_string();
    assert!(!shown.contains("tok-"), "{shown}");
    apply::apply(d, &plan).await.expect("apply");
    let updated = d
        .get_agent(&stored.org, &stored.id)
        .await
        .expect("get")
        .expect("agent");
    assert_eq!(updated.instructions, "Help, in French.");
    assert!(
        updated.version > stored.version,
        "a writer holding the old version can tell"
    );
}

async fn a_file_claiming_another_organizations_number_writes_nothing(s: TestStore) {
    let d = s.stores.directory.as_ref();
    let acme = config("Help.", "tok", "+15551230000");
    apply::apply(d, &apply::plan(d, &acme).await.expect("plan"))
        .await
        .expect("apply");

    let rival = Config::parse(
        "
organizations:
  - id: rival
    twilio:
      account_sid: ACabababababababababababababababab
      auth_token: t
    agents:
      - {id: a, provider: pipeline, voice: v, instructions: i}
    numbers:
      - {number: \"+15551230000\", agent: a}
",
        &|_| None,
    )
    .expect("rival");
    let err = apply::plan(d, &rival).await.expect_err("refused");
    assert!(matches!(err, ApplyError::Taken(_)), "{err}");
    assert_eq!(
        err.to_string(),
        "organization rival: number +15551230000 belongs to another organization"
    );
    assert!(
        d.get_org(&"rival".parse().expect("id"))
            .await
            .expect("get")
            .is_none()
    );

    // Even if the plan was made before the number was taken, the store refuses.
    let mut rival_plan = apply::plan(
        d,
        &Config::parse(
            "
organizations:
  - id: rival
    twilio: {account_sid: ACabababababababababababababababab, auth_token: t}
    agents: [{id: a, provider: pipeline, voice: v, instructions: i}]
    numbers: [{number: \"+15559990000\", agent: a}]
",
            &|_| None,
        )
        .expect("rival 2"),
    )
    .await
    .expect("free number");
    let acme_grab = apply::plan(d, &config("Help.", "tok", "+15559990000"))
        .await
        .expect("acme plans the same free number");
    apply::apply(d, &acme_grab).await.expect("acme is first");
    rival_plan.steps.retain(|s| s.what.starts_with("number"));
    let err = apply::apply(d, &rival_plan)
        .await
        .expect_err("second loses");
    assert!(matches!(err, ApplyError::Taken(_)), "{err}");
}

async fn turning_texts_off_is_a_change_of_the_number(s: TestStore) {
    let d = s.stores.directory.as_ref();
    let on = config("Help.", "tok-1", "+15551230000");
    apply::apply(d, &apply::plan(d, &on).await.expect("plan"))
        .await
        .expect("apply");
    let mut off = on.clone();
    let number = &mut off.organizations[0].numbers[0];
    number.sms = false;
    number.sms_disabled_message = Some("Call us.".into());
    let plan = apply::plan(d, &off).await.expect("plan");
    let step = plan
        .steps
        .iter()
        .find(|s| s.what.starts_with("number "))
        .expect("number step");
    assert_eq!(
        step.change,
        Change::Update(vec!["sms", "sms_disabled_message"])
    );
    apply::apply(d, &plan).await.expect("apply");
    let stored = d
        .get_number(&off.organizations[0].numbers[0].number)
        .await
        .expect("get")
        .expect("number");
    assert!(!stored.sms);
    assert_eq!(stored.sms_disabled_message.as_deref(), Some("Call us."));
    assert!(apply::plan(d, &off).await.expect("plan").is_noop());
}

async fn applying_leaves_audit_entries_by_hotline_apply_without_secrets(s: TestStore) {
    let d = s.stores.directory.as_ref();
    let org = hotline_core::OrgId::parse("acme").expect("org");
    let at = chrono::Utc::now();
    let plan = apply::plan(d, &config("Help.", "tok-secret-1", "+15551230000"))
        .await
        .expect("plan");
    apply::apply(d, &plan).await.expect("apply");
    plan.record_audit(s.stores.audit.as_ref(), at)
        .await
        .expect("audit");
    let changed = apply::plan(d, &config("Help more.", "tok-secret-2", "+15551230000"))
        .await
        .expect("plan");
    apply::apply(d, &changed).await.expect("apply");
    changed
        .record_audit(s.stores.audit.as_ref(), at + chrono::TimeDelta::seconds(1))
        .await
        .expect("audit");
    let noop = apply::plan(d, &config("Help more.", "tok-secret-2", "+15551230000"))
        .await
        .expect("plan");
    noop.record_audit(s.stores.audit.as_ref(), at + chrono::TimeDelta::seconds(2))
        .await
        .expect("audit");

    let entries = s
        .stores
        .audit
        .list_audit(&org, None, 50)
        .await
        .expect("list");
    // Newest first; entries of one apply share its time, in no particular order.
    let newest: Vec<_> = entries[..2].iter().map(|e| e.target.as_str()).collect();
    assert!(
        newest.contains(&"organization acme (twilio.auth_token)"),
        "{newest:?}"
    );
    assert!(
        newest.contains(&"agent acme/desk (instructions)"),
        "{newest:?}"
    );
    let mut seen: Vec<_> = entries
        .iter()
        .map(|e| (e.actor.as_str(), e.action.as_str(), e.target.as_str()))
        .collect();
    seen.sort_unstable();
    assert_eq!(
        seen,
        [
            ("hotline apply", "agent.create", "agent acme/desk"),
            (
                "hotline apply",
                "agent.update",
                "agent acme/desk (instructions)"
            ),
            (
                "hotline apply",
                "number.create",
                "number +15551230000 → acme/desk"
            ),
            ("hotline apply", "organization.create", "organization acme"),
            (
                "hotline apply",
                "organization.update",
                "organization acme (twilio.auth_token)"
            ),
        ]
    );
    let text = serde_json::to_string(&entries).expect("json");
    assert!(!text.contains("tok-secret"), "{text}");
    let org_entry = entries
        .iter()
        .find(|e| e.action == "organization.create")
        .expect("org entry");
    assert_eq!(
        org_entry.after.as_ref().expect("after")["twilio"]["auth_token"],
        "[redacted]"
    );
}

/// The file and the API are two views of one model: an agent edited through the API
/// (a versioned write) after `apply` planned is not overwritten by it; planning again
/// names the fields applying would revert.
async fn an_api_edit_between_plan_and_write_is_not_overwritten(s: TestStore) {
    let d = s.stores.directory.as_ref();
    let c = config("Help.", "tok-1", "+15551230000");
    apply::apply(d, &apply::plan(d, &c).await.expect("plan"))
        .await
        .expect("apply");
    let (org, id) = ("acme".parse().expect("org"), "desk".parse().expect("agent"));
    let stored = d.get_agent(&org, &id).await.expect("get").expect("agent");
    assert_eq!(stored.version, 1);

    let from_file = config("Help, from the file.", "tok-1", "+15551230000");
    let plan = apply::plan(d, &from_file).await.expect("plan");
    // Meanwhile, an API edit (PUT /api/v1/agents/desk with the version it read).
    let mut edited = stored.clone();
    edited.voice = "cedar".into();
    let edited = d.update_agent(&edited).await.expect("API edit");
    assert_eq!(edited.version, 2);

    let err = apply::apply(d, &plan).await.expect_err("the race is lost");
    assert!(matches!(err, ApplyError::Changed(_)), "{err}");
    assert!(err.to_string().contains("agent acme/desk"), "{err}");
    let now = d.get_agent(&org, &id).await.expect("get").expect("agent");
    assert_eq!(
        (now.voice.as_str(), now.instructions.as_str()),
        ("cedar", "Help.")
    );

    // Planning again shows what applying would now revert, by field name, and applying
    // that plan (made over the current version) writes it and moves the version on.
    let again = apply::plan(d, &from_file).await.expect("plan");
    let agent = again
        .steps
        .iter()
        .find(|s| s.what == "agent acme/desk")
        .expect("agent step");
    assert_eq!(agent.change, Change::Update(vec!["instructions", "voice"]));
    assert!(
        again
            .to_string()
            .contains("~ change agent acme/desk: instructions, voice"),
        "{again}"
    );
    apply::apply(d, &again).await.expect("apply");
    let now = d.get_agent(&org, &id).await.expect("get").expect("agent");
    assert_eq!((now.voice.as_str(), now.version), ("marin", 3));
}

/// The API moves an organization on the platform's main account to a subaccount of it
/// when it first buys a number; the file still names the main account. Applying it
/// again keeps the subaccount (and so the numbers bought in it) instead of moving the
/// organization back; a file naming some other account still changes it.
async fn a_subaccount_the_api_made_survives_a_file_naming_the_main_account(s: TestStore) {
    use hotline_core::ids::AccountSid;
    use secrecy::ExposeSecret as _;

    let d = s.stores.directory.as_ref();
    let file = config("Help.", "main-token", "+15551230000");
    apply::apply(d, &apply::plan(d, &file).await.expect("plan"))
        .await
        .expect("apply");
    let acme = "acme".parse().expect("org");
    let mut org = d.get_org(&acme).await.expect("get").expect("org");
    let main = org.twilio.account_sid.clone();
    // What POST /api/v1/numbers does for an organization on the main account.
    let sub = AccountSid::parse(&format!("AC{}", "5".repeat(32))).expect("sid");
    org.twilio.parent = Some(main.clone());
    org.twilio.account_sid = sub.clone();
    org.twilio.auth_token = "sub-token".to_owned().into();
    d.put_org(&org).await.expect("moved to the subaccount");

    let again = apply::plan(d, &file).await.expect("plan");
    assert!(
        again.to_string().contains("0 to create, 0 to change"),
        "{again}"
    );
    apply::apply(d, &again).await.expect("apply");
    let kept = d.get_org(&acme).await.expect("get").expect("org");
    assert_eq!(kept.twilio.account_sid, sub);
    assert_eq!(kept.twilio.auth_token.expose_secret(), "sub-token");
    assert_eq!(kept.twilio.parent, Some(main));

    // A file that really moves the organization elsewhere still does.
    let elsewhere = config("Help.", "main-token", "+15551230000");
    let mut elsewhere = elsewhere;
    elsewhere.organizations[0].org.twilio.account_sid =
        AccountSid::parse(&format!("AC{}", "7".repeat(32))).expect("sid");
    let moved = apply::plan(d, &elsewhere).await.expect("plan");
    assert!(moved.to_string().contains("twilio.account_sid"), "{moved}");
}

/// `config` with the organization's default analyzers declared (`analyzers: …`).
fn with_analyzers(analyzers: &str, sms: bool) -> Config {
    let text = format!(
        "
organizations:
  - id: acme
    name: Acme
    twilio:
      account_sid: AC0123456789abcdef0123456789abcdef
      auth_token: tok-1
    analyzers: {analyzers}
    agents:
      - id: desk
        provider: openai_realtime
        voice: marin
        instructions: Help.
    numbers:
      - number: \"+15551230000\"
        agent: desk
        sms: {sms}
"
    );
    Config::parse(&text, &|_| None).expect("config")
}

fn analyzer(name: &str) -> hotline_core::model::Analyzer {
    hotline_core::model::Analyzer {
        name: name.into(),
        prompt: format!("{name}?"),
        schema: serde_json::json!({"type": "string"}),
    }
}

/// The API sets the organization's default analyzers and a bought number carries them;
/// a file that names no `analyzers` leaves both alone (even when it changes the
/// number), one that names them (`[]` included) sets them.
async fn default_analyzers_the_api_set_survive_a_file_that_names_none(s: TestStore) {
    let d = s.stores.directory.as_ref();
    let file = config("Help.", "tok-1", "+15551230000");
    apply::apply(d, &apply::plan(d, &file).await.expect("plan"))
        .await
        .expect("apply");
    let acme = "acme".parse().expect("org");
    // What PATCH /api/v1/organization and POST /api/v1/numbers leave.
    let mut org = d.get_org(&acme).await.expect("get").expect("org");
    org.settings.default_analyzers = vec![analyzer("lead")];
    d.update_org(&org).await.expect("API write");
    let line = &file.organizations[0].numbers[0].number;
    let mut number = d.get_number(line).await.expect("get").expect("number");
    number.analyzers = vec![analyzer("lead")];
    d.put_number(&number).await.expect("API write");

    let again = apply::plan(d, &file).await.expect("plan");
    assert!(again.is_noop(), "{again}");
    // The file turns texts off: the number is written, its analyzers stay.
    let texts_off = with_analyzers_absent(false);
    let plan = apply::plan(d, &texts_off).await.expect("plan");
    assert_eq!(plan.updates(), 1, "{plan}");
    apply::apply(d, &plan).await.expect("apply");
    let org = d.get_org(&acme).await.expect("get").expect("org");
    assert_eq!(org.settings.default_analyzers, [analyzer("lead")]);
    let number = d.get_number(line).await.expect("get").expect("number");
    assert_eq!(
        (number.sms, number.analyzers.clone()),
        (false, vec![analyzer("lead")])
    );

    // A file that names them sets them: some, then none.
    let named = with_analyzers(
        "[{name: mood, prompt: \"mood?\", schema: {type: string}}]",
        false,
    );
    let plan = apply::plan(d, &named).await.expect("plan");
    assert!(
        plan.to_string()
            .contains("~ change organization acme: analyzers"),
        "{plan}"
    );
    apply::apply(d, &plan).await.expect("apply");
    let org = d.get_org(&acme).await.expect("get").expect("org");
    assert_eq!(org.settings.default_analyzers, [analyzer("mood")]);
    let cleared = with_analyzers("[]", false);
    apply::apply(d, &apply::plan(d, &cleared).await.expect("plan"))
        .await
        .expect("apply");
    let org = d.get_org(&acme).await.expect("get").expect("org");
    assert!(org.settings.default_analyzers.is_empty());
    // Bought numbers keep what they were given.
    let number = d.get_number(line).await.expect("get").expect("number");
    assert_eq!(number.analyzers, [analyzer("lead")]);

    // The file's analyzers are checked as an agent's are.
    let twice = "[{name: a, prompt: x, schema: {type: string}}, {name: a, prompt: y, schema: {type: string}}]";
    let text = format!(
        "organizations:\n  - id: acme\n    twilio: {{account_sid: AC0123456789abcdef0123456789abcdef, auth_token: t}}\n    analyzers: {twice}\n"
    );
    let err = Config::parse(&text, &|_| None).expect_err("declared twice");
    assert!(
        err.to_string()
            .contains("organizations[0].analyzers[1].name"),
        "{err}"
    );
}

/// The file as [`config`] writes it, texts on or off, with no `analyzers`.
fn with_analyzers_absent(sms: bool) -> Config {
    let mut c = config("Help.", "tok-1", "+15551230000");
    c.organizations[0].numbers[0].sms = sms;
    c
}

/// An organization written through the API after the plan read it (a subaccount made,
/// a setting changed) is not written over: apply stops, and planning again shows it.
async fn an_organization_written_between_plan_and_apply_is_not_overwritten(s: TestStore) {
    let d = s.stores.directory.as_ref();
    let file = config("Help.", "tok-1", "+15551230000");
    apply::apply(d, &apply::plan(d, &file).await.expect("plan"))
        .await
        .expect("apply");
    let acme = "acme".parse().expect("org");
    let renamed = config("Help.", "tok-2", "+15551230000");
    let plan = apply::plan(d, &renamed).await.expect("plan");
    let mut org = d.get_org(&acme).await.expect("get").expect("org");
    org.settings.report_emails = vec!["ops@acme.example".into()];
    d.update_org(&org).await.expect("API write");
    let err = apply::apply(d, &plan).await.expect_err("the race is lost");
    assert!(matches!(err, ApplyError::Changed(_)), "{err}");
    assert!(err.to_string().contains("organization acme"), "{err}");
    let now = d.get_org(&acme).await.expect("get").expect("org");
    assert_eq!(now.settings.report_emails, ["ops@acme.example"]);
    // Over the version it now reads, apply writes (and reverts what the file says).
    let again = apply::plan(d, &renamed).await.expect("plan");
    apply::apply(d, &again).await.expect("apply");
    let now = d.get_org(&acme).await.expect("get").expect("org");
    assert!(now.settings.report_emails.is_empty());
}
