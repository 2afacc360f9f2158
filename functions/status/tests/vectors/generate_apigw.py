#!/usr/bin/env python3
"""Write API Gateway HTTP API (payload 2.0) events of Twilio's call status callback,
signed by Twilio's official helper library, so the handler is tested on what Lambda
really gets (the approach of functions/voice/tests/vectors/generate_apigw.py).

    /tmp/twvenv/bin/python functions/status/tests/vectors/generate_apigw.py

Writes functions/status/tests/fixtures/status-*.json.
"""

import base64
import json
from pathlib import Path
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

OUT = Path(__file__).resolve().parents[1] / "fixtures"
TOKEN = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
ACCOUNT = "AC11111111111111111111111111111111"
ROUTE = "/twilio/status"


def form(status, timestamp, sequence, extra):
    # What Twilio sends on a status callback: the voice webhook's parameters, then the
    # callback's own (twilio-webhooks.md section 3).
    return [
        ("AccountSid", ACCOUNT),
        ("ApiVersion", "2010-04-01"),
        ("CallSid", "CA22222222222222222222222222222222"),
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
    # The call ended: the execute-api host with a named stage.
    "status-completed-stage": event(
        "completed, named stage",
        form(
            "completed",
            "Fri, 20 Nov 2026 21:41:05 +0000",
            3,
            [("CallDuration", "61"), ("Duration", "2"), ("SipResponseCode", "200")],
        ),
        "abc123defg.execute-api.us-east-1.amazonaws.com",
        "prod",
        f"/prod{ROUTE}",
        "https://abc123defg.execute-api.us-east-1.amazonaws.com/prod",
    ),
    # The call was answered: a custom domain on the $default stage.
    "status-in-progress-custom-domain": event(
        "in-progress, custom domain",
        form("in-progress", "Fri, 20 Nov 2026 21:40:04 +0000", 2, [("StirStatus", "A")]),
        "api.example.com",
        "$default",
        ROUTE,
        "https://api.example.com",
    ),
}
for name, ev in cases.items():
    (OUT / f"{name}.json").write_text(json.dumps(ev, indent=2) + "\n")
print("wrote", ", ".join(cases))
