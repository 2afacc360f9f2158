//! Reading files: the example, interpolation, and errors that say where.

use hotline_config::{Config, ConfigError};
use hotline_core::model::{Provider, ToolKind};

fn no_env(_: &str) -> Option<String> {
    None
}

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, &no_env)
}

fn problems(text: &str) -> String {
    match parse(text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

const MINIMAL: &str = "
organizations:
  - id: acme
    twilio:
      account_sid: AC0123456789abcdef0123456789abcdef
      auth_token: tok
    agents:
      - id: desk
        provider: openai_realtime
        voice: marin
        instructions: Help.
      - id: night
        provider: openai_realtime
        voice: marin
        instructions: Take a message.
    numbers:
      - number: \"+15551230000\"
        agent: desk
";

#[test]
fn the_shipped_example_reads_without_any_environment() {
    let config = Config::example(&no_env).expect("example");
    let demo = &config.organizations[0];
    assert_eq!(demo.org.id.as_str(), "demo");
    let agent = &demo.agents[0];
    assert_eq!(agent.id.as_str(), "receptionist");
    assert_eq!(agent.provider, Provider::OpenaiRealtime);
    assert_eq!(agent.greeting, None, "the AI speaks first");
    assert_eq!(agent.analyzers.len(), 2);
    assert!(matches!(agent.tools[0].kind, ToolKind::TransferCall { .. }));
    assert_eq!(demo.numbers[0].agent, agent.id);
}

#[test]
fn the_environment_fills_in_the_example() {
    let env = |k: &str| match k {
        "TWILIO_ACCOUNT_SID" => Some("ACffffffffffffffffffffffffffffffff".to_owned()),
        "TWILIO_PHONE_NUMBER" => Some("+442071234567".to_owned()),
        _ => None,
    };
    let config = Config::example(&env).expect("example");
    let demo = &config.organizations[0];
    assert_eq!(
        demo.org.twilio.account_sid.as_str(),
        "ACffffffffffffffffffffffffffffffff"
    );
    assert_eq!(demo.numbers[0].number.as_str(), "+442071234567");
}

#[test]
fn defaults_fill_what_a_minimal_file_leaves_out() {
    let config = parse(MINIMAL).expect("minimal");
    let org = &config.organizations[0];
    assert_eq!(org.org.name, "acme");
    let desk = &org.agents[0];
    assert_eq!(desk.name, "desk");
    assert_eq!(desk.model, "gpt-realtime");
    assert!(desk.enabled);
    assert_eq!(desk.limits, Default::default());
    assert!(org.numbers[0].enabled);
    assert!(org.numbers[0].sms, "texts are answered unless turned off");
    assert_eq!(org.numbers[0].sms_agent, None);
    assert_eq!(org.numbers[0].texting_agent(), &desk.id);
    assert_eq!(org.numbers[0].sms_disabled_message, None);
}

#[test]
fn a_number_declares_who_answers_texts_or_that_texts_are_off() {
    let config = parse(&MINIMAL.replace(
        "        agent: desk\n",
        "        agent: desk\n        sms_agent: night\n",
    ))
    .expect("sms agent");
    let number = &config.organizations[0].numbers[0];
    assert_eq!(number.texting_agent().as_str(), "night");
    assert!(number.sms);

    let config = parse(&MINIMAL.replace(
        "        agent: desk\n",
        "        agent: desk\n        sms: false\n        sms_disabled_message: \"Call us instead.\"\n",
    ))
    .expect("sms off");
    let number = &config.organizations[0].numbers[0];
    assert!(!number.sms);
    assert_eq!(
        number.sms_disabled_message.as_deref(),
        Some("Call us instead.")
    );

    let err = problems(&MINIMAL.replace(
        "        agent: desk\n",
        "        agent: desk\n        sms_agent: nobody\n",
    ));
    assert!(
        err.contains(
            "organizations[0].numbers[0].sms_agent: no agent \"nobody\" in this organization"
        ),
        "{err}"
    );
    let long = "x".repeat(1501);
    let err = problems(&MINIMAL.replace(
        "        agent: desk\n",
        &format!(
            "        agent: desk\n        sms: false\n        sms_disabled_message: \"{long}\"\n"
        ),
    ));
    assert!(
        err.contains("organizations[0].numbers[0].sms_disabled_message"),
        "{err}"
    );
    let err = problems(&MINIMAL.replace(
        "        agent: desk\n",
        "        agent: desk\n        sms: maybe\n",
    ));
    assert!(err.contains("organizations[0].numbers[0].sms"), "{err}");
}

#[test]
fn a_misspelled_provider_is_named_with_its_path() {
    let text = MINIMAL.replacen(
        "provider: openai_realtime\n        voice: marin\n        instructions: Take",
        "provider: gemni\n        voice: marin\n        instructions: Take",
        1,
    );
    let err = problems(&text);
    assert!(
        err.starts_with("organizations[0].agents[1].provider: unknown value \"gemni\""),
        "{err}"
    );
}

#[test]
fn unknown_keys_and_missing_keys_are_named() {
    let err = problems(&MINIMAL.replace(
        "voice: marin\n        instructions: Help.",
        "voise: marin\n        instructions: Help.",
    ));
    assert!(
        err.contains("organizations[0].agents[0]: missing key \"voice\""),
        "{err}"
    );
    assert!(
        err.contains("organizations[0].agents[0]: unknown key \"voise\""),
        "{err}"
    );
    let err = problems(&format!("{MINIMAL}extra: 1\n"));
    assert!(err.contains("unknown key \"extra\""), "{err}");
}

#[test]
fn bad_values_say_what_was_expected() {
    let err = problems(&MINIMAL.replace("\"+15551230000\"", "+15551230000"));
    assert!(
        err.contains("organizations[0].numbers[0].number: expected string, found a number (quote phone numbers"),
        "{err}"
    );
    let err = problems(&MINIMAL.replace("AC0123456789abcdef0123456789abcdef", "AC12"));
    assert!(
        err.contains("organizations[0].twilio.account_sid: \"AC12\" is not a Twilio account SID"),
        "{err}"
    );
    let err = problems(&MINIMAL.replace(
        "instructions: Help.",
        "instructions: Help.\n        limits: {max_duration_secs: 7200}",
    ));
    assert!(
        err.contains(
            "organizations[0].agents[0].limits.max_duration_secs: 7200 is above the maximum 3540"
        ),
        "{err}"
    );
}

#[test]
fn references_and_duplicates_are_checked() {
    let err = problems(&MINIMAL.replace("agent: desk", "agent: dsk"));
    assert!(
        err.contains("organizations[0].numbers[0].agent: no agent \"dsk\" in this organization"),
        "{err}"
    );
    let err = problems(&MINIMAL.replace("id: night", "id: desk"));
    assert!(
        err.contains("organizations[0].agents[1].id: agent \"desk\" is declared twice"),
        "{err}"
    );
    let twice = format!(
        "{MINIMAL}{}",
        MINIMAL
            .replace("organizations:\n", "")
            .replace("id: acme", "id: other")
    );
    let err = problems(&twice);
    assert!(
        err.contains(
            "organizations[1].twilio.account_sid: organizations[0] has this Twilio account already"
        ),
        "{err}"
    );
    assert!(
        err.contains("organizations[1].numbers[0].number: +15551230000 is declared twice"),
        "{err}"
    );
}

#[test]
fn tools_need_what_their_type_needs() {
    let with_tool = |tool: &str| {
        MINIMAL.replacen(
            "instructions: Help.",
            &format!("instructions: Help.\n        tools:\n          - {tool}"),
            1,
        )
    };
    let err = problems(&with_tool("{name: transfer, type: transfer_call}"));
    assert!(
        err.contains("organizations[0].agents[0].tools[0].to: transfer_call needs"),
        "{err}"
    );
    let err = problems(&with_tool(
        "{name: lookup, type: webhook, url: \"https://x.example/a\"}",
    ));
    assert!(
        err.contains("tools[0].description: a webhook tool needs a description"),
        "{err}"
    );
    let config = parse(&with_tool(
        "{name: lookup, type: webhook, description: Look up an order, url: \"https://x.example/a\"}",
    ))
    .expect("webhook tool");
    assert_eq!(
        config.organizations[0].agents[0].tools[0].kind,
        ToolKind::Webhook {
            url: "https://x.example/a".into(),
            timeout_secs: None,
        }
    );
    let config = parse(&with_tool(
        "{name: lookup, type: webhook, description: Look up, url: \"https://x.example/a\", timeout_secs: 3}",
    ))
    .expect("webhook tool with a timeout");
    assert_eq!(
        config.organizations[0].agents[0].tools[0].kind,
        ToolKind::Webhook {
            url: "https://x.example/a".into(),
            timeout_secs: Some(3),
        }
    );
    let err = problems(&with_tool(
        "{name: lookup, type: webhook, description: Look up, url: \"https://x.example/a\", timeout_secs: 31}",
    ));
    assert!(err.contains("tools[0].timeout_secs"), "{err}");
    let err = problems(&with_tool("{name: bye, type: end_call, timeout_secs: 3}"));
    assert!(
        err.contains("only a webhook tool has \"timeout_secs\""),
        "{err}"
    );
    // send_sms needs nothing else: a description and a `body` argument by default.
    let config = parse(&with_tool("{name: text_caller, type: send_sms}")).expect("send_sms");
    let tool = &config.organizations[0].agents[0].tools[0];
    assert_eq!(tool.kind, ToolKind::SendSms);
    assert!(
        tool.description.contains("Text the caller"),
        "{}",
        tool.description
    );
    assert_eq!(tool.parameters["required"], serde_json::json!(["body"]));
    let err = problems(&with_tool(
        "{name: text_caller, type: send_sms, url: \"https://x.example/a\"}",
    ));
    assert!(err.contains("only a webhook tool has \"url\""), "{err}");
    // send_dtmf likewise: the keys as a `digits` argument the schema constrains.
    let config = parse(&with_tool("{name: press, type: send_dtmf}")).expect("send_dtmf");
    let tool = &config.organizations[0].agents[0].tools[0];
    assert_eq!(tool.kind, ToolKind::SendDtmf);
    assert_eq!(tool.parameters["required"], serde_json::json!(["digits"]));
}

#[test]
fn an_unset_variable_names_itself_and_its_line() {
    let text = MINIMAL.replace("auth_token: tok", "auth_token: \"${ACME_TOKEN}\"");
    let err = problems(&text);
    assert_eq!(err, "line 6: ${ACME_TOKEN} is not set and has no default");
}

#[test]
fn secrets_are_never_quoted_back() {
    let env = |k: &str| (k == "ACME_TOKEN").then(|| "hunter2-very-secret".to_owned());
    // A token that breaks YAML or the schema: the error must not carry it.
    let text = MINIMAL.replace("auth_token: tok", "auth_token: [${ACME_TOKEN}]");
    let err = Config::parse(&text, &env).expect_err("a list").to_string();
    assert!(
        err.contains("organizations[0].twilio.auth_token: expected string"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
    let text = MINIMAL.replace("auth_token: tok", "auth_token: \"${ACME_TOKEN}\n");
    let err = Config::parse(&text, &env)
        .expect_err("broken YAML")
        .to_string();
    assert!(err.starts_with("not valid YAML: line "), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn a_quoted_secret_with_quotes_in_it_stays_one_value() {
    let env = |k: &str| (k == "ACME_TOKEN").then(|| "a\"b\\c: #d".to_owned());
    let text = MINIMAL.replace("auth_token: tok", "auth_token: \"${ACME_TOKEN}\"");
    let config = Config::parse(&text, &env).expect("parsed");
    use secrecy::ExposeSecret as _;
    assert_eq!(
        config.organizations[0]
            .org
            .twilio
            .auth_token
            .expose_secret(),
        "a\"b\\c: #d"
    );
}

#[test]
fn the_schema_file_is_a_json_schema_the_example_satisfies() {
    let schema: serde_json::Value = serde_json::from_str(hotline_config::SCHEMA).expect("JSON");
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    let example: serde_json::Value = serde_yaml_ng::from_str(
        &hotline_config::interpolate(hotline_config::EXAMPLE, &no_env).expect("interpolated"),
    )
    .expect("YAML");
    let validator = jsonschema::validator_for(&schema).expect("valid schema");
    assert!(validator.is_valid(&example));
}

#[test]
fn the_readmes_example_is_a_valid_file() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md");
    let section = readme
        .split("## Configuration")
        .nth(1)
        .expect("a Configuration section");
    let yaml = section
        .split("```yaml\n")
        .nth(1)
        .and_then(|s| s.split("```").next())
        .expect("a yaml block");
    let env = |k: &str| match k {
        "TWILIO_ACCOUNT_SID" => Some("AC0123456789abcdef0123456789abcdef".to_owned()),
        "TWILIO_AUTH_TOKEN" => Some("token".to_owned()),
        "REPORT_WEBHOOK_SECRET" => Some("whsec_0123456789abcdef".to_owned()),
        _ => None,
    };
    let config = Config::parse(yaml, &env).unwrap_or_else(|e| panic!("{e}"));
    let agent = &config.organizations[0].agents[0];
    assert_eq!(agent.tools.len(), 4);
    assert_eq!(agent.analyzers.len(), 1);
}

#[test]
fn one_agent_reads_back_from_its_own_file_shape() {
    let config = Config::example(&no_env).expect("example");
    for declared in &config.organizations {
        for agent in &declared.agents {
            let shape = hotline_config::agent_json(agent);
            let again = hotline_config::agent_from_json(&agent.org, shape.clone())
                .unwrap_or_else(|p| panic!("{p:?}: {shape}"));
            assert_eq!(&again, agent);
        }
    }
}

#[test]
fn one_agent_is_checked_as_the_file_checks_it() {
    let org = hotline_core::OrgId::parse("acme").expect("org");
    let problems = hotline_config::agent_from_json(
        &org,
        serde_json::json!({
            "id": "desk", "provider": "openai_realtime", "voice": "marin", "instructions": "Hi",
            "limits": {"max_duration_secs": 0},
            "tools": [{"name": "t", "type": "webhook", "url": "https://x.example"},
                      {"name": "t", "type": "end_call"}],
        }),
    )
    .expect_err("three problems");
    let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert!(text.iter().any(|p| p.starts_with("limits:")), "{text:?}");
    assert!(
        text.iter().any(|p| p.starts_with("tools[0].description:")),
        "{text:?}"
    );
    assert!(
        text.iter().any(|p| p.starts_with("tools[1].name:")),
        "{text:?}"
    );
    let unknown = hotline_config::agent_from_json(
        &org,
        serde_json::json!({"id": "desk", "provider": "openai_realtime", "voice": "marin",
                           "instructions": "Hi", "colour": "blue"}),
    )
    .expect_err("unknown field");
    assert!(unknown[0].message.contains("colour"), "{unknown:?}");
}

#[test]
fn a_fallback_names_its_own_provider_and_voice_and_takes_that_providers_default_model() {
    let text = MINIMAL.replace(
        "        voice: marin\n        instructions: Help.\n",
        "        voice: marin\n        instructions: Help.\n        fallback: {provider: gemini_live, voice: Puck}\n",
    );
    let config = parse(&text).expect("a fallback");
    let agent = &config.organizations[0].agents[0];
    let fallback = agent.fallback.as_ref().expect("declared");
    assert_eq!(fallback.provider, Provider::GeminiLive);
    assert_eq!(fallback.voice, "Puck");
    assert_eq!(fallback.model, "gemini-live-2.5-flash-preview");
    let carried = agent.on_fallback().expect("the agent on its fallback");
    assert_eq!(
        (
            carried.provider,
            carried.voice.as_str(),
            &carried.instructions
        ),
        (fallback.provider, "Puck", &agent.instructions)
    );
    // The API's view of the agent reads back into the same agent.
    let again = hotline_config::agent_from_json(&agent.org, hotline_config::agent_json(agent))
        .expect("round trip");
    assert_eq!(again.fallback, agent.fallback);

    let err = problems(&MINIMAL.replace(
        "        voice: marin\n        instructions: Help.\n",
        "        voice: marin\n        instructions: Help.\n        fallback: {provider: gemini_live}\n",
    ));
    assert!(err.contains("voice"), "{err}");
}

#[test]
fn a_pipeline_agent_names_its_speech_to_text_model_and_voice() {
    let text = MINIMAL.replace(
        "      - id: night\n        provider: openai_realtime\n        voice: marin\n",
        "      - id: night\n        provider: pipeline\n        voice: marin\n        \
         stt: {vendor: deepgram, model: nova-3-medical, language: en-GB}\n        \
         llm: {model: gpt-4.1}\n        \
         tts: {vendor: elevenlabs, voice: 21m00Tcm4TlvDq8ikWAM}\n",
    );
    let config = parse(&text).expect("parses");
    let night = &config.organizations[0].agents[1];
    assert_eq!(night.provider, Provider::Pipeline);
    assert_eq!(night.model, "gpt-4.1");
    assert_eq!(
        night.voice, "21m00Tcm4TlvDq8ikWAM",
        "tts.voice is the voice"
    );
    let spec = night.pipeline.clone().expect("pipeline spec");
    assert_eq!(spec.stt.model, "nova-3-medical");
    assert_eq!(spec.stt.language, "en-GB");
    assert_eq!(spec.tts.model, "eleven_flash_v2_5", "the default model");
    assert_eq!(config.organizations[0].agents[0].pipeline, None);

    // Without the keys: the defaults, and the default chat model.
    let text = MINIMAL.replace(
        "      - id: night\n        provider: openai_realtime\n",
        "      - id: night\n        provider: pipeline\n",
    );
    let config = parse(&text).expect("parses");
    let night = &config.organizations[0].agents[1];
    assert_eq!(night.model, "gpt-4.1-mini");
    assert_eq!(
        night.pipeline,
        Some(hotline_core::model::PipelineSpec::default())
    );

    // Only a pipeline has them; the model is named once; vendors are known ones.
    let err = problems(&MINIMAL.replace(
        "        voice: marin\n        instructions: Help.\n",
        "        voice: marin\n        instructions: Help.\n        llm: {model: gpt-4.1}\n",
    ));
    assert!(
        err.contains("organizations[0].agents[0].llm: only a pipeline agent"),
        "{err}"
    );
    let err = problems(&MINIMAL.replace(
        "      - id: night\n        provider: openai_realtime\n",
        "      - id: night\n        provider: pipeline\n        model: a\n        llm: {model: b}\n",
    ));
    assert!(err.contains("name the pipeline's model once"), "{err}");
    let err = problems(&MINIMAL.replace(
        "      - id: night\n        provider: openai_realtime\n",
        "      - id: night\n        provider: pipeline\n        stt: {vendor: whisper}\n",
    ));
    assert!(err.contains("organizations[0].agents[1].stt"), "{err}");
}

#[test]
fn a_pipeline_agent_may_hear_with_elevenlabs_and_speak_with_openai() {
    use hotline_core::model::{SttVendor, TtsVendor};
    let text = MINIMAL.replace(
        "      - id: night\n        provider: openai_realtime\n        voice: marin\n",
        "      - id: night\n        provider: pipeline\n        voice: marin\n        \
         stt: {vendor: elevenlabs}\n        \
         tts: {vendor: openai, voice: coral}\n",
    );
    let config = parse(&text).expect("parses");
    let night = &config.organizations[0].agents[1];
    assert_eq!(night.voice, "coral");
    let spec = night.pipeline.clone().expect("pipeline spec");
    assert_eq!(spec.stt.vendor, SttVendor::Elevenlabs);
    // Each vendor's own defaults, not Deepgram's or ElevenLabs' names.
    assert_eq!(
        (spec.stt.model.as_str(), spec.stt.language.as_str()),
        ("scribe_v2_realtime", "en")
    );
    assert_eq!(spec.tts.vendor, TtsVendor::Openai);
    assert_eq!(spec.tts.model, "gpt-4o-mini-tts");

    let text = MINIMAL.replace(
        "      - id: night\n        provider: openai_realtime\n",
        "      - id: night\n        provider: pipeline\n        \
         stt: {vendor: elevenlabs, model: scribe_v2_realtime, language: fr}\n        \
         tts: {vendor: openai, model: tts-1}\n",
    );
    let spec = parse(&text).expect("parses").organizations[0].agents[1]
        .pipeline
        .clone()
        .expect("pipeline spec");
    assert_eq!(spec.stt.language, "fr");
    assert_eq!(spec.tts.model, "tts-1");

    let err = problems(&MINIMAL.replace(
        "      - id: night\n        provider: openai_realtime\n",
        "      - id: night\n        provider: pipeline\n        tts: {vendor: polly}\n",
    ));
    assert!(err.contains("organizations[0].agents[1].tts"), "{err}");
}
