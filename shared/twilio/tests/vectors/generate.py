#!/usr/bin/env python3
"""Regenerate the Twilio test vectors used by hotline-twilio's tests.

The expected values come from Twilio's official Python helper library, so the Rust
implementation is checked against Twilio's own code rather than against itself.

    python3 -m venv /tmp/twvenv
    /tmp/twvenv/bin/pip install twilio werkzeug
    /tmp/twvenv/bin/python shared/twilio/tests/vectors/generate.py

Writes tests/fixtures/twilio/signatures.json and tests/fixtures/twilio/twiml_*.xml at the
repository root. werkzeug supplies Flask's MultiDict, the form type twilio-python expects
when a parameter name repeats (a plain dict cannot hold a repeated name).
"""

import hashlib
import json
from importlib.metadata import version
from pathlib import Path

from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import Connect, Dial, Start, VoiceResponse
from werkzeug.datastructures import MultiDict

ROOT = Path(__file__).resolve().parents[4]
OUT = ROOT / "tests" / "fixtures" / "twilio"

DOC_TOKEN = "12345"
DOC_PARAMS = [
    ("CallSid", "CA1234567890ABCDE"),
    ("Digits", "1234"),
    ("From", "+14158675309"),
    ("To", "+18005551212"),
]
REAL_TOKEN = "9f3c2a1b4d5e6f708192a3b4c5d6e7f8"


def as_params(pairs):
    """A plain dict when names are unique (the common caller), else a MultiDict."""
    names = [name for name, _ in pairs]
    if len(names) == len(set(names)):
        return dict(pairs)
    return MultiDict(pairs)


def form_case(name, token, url, pairs, note=None):
    validator = RequestValidator(token)
    params = as_params(pairs)
    signature = validator.compute_signature(url, params)
    case = {
        "name": name,
        "auth_token": token,
        "url": url,
        "params": [list(p) for p in pairs],
        "signature": signature,
        "python_validate": validator.validate(url, params, signature),
    }
    if note:
        case["note"] = note
    return case


def port_case(name, token, signed_url, request_url, pairs, divergence=None):
    """Sign `signed_url`, then ask the library to validate the request as `request_url`."""
    validator = RequestValidator(token)
    params = as_params(pairs)
    signature = validator.compute_signature(signed_url, params)
    accepted = validator.validate(request_url, params, signature)
    case = {
        "name": name,
        "auth_token": token,
        "signed_url": signed_url,
        "request_url": request_url,
        "params": [list(p) for p in pairs],
        "signature": signature,
        "python_validate": accepted,
        # hotline's expected verdict: the library's, unless `divergence` says why not.
        "rust_validate": accepted if divergence is None else not accepted,
    }
    if divergence:
        case["divergence"] = divergence
    return case


def body_case(name, token, base_url, body, tamper_body=None):
    validator = RequestValidator(token)
    digest = hashlib.sha256(body.encode("utf-8")).hexdigest()
    url = f"{base_url}?bodySHA256={digest}"
    signature = validator.compute_signature(url, {})
    case = {
        "name": name,
        "auth_token": token,
        "url": url,
        "body": body,
        "body_sha256": digest,
        "signature": signature,
        "python_validate": validator.validate(url, body, signature),
    }
    if tamper_body is not None:
        case["tampered_body"] = tamper_body
        case["python_validate_tampered_body"] = validator.validate(url, tamper_body, signature)
    return case


def realistic_voice_webhook():
    return [
        ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
        ("ApiVersion", "2010-04-01"),
        ("CallSid", "CAfedcba9876543210fedcba9876543210"),
        ("CallStatus", "ringing"),
        ("CallToken", '%7B%22parentCallInfoToken%22%3A%22eyJhbGciOiJFUzI1NiJ9%22%7D'),
        ("Called", "+14155550100"),
        ("CalledCity", "SAN FRANCISCO"),
        ("CalledCountry", "US"),
        ("CalledState", "CA"),
        ("CalledZip", "94105"),
        ("Caller", "+12125550123"),
        ("CallerCity", "NEW YORK"),
        ("CallerCountry", "US"),
        ("CallerName", "O'Brien & Sons"),
        ("CallerState", "NY"),
        ("CallerZip", "10001"),
        ("Direction", "inbound"),
        ("From", "+12125550123"),
        ("FromCity", "NEW YORK"),
        ("FromCountry", "US"),
        ("FromState", "NY"),
        ("FromZip", "10001"),
        ("StirVerstat", "TN-Validation-Passed-A"),
        ("To", "+14155550100"),
        ("ToCity", "SAN FRANCISCO"),
        ("ToCountry", "US"),
        ("ToState", "CA"),
        ("ToZip", "94105"),
    ]


