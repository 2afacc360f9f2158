//! Texts across the stack: one sent through `POST /api/v1/messages` leaves through the
//! Twilio simulator, whose signed status callbacks move it to `delivered`; and one
//! memory per contact: the realtime agent answering a call is told the caller's recent
//! texts with the organization (and never another organization's).

use std::time::Duration;

use chrono::Utc;
use hotline_core::model::{
    ApiKey, Channel, Contact, DeliveryState, Message, MessageDirection, Role,
};
use hotline_core::{E164, MessageSid, OrgId};
use hotline_e2e::{CALLER, NUMBER, World};
use hotline_sim::phone::{AudioSource, Phone, Segment};
use hotline_sim::realtime::Script;

fn text(org: &str, n: u32, body: &str, reply: Option<&str>) -> Message {
    Message {
        sid: MessageSid::parse(&format!("SM{n:032x}")).expect("sid"),
        org: OrgId::parse(org).expect("org"),
        contact: E164::parse(CALLER).expect("caller"),
        channel: Channel::Sms,
        direction: MessageDirection::Inbound,
        number: E164::parse(NUMBER).expect("number"),
        body: body.into(),
        media: 0,
        at: Utc::now() - chrono::TimeDelta::minutes(i64::from(10 - n)),
        agent: None,
        claimed_until: None,
        reply: reply.map(str::to_owned),
        replied_at: None,
        reply_texted: false,
        delivery: None,
        version: 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_realtime_agent_is_told_the_callers_recent_texts() {
    let world = World::start(Script {
        replies: vec!["Hello.".into()],
        ..Script::default()
    })
    .await;
    let demo = OrgId::parse(hotline_local::configure::DEMO_ORG).expect("org");
    let mut dana = Contact::new(
        demo.clone(),
        E164::parse(CALLER).expect("caller"),
        Utc::now(),
    );
    dana.name = Some("Dana Whitfield".into());
    world
        .stores
        .contacts
        .create_contact(&dana)
        .await
        .expect("contact");
    for m in [
        text(
            "demo",
            1,
            "Is there parking at the Elm Street office?",
            Some("Yes, behind the building."),
        ),
        text("demo", 2, "Great, and can I bring my dog?", None),
        // The same person texting another organization: none of it may reach this call.
        text("rival", 3, "RIVAL-ORG-PRIVATE order 5521", None),
    ] {
        world
            .stores
            .messages
            .create_message(&m)
            .await
            .expect("text");
    }
    let spec = world.call(
        AudioSource::Script(vec![Segment::Silence { ms: 1500 }]),
        Duration::from_secs(2),
    );
    let report = Phone::call(spec, None).await.expect("call placed");
    world.finished_call(&report.call_sid).await;
    let session = world.ai.session(0).expect("one AI session");
    let instructions = session.session_updates()[0]
        .instructions
        .clone()
        .expect("instructions");
    assert!(instructions.contains("Dana Whitfield"), "{instructions}");
    let newest = instructions
        .find("they texted: Great, and can I bring my dog?")
        .unwrap_or_else(|| panic!("newest text missing: {instructions}"));
    let older = instructions
        .find("they texted: Is there parking at the Elm Street office?")
        .unwrap_or_else(|| panic!("older text missing: {instructions}"));
    assert!(newest < older, "newest first: {instructions}");
    assert!(instructions.contains("we replied: Yes, behind the building."));
    assert!(
        !instructions.contains("RIVAL-ORG-PRIVATE"),
        "{instructions}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_sent_through_the_api_is_reported_delivered_by_twilios_callbacks() {
    let world = World::start(Script::default()).await;
    let demo = OrgId::parse(hotline_local::configure::DEMO_ORG).expect("org");
    let (key, secret) = ApiKey::issue(demo.clone(), "test".into(), Role::Admin, Utc::now());
    world
        .stores
        .api_keys
        .create_api_key(&key)
        .await
        .expect("key");
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/messages", world.stack.public_url))
        .bearer_auth(&secret)
        .json(&serde_json::json!({"to": CALLER, "body": "Your cleaning is Tuesday at 3pm."}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status().as_u16(), 201);
    let sent: serde_json::Value = response.json().await.expect("json");
    let sid = MessageSid::parse(sent["messages"][0]["sid"].as_str().expect("sid")).expect("sid");
    assert_eq!(sent["messages"][0]["from"], NUMBER);
    // queued, sent, delivered: posted by the simulator, signed with the account's token.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let stored = world
            .stores
            .messages
            .get_message(&demo, &sid)
            .await
            .expect("get")
            .expect("stored");
        if stored.delivery == Some(DeliveryState::Delivered) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never delivered: {:?}",
            stored.delivery
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let texts = world.twilio.messages();
    assert_eq!(texts.len(), 1);
    assert_eq!(
        texts[0].status_callback.as_deref(),
        Some(format!("{}/twilio/sms/status", world.stack.public_url).as_str())
    );
}

/// The demo agent with the built-in `send_sms` tool, as `type: send_sms` declares it.
fn with_text_tool(agent: &mut hotline_core::model::Agent) {
    let declared = hotline_config::agent_from_json(
        &agent.org,
        serde_json::json!({
            "id": agent.id.as_str(),
            "provider": "openai_realtime",
            "instructions": agent.instructions,
            "voice": agent.voice,
            "tools": [{"name": "text_caller", "type": "send_sms"}],
        }),
    )
    .expect("an agent with send_sms");
    agent.tools = declared.tools;
}

/// A caller who speaks at 2.5 s (the model then calls the tool) and listens.
async fn call_with_tool(world: &World) -> hotline_sim::phone::CallReport {
    let spec = world.call(
        AudioSource::Script(vec![
            Segment::Silence { ms: 2500 },
            Segment::Speech { ms: 800 },
            Segment::Silence { ms: 3000 },
        ]),
        Duration::from_millis(6300),
    );
    Phone::call(spec, None).await.expect("call placed")
}

const LINK: &str = r#"{"body":"Book here: https://clinic.example.com/book"}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_sms_texts_the_caller_from_the_called_number_and_tells_the_model() {
    let world = World::start_with(
        Script {
            tool_calls: vec![hotline_sim::realtime::ToolCue::new(0, "text_caller", LINK)],
            ..Script::default()
        },
        with_text_tool,
    )
    .await;
    let report = call_with_tool(&world).await;
    world.finished_call(&report.call_sid).await;
    let texts = world.twilio.messages();
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert_eq!(texts[0].body, "Book here: https://clinic.example.com/book");
    assert_eq!(
        (texts[0].to.as_str(), texts[0].from.as_str()),
        (CALLER, NUMBER)
    );
    let session = world.ai.session(0).expect("session");
    let tools: Vec<String> = session.session_updates()[0]
        .tools
        .clone()
        .unwrap_or_default()
        .iter()
        .filter_map(|t| match t {
            hotline_realtime::openai::Tool::Function(f) => Some(f.name.clone()),
            hotline_realtime::openai::Tool::Unknown => None,
        })
        .collect();
    assert!(tools.contains(&"text_caller".to_owned()), "{tools:?}");
    let outputs = session.function_call_outputs();
    assert_eq!(outputs.len(), 1, "{outputs:?}");
    let output: serde_json::Value = serde_json::from_str(outputs[0].1).expect("json");
    assert_eq!(output["ok"], true, "{output}");
    // Stored in the caller's SMS conversation: the next text or call knows it was sent.
    let demo = OrgId::parse(hotline_local::configure::DEMO_ORG).expect("org");
    let thread = world
        .stores
        .messages
        .conversation(
            &demo,
            &E164::parse(CALLER).expect("caller"),
            Channel::Sms,
            5,
        )
        .await
        .expect("conversation");
    assert_eq!(thread.len(), 1);
    assert_eq!(thread[0].direction, MessageDirection::Outbound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_sms_to_a_caller_who_opted_out_is_refused_to_the_model() {
    let world = World::start_with(
        Script {
            tool_calls: vec![hotline_sim::realtime::ToolCue::new(0, "text_caller", LINK)],
            ..Script::default()
        },
        with_text_tool,
    )
    .await;
    let demo = OrgId::parse(hotline_local::configure::DEMO_ORG).expect("org");
    let mut dana = Contact::new(demo, E164::parse(CALLER).expect("caller"), Utc::now());
    dana.sms_opted_out = true;
    world
        .stores
        .contacts
        .create_contact(&dana)
        .await
        .expect("contact");
    let report = call_with_tool(&world).await;
    world.finished_call(&report.call_sid).await;
    assert!(
        world.twilio.messages().is_empty(),
        "texted an opted-out caller"
    );
    let session = world.ai.session(0).expect("session");
    let outputs = session.function_call_outputs();
    assert_eq!(outputs.len(), 1, "{outputs:?}");
    let output: serde_json::Value = serde_json::from_str(outputs[0].1).expect("json");
    assert_eq!(output["ok"], false, "{output}");
    assert!(
        output["error"]
            .as_str()
            .is_some_and(|e| e.contains("opted out")),
        "{output}"
    );
}
