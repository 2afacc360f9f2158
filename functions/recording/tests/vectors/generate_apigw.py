#!/usr/bin/env python3
"""Write API Gateway HTTP API (payload 2.0) events of Twilio's recording status callback,
signed by Twilio's official helper library, so the handler is tested on what Lambda
really gets (the approach of functions/voice/tests/vectors/generate_apigw.py).

    /tmp/twvenv/bin/python functions/recording/tests/vectors/generate_apigw.py

Writes functions/recording/tests/fixtures/recording-*.json.
"""

import base64
import json
from pathlib import Path
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

OUT = Path(__file__).resolve().parents[1] / "fixtures"
TOKEN = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
ACCOUNT = "AC11111111111111111111111111111111"
ROUTE = "/twilio/recording"


def form(status, extra):
    # What Twilio sends to a recordingStatusCallback (twilio-webhooks.md section 4).
    recording = "RE33333333333333333333333333333333"
    return [
        ("AccountSid", ACCOUNT),
        ("CallSid", "CA22222222222222222222222222222222"),
        ("RecordingChannels", "1"),
        ("RecordingSid", recording),
        ("RecordingSource", "StartCallRecordingTwiML"),
        ("RecordingStartTime", "Fri, 20 Nov 2026 21:40:02 +0000"),
        ("RecordingStatus", status),
        ("RecordingTrack", "both"),
        (
            "RecordingUrl",
            f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Recordings/{recording}",
        ),
        *extra,
    ]


def event(name, fields, host, stage, raw_path, public_base):
    body = urlencode(fields)
    url = f"{public_base}{ROUTE}"
    signature = RequestValidator(TOKEN).compute_signature(url, dict(fields))
    return {
        "version": "2.0",
        "routeKey": f"POST {ROUTE}",
        "rawPath": raw_path,
        "rawQueryString": "",
        "headers": {
            "accept": "*/*",
            "cache-control": "max-age=259200",
            "content-length": str(len(body)),
            "content-type": "application/x-www-form-urlencoded",
            "host": host,
            "i-twilio-idempotency-token": "2b7f0c7e-9d7a-4f0e-8a53-6d1c2e3f4a5b",
            "user-agent": "TwilioProxy/1.1",
            "x-amzn-trace-id": "Root=1-6740f5d2-2c3d4e5f6a7b8c9d0e1f2a3b",
            "x-forwarded-for": "54.172.60.2",
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
                "sourceIp": "54.172.60.2",
                "userAgent": "TwilioProxy/1.1",
            },
            "requestId": "Qx2yZhQ2IAMEbXw=",
            "routeKey": f"POST {ROUTE}",
            "stage": stage,
            "time": "20/Nov/2026:21:41:05 +0000",
            "timeEpoch": 1795210865000,
        },
        "body": base64.b64encode(body.encode()).decode(),
        "isBase64Encoded": True,
        "_comment": f"{name}: signed over {url} with token {TOKEN} by twilio-python",
    }


OUT.mkdir(parents=True, exist_ok=True)
cases = {
    # The recording is ready: the execute-api host with a named stage.
    "recording-completed-stage": event(
        "completed, named stage",
        form("completed", [("ErrorCode", "0"), ("RecordingDuration", "61")]),
        "abc123defg.execute-api.us-east-1.amazonaws.com",
        "prod",
        f"/prod{ROUTE}",
        "https://abc123defg.execute-api.us-east-1.amazonaws.com/prod",
    ),
    # Twilio kept no recording: a custom domain on the $default stage.
    "recording-absent-custom-domain": event(
        "absent, custom domain",
        form("absent", [("ErrorCode", "0"), ("RecordingDuration", "0")]),
        "api.example.com",
        "$default",
        ROUTE,
        "https://api.example.com",
    ),
}
for name, ev in cases.items():
    (OUT / f"{name}.json").write_text(json.dumps(ev, indent=2) + "\n")
print("wrote", ", ".join(cases))