def signatures():
    form_cases = [
        form_case("doc_vector_http", DOC_TOKEN, "http://mycompany.com/myapp.php?foo=1&bar=2", DOC_PARAMS),
        form_case("https_without_port", DOC_TOKEN, "https://mycompany.com/myapp.php?foo=1&bar=2", DOC_PARAMS),
        form_case("https_with_443", DOC_TOKEN, "https://mycompany.com:443/myapp.php?foo=1&bar=2", DOC_PARAMS),
        form_case("wss_no_params", DOC_TOKEN, "wss://example.com/media-stream", []),
        form_case("get_query_only", DOC_TOKEN, "https://example.com/voice?CallSid=CA123&From=%2B14155550100", []),
        form_case(
            "unicode_values",
            REAL_TOKEN,
            "https://example.com/voice",
            [
                ("CallerName", "José Müller"),
                ("SpeechResult", "日本語で話してください 😀"),
                ("From", "+14155550100"),
            ],
        ),
        form_case(
            "unicode_names_sort_by_code_point",
            REAL_TOKEN,
            "https://example.com/voice",
            [("é", "1"), ("z", "2"), ("Z", "3"), ("\uff5e", "4"), ("\U0001f600", "5"), ("_", "6"), ("a", "7")],
        ),
        form_case(
            "case_sensitive_ordering",
            REAL_TOKEN,
            "https://example.com/voice",
            [("digits", "lower"), ("Digits", "upper"), ("DIGITS", "caps"), ("Digit", "prefix")],
        ),
        form_case(
            "reserved_characters_in_values",
            REAL_TOKEN,
            "https://example.com/voice",
            [
                ("SpeechResult", "a b+c&d=e%20f?g#h"),
                ("Digits", "1 2 3"),
                ("Note", "100% = \"yes\" <ok>"),
            ],
        ),
        form_case(
            "percent_encoded_query",
            REAL_TOKEN,
            "https://example.com/voice?name=Jos%C3%A9&q=a%20b%2Bc&amp=%26&plus=a+b",
            [("CallSid", "CA0123456789abcdef0123456789abcdef")],
        ),
        form_case(
            "repeated_names_distinct_sorted_values",
            REAL_TOKEN,
            "https://example.com/status",
            [
                ("StatusCallbackEvent", "ringing"),
                ("CallSid", "CA0123456789abcdef0123456789abcdef"),
                ("StatusCallbackEvent", "initiated"),
                ("StatusCallbackEvent", "ringing"),
                ("StatusCallbackEvent", "answered"),
            ],
            note="twilio-python signs each distinct value once, values sorted: "
            "a repeated identical pair contributes nothing extra",
        ),
        form_case(
            "empty_values",
            REAL_TOKEN,
            "https://example.com/voice",
            [("Digits", ""), ("CallerName", ""), ("From", "+14155550100")],
        ),
        form_case(
            "realistic_voice_webhook",
            REAL_TOKEN,
            "https://api.hotline.example/twilio/voice",
            realistic_voice_webhook(),
        ),
        form_case(
            "token_longer_than_hmac_block",
            "k" * 100,
            "https://example.com/voice",
            DOC_PARAMS,
        ),
        form_case(
            "userinfo_in_url",
            REAL_TOKEN,
            "https://user:pa%40ss@example.com/voice?x=1",
            DOC_PARAMS,
        ),
    ]

    port_cases = [
        port_case("https_signed_443_request_bare", DOC_TOKEN,
                  "https://mycompany.com:443/myapp.php?foo=1&bar=2",
                  "https://mycompany.com/myapp.php?foo=1&bar=2", DOC_PARAMS),
        port_case("https_signed_bare_request_443", DOC_TOKEN,
                  "https://mycompany.com/myapp.php?foo=1&bar=2",
                  "https://mycompany.com:443/myapp.php?foo=1&bar=2", DOC_PARAMS),
        port_case("http_signed_80_request_bare", DOC_TOKEN,
                  "http://mycompany.com:80/myapp.php?foo=1&bar=2",
                  "http://mycompany.com/myapp.php?foo=1&bar=2", DOC_PARAMS),
        port_case("http_signed_bare_request_80", DOC_TOKEN,
                  "http://mycompany.com/myapp.php?foo=1&bar=2",
                  "http://mycompany.com:80/myapp.php?foo=1&bar=2", DOC_PARAMS),
        port_case("https_signed_80_request_bare", DOC_TOKEN,
                  "https://example.com:80/voice", "https://example.com/voice", DOC_PARAMS),
        port_case("wss_signed_bare_request_443", DOC_TOKEN,
                  "wss://example.com/media-stream", "wss://example.com:443/media-stream", []),
        port_case("wss_signed_443_request_bare", DOC_TOKEN,
                  "wss://example.com:443/media-stream", "wss://example.com/media-stream", [],
                  divergence="twilio-python's add_port uses 443 only for https and 80 for every "
                  "other scheme, so it tries wss://host:80; hotline uses 443, the default port for wss"),
        port_case("nondefault_port_exact", DOC_TOKEN,
                  "https://example.com:8443/voice", "https://example.com:8443/voice", DOC_PARAMS),
        port_case("nondefault_port_signed_bare", DOC_TOKEN,
                  "https://example.com/voice", "https://example.com:8443/voice", DOC_PARAMS,
                  divergence="twilio-python's remove_port drops any port, not only the default one; "
                  "hotline only toggles the scheme's default port"),
        port_case("userinfo_signed_443_request_bare", REAL_TOKEN,
                  "https://user:pass@example.com:443/voice", "https://user:pass@example.com/voice",
                  DOC_PARAMS),
        port_case("userinfo_signed_bare_request_443", REAL_TOKEN,
                  "https://user:pass@example.com/voice", "https://user:pass@example.com:443/voice",
                  DOC_PARAMS,
                  divergence="twilio-python's remove_port keeps netloc.split(':')[0], which for "
                  "user:pass@host:443 is just 'user'; hotline removes only the port"),
        port_case("ipv6_signed_443_request_bare", REAL_TOKEN,
                  "https://[2001:db8::1]:443/voice", "https://[2001:db8::1]/voice", DOC_PARAMS),
        port_case("ipv6_signed_bare_request_443", REAL_TOKEN,
                  "https://[2001:db8::1]/voice", "https://[2001:db8::1]:443/voice", DOC_PARAMS,
                  divergence="twilio-python's remove_port splits the netloc at the first ':', "
                  "which cuts an IPv6 literal; hotline removes only the port"),
        port_case("empty_query_marker_kept", REAL_TOKEN,
                  "https://example.com/voice?", "https://example.com/voice?", DOC_PARAMS,
                  divergence="twilio-python validates only urlparse/geturl re-serialisations of the "
                  "URL, which drop an empty '?'; hotline also tries the URL exactly as given"),
        port_case("case_of_host_matters", REAL_TOKEN,
                  "https://example.com/voice", "https://EXAMPLE.com/voice", DOC_PARAMS),
        port_case("trailing_slash_matters", REAL_TOKEN,
                  "https://example.com/voice", "https://example.com/voice/", DOC_PARAMS),
    ]

    body = '{"CallSid":"CA1234567890ABCDE","Caller":"+12349013030"}'
    body_cases = [
        body_case("doc_json_body", DOC_TOKEN, "https://example.com/myapp", body,
                  tamper_body=body.replace("+1234", "+1999")),
        body_case("unicode_json_body", REAL_TOKEN, "https://example.com:443/events",
                  '{"Caller":"José 😀","n":1}', tamper_body='{"Caller":"José 😀","n":2}'),
    ]

    return {
        "generator": "shared/twilio/tests/vectors/generate.py",
        "library": f"twilio-python {version('twilio')} RequestValidator (HMAC-SHA1)",
        "form_cases": form_cases,
        "port_cases": port_cases,
        "body_cases": body_cases,
    }


