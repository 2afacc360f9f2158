//! Signature vectors produced by Twilio's own Python helper library
//! (`tests/vectors/generate.py`); see `tests/fixtures/twilio/signatures.json`.

use hotline_twilio::signature::{compute, validate, validate_body_sha256};
use serde::Deserialize;

type Params = Vec<(String, String)>;

#[derive(Deserialize)]
struct Fixture {
    form_cases: Vec<FormCase>,
    port_cases: Vec<PortCase>,
    body_cases: Vec<BodyCase>,
}

#[derive(Deserialize)]
struct FormCase {
    name: String,
    auth_token: String,
    url: String,
    params: Params,
    signature: String,
    python_validate: bool,
}

#[derive(Deserialize)]
struct PortCase {
    name: String,
    auth_token: String,
    signed_url: String,
    request_url: String,
    params: Params,
    signature: String,
    python_validate: bool,
    rust_validate: bool,
    divergence: Option<String>,
}

#[derive(Deserialize)]
struct BodyCase {
    name: String,
    auth_token: String,
    url: String,
    body: String,
    body_sha256: String,
    signature: String,
    python_validate: bool,
    tampered_body: String,
    python_validate_tampered_body: bool,
}

fn fixture() -> Fixture {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/twilio/signatures.json"
    );
    let text = std::fs::read_to_string(path).expect("read signatures.json");
    serde_json::from_str(&text).expect("parse signatures.json")
}

