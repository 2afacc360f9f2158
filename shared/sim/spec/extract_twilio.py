#!/usr/bin/env python3
"""Extracts from Twilio's OpenAPI description (twilio_api_v2010.json, from
github.com/twilio/twilio-oai) the operations hotline's Twilio client and simulator use,
with every component they reference, into twilio_api_v2010.subset.json beside this
script. The request-shape checks read the subset, so a fresh clone needs nothing else.

    python3 shared/sim/spec/extract_twilio.py path/to/twilio_api_v2010.json
"""
import json
import re
import sys
from pathlib import Path

USED = re.compile(
    r"^/2010-04-01/Accounts(\.json|/\{Sid\}\.json|/\{AccountSid\}/("
    r"Calls\.json|Calls/\{Sid\}\.json|Calls/\{CallSid\}/Recordings\.json|"
    r"Recordings/\{Sid\}(\.json|\.mp3|\.wav)?|"
    r"Messages\.json|Messages/\{Sid\}\.json|"
    r"Conferences\.json|Conferences/\{Sid\}\.json|"
    r"Conferences/\{ConferenceSid\}/Participants\.json|"
    r"Conferences/\{ConferenceSid\}/Participants/\{CallSid\}\.json|"
    r"IncomingPhoneNumbers\.json|IncomingPhoneNumbers/\{Sid\}\.json|"
    r"AvailablePhoneNumbers/\{CountryCode\}/Local\.json"
    r"))$"
)


def refs(node, found):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str) and v.startswith("#/components/"):
                found.add(v)
            else:
                refs(v, found)
    elif isinstance(node, list):
        for v in node:
            refs(v, found)


def main(source):
    spec = json.loads(Path(source).read_text())
    paths = {p: op for p, op in spec["paths"].items() if USED.match(p)}
    components = {}
    pending = set()
    refs(paths, pending)
    seen = set()
    while pending:
        ref = pending.pop()
        if ref in seen:
            continue
        seen.add(ref)
        _, _, kind, name = ref.split("/", 3)
        value = spec["components"][kind][name]
        components.setdefault(kind, {})[name] = value
        refs(value, pending)
    subset = {
        "openapi": spec["openapi"],
        "info": spec["info"],
        "servers": spec.get("servers", []),
        "paths": dict(sorted(paths.items())),
        "components": {k: dict(sorted(v.items())) for k, v in sorted(components.items())},
    }
    out = Path(__file__).with_name("twilio_api_v2010.subset.json")
    out.write_text(json.dumps(subset, indent=1, sort_keys=False) + "\n")
    print(f"{out}: {len(paths)} paths, {sum(len(v) for v in components.values())} components")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/protocols/twilio_api_v2010.json")
