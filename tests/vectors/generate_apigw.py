#!/usr/bin/env python3
"""Write API Gateway HTTP API (payload 2.0) events of Twilio's webhooks to hotline (the
voice webhook, the call status and the recording status callbacks), signed by Twilio's
official helper library, so each Lambda's handler is tested on what Lambda really gets.

    python3 -m venv /tmp/twvenv
    /tmp/twvenv/bin/pip install twilio
    /tmp/twvenv/bin/python tests/vectors/generate_apigw.py

Writes tests/fixtures/apigw/{voice,status,recording}-*.json at the repository root. Run
by hand; only its output is committed.
"""

import base64
import json
from pathlib import Path
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "fixtures" / "apigw"
TOKEN = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
ACCOUNT = "AC11111111111111111111111111111111"
CALL = "CA22222222222222222222222222222222"
RECORDING = "RE33333333333333333333333333333333"

# Where the HTTP API is reached: the host, the stage, and the path prefix the stage adds.
# The public URL Twilio signs is https://{host}{prefix}{route}.
CUSTOM_DOMAIN = {"host": "api.example.com", "stage": "$default", "prefix": ""}
NAMED_STAGE = {
    "host": "abc123defg.execute-api.us-east-1.amazonaws.com",
    "stage": "prod",
    "prefix": "/prod",
}

# What differs between Twilio's deliveries: the voice webhook as the call rings, and
# the callbacks after it ended.
RINGING = {
    "idempotency_token": "8a1e2f8e-5c1b-4d5c-9a0b-2e7d6c3b4a59",
    "trace_id": "Root=1-6740f5d2-1c2d3e4f5a6b7c8d9e0f1a2b",
    "source_ip": "54.172.60.1",
    "request_id": "Qx1yZhQ2IAMEbXw=",
    "time": "20/Nov/2026:21:40:00 +0000",
    "time_epoch": 1795210800000,
}
AFTER_CALL = {
    "idempotency_token": "2b7f0c7e-9d7a-4f0e-8a53-6d1c2e3f4a5b",
    "trace_id": "Root=1-6740f5d2-2c3d4e5f6a7b8c9d0e1f2a3b",
    "source_ip": "54.172.60.2",
    "request_id": "Qx2yZhQ2IAMEbXw=",
    "time": "20/Nov/2026:21:41:05 +0000",
    "time_epoch": 1795210865000,
}


def voice_form():
    # What Twilio sends to a number's voice webhook (twilio-webhooks.md section 2).
    return [
        ("AccountSid", ACCOUNT),
        ("ApiVersion", "2010-04-01"),
        ("CallSid", CALL),
        ("CallStatus", "ringing"),
        ("Called", "+14155550111"),
        ("CalledCity", "SAN FRANCISCO"),
        ("CalledCountry", "US"),
        ("CalledState", "CA"),
        ("Caller", "+14155550100"),
        ("CallerCountry", "US"),
        ("CallToken", "%7B%22parentCallInfoToken%22%3A%22eyJhbGciOiJFUzI1NiJ9%22%7D"),
        ("Direction", "inbound"),
        ("From", "+14155550100"),
        ("FromCity", "OAKLAND"),
        ("FromCountry", "US"),
        ("StirVerstat", "TN-Validation-Passed-A"),
        ("To", "+14155550111"),
        ("ToCountry", "US"),
    ]


def status_form(status, timestamp, sequence, extra):
    # What Twilio sends on a status callback: the voice webhook's parameters, then the
    # callback's own (twilio-webhooks.md section 3).
    return [
        ("AccountSid", ACCOUNT),
        ("ApiVersion", "2010-04-01"),
        ("CallSid", CALL),
        ("CallStatus", status),
        ("Called", "+14155550111"),
        ("CalledCountry", "US"),
        ("Caller", "+14155550100"),
        ("CallerCountry", "US"),
        ("CallbackSource", "call-progress-events"),
        ("Direction", "inbound"),
        ("From", "+14155550100"),
        ("FromCity", "OAKLAND"),
        ("SequenceNumber", str(sequence)),
        ("Timestamp", timestamp),
        ("To", "+14155550111"),
        ("ToCountry", "US"),
        *extra,
    ]