/// The same signature with one base64 character changed (still valid base64).
fn flip_one_char(signature: &str) -> String {
    let mut chars: Vec<char> = signature.chars().collect();
    chars[0] = if chars[0] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

#[test]
fn fixture_covers_what_it_claims() {
    let f = fixture();
    assert!(f.form_cases.len() >= 15);
    assert!(f.port_cases.len() >= 10);
    assert_eq!(f.body_cases.len(), 2);
    let realistic = f
        .form_cases
        .iter()
        .find(|c| c.name == "realistic_voice_webhook")
        .expect("realistic case");
    assert!(realistic.params.len() >= 20);
}

#[test]
fn documented_vectors_match() {
    let f = fixture();
    let by_name = |name: &str| {
        f.form_cases
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no case {name}"))
    };
    assert_eq!(
        by_name("doc_vector_http").signature,
        "HpS7PBa1Agvt4OtO+wZp75IuQa0="
    );
    assert_eq!(
        by_name("https_with_443").signature,
        "lP+T80Y9kBUPfbvUda/M9aKUc2Y="
    );
    assert_eq!(
        by_name("wss_no_params").signature,
        "XFfwGS2Ev7f9qAP9MmRoMS7C724="
    );
    assert_eq!(f.body_cases[0].signature, "hPXmLwIy3Fgqv1i9KPmH/HhQ6zo=");
    let doc = by_name("doc_vector_http");
    assert_eq!(
        compute(&doc.auth_token, &doc.url, &doc.params),
        "HpS7PBa1Agvt4OtO+wZp75IuQa0="
    );
}

#[test]
fn compute_matches_twilio_python() {
    for case in fixture().form_cases {
        assert_eq!(
            compute(&case.auth_token, &case.url, &case.params),
            case.signature,
            "{}",
            case.name
        );
    }
}

#[test]
fn compute_ignores_parameter_order() {
    for case in fixture().form_cases {
        let mut reversed = case.params.clone();
        reversed.reverse();
        assert_eq!(
            compute(&case.auth_token, &case.url, &reversed),
            case.signature,
            "{}",
            case.name
        );
    }
}

#[test]
fn validate_accepts_what_twilio_python_accepts() {
    for case in fixture().form_cases {
        assert!(case.python_validate, "{}", case.name);
        assert!(
            validate(&case.auth_token, &case.url, &case.params, &case.signature),
            "{}",
            case.name
        );
    }
}

#[test]
fn validate_rejects_tampering() {
    for case in fixture().form_cases {
        let (token, url, params, sig) =
            (&case.auth_token, &case.url, &case.params, &case.signature);
        let name = &case.name;

        assert!(
            !validate(token, &format!("{url}x"), params, sig),
            "{name}: url"
        );
        assert!(
            !validate(token, &format!("{url}/"), params, sig),
            "{name}: slash"
        );
        assert!(
            !validate(&format!("{token}x"), url, params, sig),
            "{name}: token"
        );
        assert!(
            !validate(token, url, params, &flip_one_char(sig)),
            "{name}: sig"
        );
        assert!(!validate(token, url, params, ""), "{name}: empty sig");
        assert!(
            !validate(token, url, params, "not base64!"),
            "{name}: junk sig"
        );

        let mut added = params.clone();
        added.push(("Injected".to_owned(), "1".to_owned()));
        assert!(!validate(token, url, &added, sig), "{name}: added param");

        if let Some((_, first_value)) = params.first() {
            let mut changed = params.clone();
            changed[0].1 = format!("{first_value}x");
            assert!(!validate(token, url, &changed, sig), "{name}: value");

            let mut dropped = params.clone();
            dropped.remove(0);
            let still_present = dropped.iter().any(|p| p == &params[0]);
            assert_eq!(
                validate(token, url, &dropped, sig),
                still_present,
                "{name}: dropped param"
            );
        }
    }
}

#[test]
fn repeating_an_identical_pair_does_not_change_the_signature() {
    // twilio-python signs each distinct value of a name once.
    for case in fixture().form_cases {
        if let Some(first) = case.params.first() {
            let mut doubled = case.params.clone();
            doubled.push(first.clone());
            assert!(
                validate(&case.auth_token, &case.url, &doubled, &case.signature),
                "{}",
                case.name
            );
        }
    }
}

#[test]
fn port_variants_agree_with_twilio_python_except_where_documented() {
    for case in fixture().port_cases {
        let name = &case.name;
        assert_eq!(
            compute(&case.auth_token, &case.signed_url, &case.params),
            case.signature,
            "{name}: compute"
        );
        assert_eq!(
            validate(
                &case.auth_token,
                &case.request_url,
                &case.params,
                &case.signature
            ),
            case.rust_validate,
            "{name}: validate"
        );
        match &case.divergence {
            None => assert_eq!(case.rust_validate, case.python_validate, "{name}"),
            Some(why) => {
                assert_ne!(case.rust_validate, case.python_validate, "{name}");
                assert!(!why.is_empty(), "{name}");
            }
        }
    }
}

#[test]
fn json_bodies_match_twilio_python() {
    for case in fixture().body_cases {
        let name = &case.name;
        assert!(
            case.url
                .ends_with(&format!("bodySHA256={}", case.body_sha256)),
            "{name}"
        );
        assert_eq!(
            compute(&case.auth_token, &case.url, &[]),
            case.signature,
            "{name}"
        );
        assert_eq!(
            validate_body_sha256(
                &case.auth_token,
                &case.url,
                case.body.as_bytes(),
                &case.signature
            ),
            case.python_validate,
            "{name}"
        );
        assert_eq!(
            validate_body_sha256(
                &case.auth_token,
                &case.url,
                case.tampered_body.as_bytes(),
                &case.signature
            ),
            case.python_validate_tampered_body,
            "{name}: tampered body"
        );
        assert!(
            !validate_body_sha256(
                &case.auth_token,
                &case.url,
                case.body.as_bytes(),
                &flip_one_char(&case.signature)
            ),
            "{name}: tampered signature"
        );
        let other_hash = case.url.replace(&case.body_sha256, &"0".repeat(64));
        let resigned = compute(&case.auth_token, &other_hash, &[]);
        assert!(
            !validate_body_sha256(
                &case.auth_token,
                &other_hash,
                case.body.as_bytes(),
                &resigned
            ),
            "{name}: signature fine but hash wrong"
        );
    }
}
