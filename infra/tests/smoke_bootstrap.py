#!/usr/bin/env python3
"""Starts each built Lambda (target/lambda/<binary>/bootstrap.zip, from infra/build.sh) the way
the Lambda service does - bootstrap from the unpacked zip, the function's environment from
the template, the Runtime API on AWS_LAMBDA_RUNTIME_API - and sends every route it serves an
unsigned API Gateway v2 request. A deployable function answers it with a 4xx (Twilio's
signature is missing) instead of failing to start or to answer.

    python3 infra/tests/smoke_bootstrap.py

Only for zips built for this machine's architecture; AWS is never called (the store's
endpoint is a closed local port and the request is refused before any lookup).
"""

from __future__ import annotations

import json
import platform
import stat
import subprocess
import sys
import tempfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(Path(__file__).resolve().parent))
import consistency  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
HOST_ARCH = {"x86_64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}[platform.machine()]


def runtime_api(event: dict) -> tuple[ThreadingHTTPServer, dict]:
    """A Runtime API that hands out one event and keeps the function's response."""
    got: dict = {}
    done = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            if self.path.endswith("/invocation/next") and "served" not in got:
                got["served"] = True
                body = json.dumps(event).encode()
                self.send_response(200)
                self.send_header("Lambda-Runtime-Aws-Request-Id", "smoke-1")
                self.send_header("Lambda-Runtime-Deadline-Ms", "9999999999999")
                self.send_header(
                    "Lambda-Runtime-Invoked-Function-Arn",
                    "arn:aws:lambda:us-east-1:123456789012:function:smoke",
                )
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            else:
                done.wait(30)  # the runtime long-polls; hold it until we stop
                self.send_response(204)
                self.end_headers()

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length", 0))
            got[self.path.rsplit("/", 1)[-1]] = json.loads(self.rfile.read(length) or b"null")
            self.send_response(202)
            self.end_headers()
            done.set()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    got["_done"] = done
    return server, got


def event_for(route: str) -> dict:
    method, path = route.split(" ", 1)
    return {
        "version": "2.0",
        "routeKey": route,
        "rawPath": path,
        "rawQueryString": "",
        "headers": {
            "content-type": "application/x-www-form-urlencoded",
            "host": "smoke.example.com",
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "smoke",
            "domainName": "smoke.example.com",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "smoke",
            },
            "requestId": "smoke",
            "routeKey": route,
            "stage": "$default",
            "time": "20/Nov/2026:21:40:00 +0000",
            "timeEpoch": 1795210800000,
        },
        "body": "CallSid=CA00000000000000000000000000000000",
        "isBase64Encoded": False,
    }


def placeholder(name: str, value: object) -> str:
    if isinstance(value, str):
        return value
    text = consistency.text_of(value) or ""
    if text.startswith(("https://", "wss://")):
        return text.split("://")[0] + "://smoke.example.com"
    return f"smoke-{name.lower()}"


def main() -> int:
    checker = consistency.Checker(ROOT, ROOT / "infra" / "template.yaml")
    matched = checker.check_functions()
    routes = checker.template_routes()
    arch_file = ROOT / "target" / "lambda" / "ARCHITECTURE"
    arch = arch_file.read_text().strip() if arch_file.exists() else "?"
    if arch != HOST_ARCH:
        print(f"smoke: the zips are {arch}, this machine {HOST_ARCH}: nothing to run")
        return 0
    failed = False
    for binary, (lid, crate) in sorted(matched.items()):
        zip_path = ROOT / "target" / "lambda" / binary / "bootstrap.zip"
        env_vars = ((checker.props(lid).get("Environment") or {}).get("Variables")) or {}
        for route in sorted(k for k, (fn, _) in routes.items() if fn == lid):
            with tempfile.TemporaryDirectory() as task:
                zipfile.ZipFile(zip_path).extractall(task)
                bootstrap = Path(task) / "bootstrap"
                bootstrap.chmod(bootstrap.stat().st_mode | stat.S_IXUSR)
                server, got = runtime_api(event_for(route))
                env = {
                    "PATH": "/usr/bin:/bin",
                    "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_address[1]}",
                    "AWS_LAMBDA_FUNCTION_NAME": lid,
                    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
                    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                    "AWS_LAMBDA_LOG_STREAM_NAME": "smoke",
                    "AWS_LAMBDA_LOG_GROUP_NAME": "smoke",
                    "AWS_REGION": "us-east-1",
                    "AWS_ACCESS_KEY_ID": "smoke",
                    "AWS_SECRET_ACCESS_KEY": "smoke",
                    "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
                    "LAMBDA_TASK_ROOT": task,
                    **{k: placeholder(k, v) for k, v in env_vars.items()},
                }
                proc = subprocess.Popen(
                    [str(bootstrap)],
                    env=env,
                    cwd=task,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                )
                got["_done"].wait(30)
                proc.terminate()
                out = proc.communicate(timeout=10)[0].decode(errors="replace")
                server.shutdown()
                resp = got.get("response")
                status = resp.get("statusCode") if isinstance(resp, dict) else None
                ok = isinstance(status, int) and 400 <= status < 500
                failed |= not ok
                body = (resp or {}).get("body", "") if isinstance(resp, dict) else got.get("error")
                print(
                    f"smoke: {binary} ({crate.name}) {route} unsigned -> {status} {str(body).strip()!r}"
                    + ("" if ok else f"\n{out}")
                )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