def recording_form(status, extra):
    # What Twilio sends to a recordingStatusCallback (twilio-webhooks.md section 4).
    return [
        ("AccountSid", ACCOUNT),
        ("CallSid", CALL),
        ("RecordingChannels", "1"),
        ("RecordingSid", RECORDING),
        ("RecordingSource", "StartCallRecordingTwiML"),
        ("RecordingStartTime", "Fri, 20 Nov 2026 21:40:02 +0000"),
        ("RecordingStatus", status),
        ("RecordingTrack", "both"),
        (
            "RecordingUrl",
            f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Recordings/{RECORDING}",
        ),
        *extra,
    ]


def event(name, route, fields, api, delivery, query=""):
    """The event API Gateway hands the Lambda when Twilio posts `fields` to `route`."""
    body = urlencode(fields)
    raw_path = f"{api['prefix']}{route}"
    url = f"https://{api['host']}{raw_path}" + (f"?{query}" if query else "")
    signature = RequestValidator(TOKEN).compute_signature(url, dict(fields))
    host = api["host"]
    return {
        "version": "2.0",
        "routeKey": f"POST {route}",
        "rawPath": raw_path,
        "rawQueryString": query,
        "headers": {
            "accept": "*/*",
            "cache-control": "max-age=259200",
            "content-length": str(len(body)),
            "content-type": "application/x-www-form-urlencoded",
            "host": host,
            "i-twilio-idempotency-token": delivery["idempotency_token"],
            "user-agent": "TwilioProxy/1.1",
            "x-amzn-trace-id": delivery["trace_id"],
            "x-forwarded-for": delivery["source_ip"],
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https",
            "x-home-region": "us1",
            "x-twilio-signature": signature,
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123defg",
            "domainName": host,
            "domainPrefix": host.split(".")[0],
            "http": {
                "method": "POST",
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": delivery["source_ip"],
                "userAgent": "TwilioProxy/1.1",
            },
            "requestId": delivery["request_id"],
            "routeKey": f"POST {route}",
            "stage": api["stage"],
            "time": delivery["time"],
            "timeEpoch": delivery["time_epoch"],
        },
        "body": base64.b64encode(body.encode()).decode(),
        "isBase64Encoded": True,
        "_comment": f"{name}: signed over {url} with token {TOKEN} by twilio-python",
    }


cases = {
    # A custom domain on the $default stage: the public URL is the domain itself.
    "voice-custom-domain": event(
        "custom domain", "/twilio/voice", voice_form(), CUSTOM_DOMAIN, RINGING
    ),
    # The execute-api host with a named stage: Twilio calls .../prod/twilio/voice.
    "voice-stage": event(
        "named stage",
        "/twilio/voice",
        voice_form(),
        NAMED_STAGE,
        RINGING,
        query="tenant=t%201&x=%2B1",
    ),
    # The call ended: the execute-api host with a named stage.
    "status-completed-stage": event(
        "completed, named stage",
        "/twilio/status",
        status_form(
            "completed",
            "Fri, 20 Nov 2026 21:41:05 +0000",
            3,
            [("CallDuration", "61"), ("Duration", "2"), ("SipResponseCode", "200")],
        ),
        NAMED_STAGE,
        AFTER_CALL,
    ),
    # The call was answered: a custom domain on the $default stage.
    "status-in-progress-custom-domain": event(
        "in-progress, custom domain",
        "/twilio/status",
        status_form("in-progress", "Fri, 20 Nov 2026 21:40:04 +0000", 2, [("StirStatus", "A")]),
        CUSTOM_DOMAIN,
        AFTER_CALL,
    ),
    # The recording is ready: the execute-api host with a named stage.
    "recording-completed-stage": event(
        "completed, named stage",
        "/twilio/recording",
        recording_form("completed", [("ErrorCode", "0"), ("RecordingDuration", "61")]),
        NAMED_STAGE,
        AFTER_CALL,
    ),
    # Twilio kept no recording: a custom domain on the $default stage.
    "recording-absent-custom-domain": event(
        "absent, custom domain",
        "/twilio/recording",
        recording_form("absent", [("ErrorCode", "0"), ("RecordingDuration", "0")]),
        CUSTOM_DOMAIN,
        AFTER_CALL,
    ),
}

OUT.mkdir(parents=True, exist_ok=True)
for name, ev in cases.items():
    (OUT / f"{name}.json").write_text(json.dumps(ev, indent=2) + "\n")
print("wrote", ", ".join(cases))