ESCAPE_PROBE = "Hi \"you\" & 'them' <there>"


def twiml_answer():
    response = VoiceResponse()
    response.say(ESCAPE_PROBE, voice="Google.en-US-Chirp3-HD-Aoede", language="en-US")
    start = Start()
    start.recording(
        recording_status_callback="https://api.hotline.example/twilio/recording?org=acme&x=\"1\"",
        recording_status_callback_method="POST",
        recording_status_callback_event="completed absent",
        channels="dual",
        track="both",
        trim="do-not-trim",
    )
    response.append(start)
    connect = Connect()
    stream = connect.stream(
        url="wss://stream.hotline.example/twilio",
        status_callback="https://api.hotline.example/twilio/stream-status",
        status_callback_method="POST",
    )
    stream.parameter(name="token", value="q7Z-x_9")
    stream.parameter(name="note", value=ESCAPE_PROBE)
    response.append(connect)
    return response.to_xml()


def twiml_transfer():
    response = VoiceResponse()
    response.say("Transferring you now.")
    response.pause(length=2)
    dial = Dial(caller_id="+14155550100")
    dial.number("+12125550123")
    response.append(dial)
    response.redirect("https://api.hotline.example/twilio/after?a=1&b=2", method="POST")
    response.hangup()
    return response.to_xml()


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    data = signatures()
    (OUT / "signatures.json").write_text(
        json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    (OUT / "twiml_answer.xml").write_text(twiml_answer() + "\n", encoding="utf-8")
    (OUT / "twiml_transfer.xml").write_text(twiml_transfer() + "\n", encoding="utf-8")
    for case in data["form_cases"] + data["body_cases"]:
        assert case["python_validate"], case["name"]
    for case in data["body_cases"]:
        assert not case["python_validate_tampered_body"], case["name"]
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
