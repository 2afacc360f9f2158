#!/usr/bin/env python3
"""Write API Gateway HTTP API (payload 2.0) events for the voice webhook, signed by
Twilio's official helper library, so the handler is tested on what Lambda really gets.

    /tmp/twvenv/bin/python functions/voice/tests/vectors/generate_apigw.py

Writes tests/fixtures/apigw/voice-*.json at the repository root.
"""

import base64
import json
from pathlib import Path
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parents[4]
OUT = ROOT / "tests" / "fixtures" / "apigw"
TOKEN = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
ACCOUNT = "AC11111111111111111111111111111111"

FORM = [
    ("AccountSid", ACCOUNT),
    ("ApiVersion", "2010-04-01"),
    ("CallSid", "CA22222222222222222222222222222222"),
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


def event(name, host, stage, raw_path, query, public_base):
    body = urlencode(FORM)
    url = f"{public_base}/twilio/voice" + (f"?{query}" if query else "")
    signature = RequestValidator(TOKEN).compute_signature(url, dict(FORM))
    request_path = raw_path
    return {
        "version": "2.0",
        "routeKey": "POST /twilio/voice",
        "rawPath": raw_path,
        "rawQueryString": query,
        "headers": {
            "accept": "*/*",
            "cache-control": "max-age=259200",
            "content-length": str(len(body)),
            "content-type": "application/x-www-form-urlencoded",
            "host": host,
            "i-twilio-idempotency-token": "8a1e2f8e-5c1b-4d5c-9a0b-2e7d6c3b4a59",
            "user-agent": "TwilioProxy/1.1",
            "x-amzn-trace-id": "Root=1-6740f5d2-1c2d3e4f5a6b7c8d9e0f1a2b",
            "x-forwarded-for": "54.172.60.1",
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
                "path": request_path,
                "protocol": "HTTP/1.1",
                "sourceIp": "54.172.60.1",
                "userAgent": "TwilioProxy/1.1",
            },
            "requestId": "Qx1yZhQ2IAMEbXw=",
            "routeKey": "POST /twilio/voice",
            "stage": stage,
            "time": "20/Nov/2026:21:40:00 +0000",
            "timeEpoch": 1795210800000,
        },
        "body": base64.b64encode(body.encode()).decode(),
        "isBase64Encoded": True,
        "_comment": f"{name}: signed over {url} with token {TOKEN} by twilio-python",
    }


OUT.mkdir(parents=True, exist_ok=True)
cases = {
    # A custom domain on the $default stage: the public URL is the domain itself.
    "voice-custom-domain": event(
        "custom domain", "api.example.com", "$default", "/twilio/voice", "",
        "https://api.example.com",
    ),
    # The execute-api host with a named stage: Twilio calls .../prod/twilio/voice.
    "voice-stage": event(
        "named stage", "abc123defg.execute-api.us-east-1.amazonaws.com", "prod",
        "/prod/twilio/voice", "tenant=t%201&x=%2B1",
        "https://abc123defg.execute-api.us-east-1.amazonaws.com/prod",
    ),
}
for name, ev in cases.items():
    (OUT / f"{name}.json").write_text(json.dumps(ev, indent=2) + "\n")
print("wrote", ", ".join(cases))
