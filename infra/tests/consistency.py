#!/usr/bin/env python3
"""Keeps infra/template.yaml in lockstep with the code. Offline, no AWS.

    python3 infra/tests/consistency.py [--root DIR] [--template FILE]

What the code declares or does, and what the template must then say:

* every crate under functions/ declares what invokes it in its Cargo.toml
  `[package.metadata.hotline]`: `routes = ["POST /twilio/voice", ...]` (HTTP API) and/or
  `sqs = "postcall"` (the `PostcallQueue` resource) and/or `schedule = "rate(1 minute)"`
  (a Schedule event with that expression, and no function has a Schedule event its crate
  does not declare), and has exactly one binary. The
  template has exactly one function per crate (found by its CodeUri,
  `../target/lambda/<binary>/bootstrap.zip`, which is where infra/build.sh puts it), routes
  exactly the declared routes to it and nothing else anywhere, lets API Gateway invoke it,
  and outputs each route's URL. A declared route's path must appear in the crate's source;
  `hotline up` (infra/local) must serve the same routes.
* an `sqs` worker has an SQS event with ReportBatchItemFailures, and the queue's
  visibility timeout is at least six times the function's timeout (AWS guidance); the
  queue dead-letters after as many receives as the local queue does.
* environment: each function and each container (named after a workspace binary) is
  given exactly the variables its code reads - found by scanning the crate's source and
  the `from_env` it calls in its workspace dependencies - except those listed in OPTIONAL
  below, and never one nobody reads. Secret-looking variables only come from the task's
  `Secrets`, never from plain environment values or a Lambda's environment.
* the stream node: its listen port is the container and target group port, health check
  and listener paths are paths its code serves, HOTLINE_STREAM_PUBLIC_URL is the same
  everywhere.
* a deploy never cuts a call (the drain rule): ECS sends SIGTERM only once a stopping
  task's target has drained, so the target group's deregistration delay is at least the
  longest call an agent may have plus its wind-down (`CallLimits::MAX_DURATION_SECS` +
  `WIND_DOWN_SECS`, shared/core) and at most AWS's 3600 s; after SIGTERM the node drains
  HOTLINE_DRAIN_SECS and gives calls FINISH_GRACE (stream-node/src/server.rs) to close,
  which with EXIT_MARGIN fits in the container's StopTimeout, itself at most Fargate's
  120 s; the service does not rebalance zones (that stops busy tasks); and
  HOTLINE_MAX_CALLS is never more than the task's vCPUs times CALLS_PER_VCPU
  (stream-node/src/config.rs, from the load benchmark), for every CPU size allowed.
* IAM: one role per function or task; no wildcard actions or resources; DynamoDB, S3 and
  SQS actions are operations the store's AWS adapter performs (or that an SQS event
  source needs), on the table, bucket and queues only.
* the DynamoDB table's keys and indexes are those shared/store/src/aws/dynamo.rs creates.

Exit status 1 with one line per problem; 0 with a summary when all agree.
"""

from __future__ import annotations

import argparse
import fnmatch
import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# Variables the code reads that a deployment may leave unset, and why. Anything the code
# reads that is not listed here must be set by the template: a new variable fails this
# test until someone decides.
OPTIONAL = {
    "HOTLINE_DATA_DIR": "the local store's directory; AWS runs HOTLINE_STORE=aws",
    "HOTLINE_START_TIMEOUT_MS": "the default (5000 ms) suits Twilio",
    "OPENAI_BASE_URL": "defaults to https://api.openai.com/v1",
    "TWILIO_API_BASE_URL": "defaults to https://api.twilio.com",
    "HOTLINE_API_ORIGIN": "defaults to the origin of HOTLINE_PUBLIC_URL, where the API and its pages are served",
    "GEMINI_BASE_URL": "defaults to https://generativelanguage.googleapis.com",
    "DEEPGRAM_BASE_URL": "defaults to https://api.deepgram.com",
    "ELEVENLABS_BASE_URL": "defaults to https://api.elevenlabs.io",
    "OPENAI_API_KEY": "local runs only; the post-call Lambda reads the key from SSM "
    "(HOTLINE_OPENAI_SSM_PARAMETER), a Lambda's environment being readable",
    "HOTLINE_RECORDING_RETRY_SECS": "the default waits (1, 2, 4, 8 s) fit Twilio's processing delay",
    "HOTLINE_WEBHOOK_RETRY_SECS": "the default waits (1, 4, 16 s) fit the function's timeout",
    "HOTLINE_CALL_SETTLE_SECS": "the default (10 s) covers the stream node's final writes",
    "HOTLINE_WEBHOOK_ALLOW_PRIVATE": "local runs only; deployed webhooks must be https to public hosts",
    "HOTLINE_NODE_PUBLIC_URL": "unset behind the load balancer: a Fargate task has no public wss URL "
    "of its own there, so it does not register and every call goes to the ALB's URL",
    "HOTLINE_NODE_HEARTBEAT_SECS": "the default (5 s) suits the 15 s staleness the voice webhook allows",
    "HOTLINE_PREWARM": "on by default; it applies only to nodes with their own URL, which the "
    "template's nodes (behind the load balancer) do not have",
    "HOTLINE_PREWARM_UNUSED_SECS": "the default (15 s) outlasts a greeting and the stream's setup",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "OTEL_EXPORTER_OTLP_ENDPOINT (the collector sidecar) covers both signals",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "OTEL_EXPORTER_OTLP_ENDPOINT (the collector sidecar) covers both signals",
    "OTEL_TRACES_EXPORTER": "an operator's switch; both signals go to the sidecar when it runs",
    "OTEL_METRICS_EXPORTER": "an operator's switch; both signals go to the sidecar when it runs",
    "OTEL_SDK_DISABLED": "an operator's switch; OtelCollectorImage empty already exports nothing",
    "OTEL_SERVICE_NAME": "defaults to hotline-stream-node",
    "OTEL_RESOURCE_ATTRIBUTES": "the collector's resource detection adds the task's",
    "TWILIO_AUTH_TOKEN": "local runs only; the API Lambda reads the main account's token from SSM "
    "(HOTLINE_TWILIO_SSM_PARAMETER), a Lambda's environment being readable",
}

# Values the deployment must give, whatever else the code allows.
REQUIRED_VALUES = {"HOTLINE_STORE": "aws"}

SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD)")
# Names that look secret and are not, and why.
NOT_SECRET = {"HOTLINE_KMS_KEY_ID": "names the KMS key (an ARN); the key never leaves KMS"}
ENV_LITERAL = re.compile(r'"([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)"')
FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")
CODE_URI = re.compile(r"^\.\./target/lambda/([A-Za-z0-9_-]+)/bootstrap\.zip$")
# API Gateway's greedy path parameter, allowed as a route's last segment only.
GREEDY = re.compile(r"/\{[A-Za-z0-9_]+\+\}$")
ROUTE_KEY = re.compile(r"^(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS|ANY) (/[A-Za-z0-9_./{}+-]*)$")
# Actions the Lambda service itself performs with a function's role for an SQS event source.
SQS_EVENT_SOURCE_ACTIONS = {
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:ChangeMessageVisibility",
}
DATA_SERVICES = {
    "dynamodb": "AWS::DynamoDB::Table",
    "s3": "AWS::S3::Bucket",
    "sqs": "AWS::SQS::Queue",
}
# Managed policies a role may carry (AWS's own, scoped by AWS); anything else is inline.
ALLOWED_MANAGED_POLICIES = {"service-role/AmazonECSTaskExecutionRolePolicy"}
# AWS's ceilings: an ALB target group's deregistration delay, a Fargate container's
# stopTimeout.
MAX_DEREGISTRATION_DELAY = 3600
MAX_FARGATE_STOP_TIMEOUT = 120
# Between the calls' last writes and SIGKILL: the process exits, its logs flush.
EXIT_MARGIN = 15
AGENT_RS = Path("shared/core/src/model/agent.rs")


# ------------------------------------------------------------------ template loading


class _Loader(yaml.SafeLoader):
    pass


def _tag(loader: yaml.Loader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    if suffix == "Condition":
        return {"Condition": value}
    return {f"Fn::{suffix}": value}


_Loader.add_multi_constructor("!", _tag)


def load_template(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as f:
        doc = yaml.load(f, Loader=_Loader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(doc, dict) or not isinstance(doc.get("Resources"), dict):
        raise SystemExit(f"{path}: not a CloudFormation template with Resources")
    return doc


def text_of(value: Any) -> str | None:
    """A string, or the template string of a Fn::Sub."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Sub" in value:
        sub = value["Fn::Sub"]
        return sub if isinstance(sub, str) else sub[0]
    return None


def branches(items: Any) -> list[Any]:
    """A list's entries, each conditional entry (Fn::If) as both of its branches, less
    the AWS::NoValue ones: what any deployment of the template may hold."""
    out = []
    for item in items or []:
        if isinstance(item, dict) and "Fn::If" in item:
            _, yes, no = item["Fn::If"]
            out.extend(b for b in (yes, no) if b != {"Ref": "AWS::NoValue"})
        else:
            out.append(item)
    return out


def refs_in(value: Any) -> set[str]:
    """Logical ids a value refers to (Ref, GetAtt, ${X} and ${X.Attr} in Sub)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "Ref" and isinstance(v, str):
                found.add(v)
            elif k == "Fn::GetAtt":
                found.add(v[0] if isinstance(v, list) else str(v).split(".")[0])
            elif k == "Fn::Sub":
                s = v if isinstance(v, str) else v[0]
                found |= {m.split(".")[0] for m in re.findall(r"\$\{([^}!]+)\}", s)}
            else:
                found |= refs_in(v)
    elif isinstance(value, list):
        for v in value:
            found |= refs_in(v)
    return found


def target(value: Any) -> str | None:
    """The logical id of `!Ref X`, `!GetAtt X.Arn` or `!Sub ...${X}...`."""
    if isinstance(value, dict):
        if "Ref" in value:
            return value["Ref"]
        if "Fn::GetAtt" in value:
            v = value["Fn::GetAtt"]
            return v[0] if isinstance(v, list) else str(v).split(".")[0]
    refs = {r for r in refs_in(value) if not r.startswith("AWS::")}
    return refs.pop() if len(refs) == 1 else None


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# ------------------------------------------------------------------ the workspace


@dataclass
class Crate:
    name: str
    dir: Path
    bins: list[str]
    deps: list[str]
    metadata: dict[str, Any] = field(default_factory=dict)

    def sources(self) -> list[Path]:
        return sorted((self.dir / "src").rglob("*.rs"))


def workspace(root: Path) -> dict[str, Crate]:
    manifest = tomllib.loads((root / "Cargo.toml").read_text(encoding="utf-8"))
    ws = manifest.get("workspace", {})
    ws_paths = {
        name: spec["path"]
        for name, spec in ws.get("dependencies", {}).items()
        if isinstance(spec, dict) and "path" in spec
    }
    crates: dict[str, Crate] = {}
    members: list[Path] = []
    for pattern in ws.get("members", []):
        members += sorted(p for p in root.glob(pattern) if (p / "Cargo.toml").is_file())
    for extra in sorted(root.glob("functions/*/Cargo.toml")):
        if extra.parent not in members:
            members.append(extra.parent)
    for d in members:
        m = tomllib.loads((d / "Cargo.toml").read_text(encoding="utf-8"))
        pkg = m["package"]
        bins = [b["name"] for b in m.get("bin", [])]
        if not bins and (d / "src" / "main.rs").is_file():
            bins = [pkg["name"]]
        deps = []
        for name, spec in m.get("dependencies", {}).items():
            if isinstance(spec, dict) and spec.get("workspace") and name in ws_paths:
                deps.append(name)
            elif isinstance(spec, dict) and "path" in spec:
                deps.append(name)
        crates[pkg["name"]] = Crate(
            name=pkg["name"],
            dir=d,
            bins=bins,
            deps=deps,
            metadata=pkg.get("metadata", {}).get("hotline", {}),
        )
    return crates


def without_tests(src: str) -> str:
    """Source minus `#[cfg(test)] mod ... { ... }` blocks."""
    out, pos = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]\s*(?:pub\s+)?mod\s+\w+\s*\{", src):
        if m.start() < pos:
            continue
        out.append(src[pos : m.start()])
        depth, i = 1, m.end()
        while i < len(src) and depth:
            depth += {"{": 1, "}": -1}.get(src[i], 0)
            i += 1
        pos = i
    out.append(src[pos:])
    return "".join(out)


def read_src(path: Path) -> str:
    return without_tests(path.read_text(encoding="utf-8"))


def transitive_deps(crate: Crate, crates: dict[str, Crate]) -> list[Crate]:
    seen: dict[str, Crate] = {}
    todo = list(crate.deps)
    while todo:
        name = todo.pop()
        if name in seen or name not in crates:
            continue
        seen[name] = crates[name]
        todo += crates[name].deps
    return list(seen.values())


def env_reads(crate: Crate, crates: dict[str, Crate]) -> set[str]:
    """Variable names the crate's binary reads: literals in its own files that read the
    environment, and in the files of the `from_env` constructors it calls."""
    names: set[str] = set()
    own = {p: read_src(p) for p in crate.sources()}
    called: set[str] = set()
    for src in own.values():
        if "env::var" in src:
            names |= set(ENV_LITERAL.findall(src))
        called |= set(re.findall(r"\b([A-Z]\w*)::from_env\s*\(", src))
        if "from_default_env" in src:
            names.add("RUST_LOG")
    for dep in [crate, *transitive_deps(crate, crates)]:
        for p in dep.sources():
            src = read_src(p)
            for ty in called:
                if re.search(rf"\bimpl\s+{ty}\b", src) and "fn from_env" in src:
                    names |= set(ENV_LITERAL.findall(src))
    return names


# hotline's public paths are declared once, here, for every crate that serves one.
ROUTES_RS = Path("shared/core/src/routes.rs")


def literals(crate: Crate) -> set[str]:
    found: set[str] = set()
    sources = crate.sources()
    if "hotline-core" in crate.deps:
        routes = crate.dir
        while not (routes / ROUTES_RS).is_file() and routes != routes.parent:
            routes = routes.parent
        if (routes / ROUTES_RS).is_file():
            sources.append(routes / ROUTES_RS)
    for p in sources:
        # Escapes inside a literal ("…\\n") must not shift which quotes pair up.
        found |= set(re.findall(r'"((?:[^"\\]|\\.)*)"', read_src(p)))
    return found


# ------------------------------------------------------------------ the checks


class Checker:
    def __init__(self, root: Path, template_path: Path) -> None:
        self.root = root
        self.template_path = template_path
        self.t = load_template(template_path)
        self.res: dict[str, dict[str, Any]] = self.t["Resources"]
        self.crates = workspace(root)
        self.errors: list[str] = []
        self.notes: list[str] = []

    def error(self, msg: str) -> None:
        self.errors.append(msg)

    def of_type(self, *types: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.res.items() if v.get("Type") in types}

    def props(self, logical_id: str) -> dict[str, Any]:
        r = self.res[logical_id]
        p = dict(r.get("Properties") or {})
        if r.get("Type") == "AWS::Serverless::Function":
            g = dict((self.t.get("Globals") or {}).get("Function") or {})
            genv = ((g.pop("Environment", None) or {}).get("Variables")) or {}
            fenv = ((p.get("Environment") or {}).get("Variables")) or {}
            merged = {**g, **p}
            if genv or fenv:
                merged["Environment"] = {"Variables": {**genv, **fenv}}
            return merged
        return p

    # -- functions ------------------------------------------------------------------

    def function_crates(self) -> dict[str, Crate]:
        fdir = (self.root / "functions").resolve()
        return {n: c for n, c in self.crates.items() if c.dir.parent.resolve() == fdir}

    def check_functions(self) -> dict[str, tuple[str, Crate]]:
        """Returns binary -> (logical id, crate) for every matched function."""
        by_bin: dict[str, Crate] = {}
        for c in self.function_crates().values():
            if len(c.bins) != 1:
                self.error(
                    f"{c.name}: a function crate builds exactly one binary (the Lambda's "
                    f"bootstrap), found {c.bins or 'none'}"
                )
                continue
            meta = c.metadata
            if not meta.get("routes") and not meta.get("sqs") and not meta.get("schedule"):
                self.error(
                    f"{c.name}: declare what invokes it in {c.dir.name}/Cargo.toml, e.g. "
                    '[package.metadata.hotline] routes = ["POST /twilio/x"], sqs = "postcall" '
                    'or schedule = "rate(5 minutes)"'
                )
            srcs = literals(c)
            for key in meta.get("routes", []):
                path = str(key).split(" ", 1)[-1]
                if path not in srcs:
                    self.error(
                        f"{c.name}: declares route {key} but its source never mentions {path!r}"
                    )
            by_bin[c.bins[0]] = c

        found: dict[str, list[str]] = {}
        for lid in self.of_type(*FUNCTION_TYPES):
            uri = self.props(lid).get("CodeUri")
            m = CODE_URI.match(uri) if isinstance(uri, str) else None
            if not m:
                self.error(
                    f"{lid}: CodeUri must be ../target/lambda/<binary>/bootstrap.zip "
                    f"(what infra/build.sh produces), not {uri!r}"
                )
                continue
            found.setdefault(m.group(1), []).append(lid)

        matched: dict[str, tuple[str, Crate]] = {}
        for b, c in sorted(by_bin.items()):
            lids = found.get(b, [])
            if not lids:
                self.error(
                    f"{c.name}: no function in the template has CodeUri "
                    f"../target/lambda/{b}/bootstrap.zip"
                )
            elif len(lids) > 1:
                self.error(f"{c.name}: {len(lids)} functions deploy binary {b}: {lids}")
            else:
                matched[b] = (lids[0], c)
        for b, lids in sorted(found.items()):
            if b not in by_bin:
                self.error(
                    f"{', '.join(lids)}: deploys binary {b!r}, which no crate under "
                    "functions/ builds"
                )
        for lid in self.of_type(*FUNCTION_TYPES):
            p = self.props(lid)
            if p.get("Architectures") != [{"Ref": "Architecture"}]:
                self.error(f"{lid}: Architectures must be [!Ref Architecture]")
            if p.get("Runtime") != "provided.al2023" or p.get("Handler") != "bootstrap":
                self.error(f"{lid}: Runtime provided.al2023 with Handler bootstrap expected")
        return matched

    # -- routes ---------------------------------------------------------------------

    def template_routes(self) -> dict[str, tuple[str, str]]:
        """route key -> (function logical id, api logical id)."""
        routes: dict[str, tuple[str, str]] = {}

        def add(key: str, fn: str | None, api: str | None, where: str) -> None:
            if not isinstance(key, str) or not ROUTE_KEY.match(key):
                self.error(f"{where}: route key {key!r} is not 'METHOD /path'")
                return
            if key in routes:
                self.error(f"{where}: route {key} is defined twice")
                return
            if fn is None or self.res.get(fn, {}).get("Type") not in FUNCTION_TYPES:
                self.error(f"{where}: route {key} invokes {fn!r}, which is no function here")
                return
            routes[key] = (fn, api or "")

        integrations = self.of_type("AWS::ApiGatewayV2::Integration")
        for lid, r in self.of_type("AWS::ApiGatewayV2::Route").items():
            p = r.get("Properties") or {}
            tgt = text_of(p.get("Target")) or ""
            m = re.fullmatch(r"integrations/\$\{(\w+)\}", tgt)
            integ = m.group(1) if m else None
            if integ not in integrations:
                self.error(f"{lid}: Target must be !Sub integrations/${{<Integration>}}")
                continue
            ip = integrations[integ].get("Properties") or {}
            if (
                ip.get("IntegrationType") != "AWS_PROXY"
                or str(ip.get("PayloadFormatVersion")) != "2.0"
            ):
                self.error(
                    f"{integ}: lambda_http (feature apigw_http) needs IntegrationType "
                    "AWS_PROXY and PayloadFormatVersion '2.0'"
                )
            add(p.get("RouteKey"), target(ip.get("IntegrationUri")), target(p.get("ApiId")), lid)
        for lid in self.of_type(*FUNCTION_TYPES):
            for ename, ev in ((self.props(lid).get("Events")) or {}).items():
                if ev.get("Type") == "HttpApi":
                    ep = ev.get("Properties") or {}
                    key = f"{str(ep.get('Method', '')).upper()} {ep.get('Path')}"
                    add(key, lid, target(ep.get("ApiId")), f"{lid}.Events.{ename}")
        return routes

    def check_routes(self, matched: dict[str, tuple[str, Crate]]) -> dict[str, tuple[str, str]]:
        routes = self.template_routes()
        lid_to_crate = {lid: c for lid, c in matched.values()}
        declared: dict[str, str] = {}
        for lid, c in lid_to_crate.items():
            for key in c.metadata.get("routes", []):
                if not ROUTE_KEY.match(key):
                    self.error(f"{c.name}: route {key!r} in Cargo.toml is not 'METHOD /path'")
                    continue
                if key in declared:
                    self.error(f"{c.name}: route {key} is also declared by {declared[key]}")
                declared[key] = c.name
                got = routes.get(key)
                if got is None:
                    self.error(f"{c.name}: serves {key}, which the template does not route")
                elif got[0] != lid:
                    self.error(f"route {key} goes to {got[0]}, but {c.name} ({lid}) serves it")
        for key, (fn, _) in sorted(routes.items()):
            if key not in declared:
                owner = lid_to_crate.get(fn)
                who = owner.name if owner else fn
                self.error(
                    f"the template routes {key} to {fn}, but {who} does not declare it "
                    "in [package.metadata.hotline] routes"
                )
        self.check_permissions(routes)
        self.check_outputs(routes)
        self.check_local_parity(routes)
        return routes

    def check_permissions(self, routes: dict[str, tuple[str, str]]) -> None:
        perms = [
            r.get("Properties") or {} for r in self.of_type("AWS::Lambda::Permission").values()
        ]
        for key, (fn, api) in routes.items():
            method, path = key.split(" ", 1)
            ok = False
            for p in perms:
                arn = text_of(p.get("SourceArn")) or ""
                if target(p.get("FunctionName")) != fn:
                    continue
                if p.get("Principal") != "apigateway.amazonaws.com":
                    continue
                head = f"${{{api}}}/"
                if head in arn and fnmatch.fnmatchcase(
                    f"$default/{method}{path}", arn.split(head, 1)[1]
                ):
                    ok = True
            if not ok:
                self.error(
                    f"route {key}: no AWS::Lambda::Permission lets {api or 'the API'} "
                    f"invoke {fn} for it (SourceArn .../${{{api}}}/*/{method}{path})"
                )

    def check_outputs(self, routes: dict[str, tuple[str, str]]) -> None:
        outs = [text_of(o.get("Value")) or "" for o in (self.t.get("Outputs") or {}).values()]
        for key, (_, api) in routes.items():
            path = key.split(" ", 1)[1]
            if GREEDY.search(path):
                # `/x/{proxy+}` stands for every path below /x: no one URL to give. The
                # route without it (`/x`) must be routed and output instead.
                base = GREEDY.sub("", path)
                if not any(k.split(" ", 1)[1] == base for k in routes):
                    self.error(f"route {key}: no route {base} beside it to give its URL")
                continue
            if not any(o.endswith(path) and f"${{{api}}}" in o for o in outs):
                self.error(f"route {key}: no output gives its URL to paste into Twilio")

    def check_local_parity(self, routes: dict[str, tuple[str, str]]) -> None:
        local = self.root / "infra" / "local" / "src"
        if not local.is_dir():
            return
        served = set()
        for p in local.rglob("*.rs"):
            for m, path in re.findall(r'\.route\(\s*"([A-Z]+)"\s*,\s*"(/[^"]*)"', read_src(p)):
                served.add(f"{m} {path}")
        for key in sorted(set(routes) - served):
            self.error(f"route {key} is deployed but `hotline up` (infra/local) does not serve it")
        for key in sorted(served - set(routes)):
            self.error(f"`hotline up` serves {key}, which the template does not route")

    # -- queues ---------------------------------------------------------------------

    def check_queues(self, matched: dict[str, tuple[str, Crate]]) -> None:
        queues = self.of_type("AWS::SQS::Queue")
        consumers: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        for lid in self.of_type(*FUNCTION_TYPES):
            for ev in ((self.props(lid).get("Events")) or {}).values():
                if ev.get("Type") == "SQS":
                    ep = ev.get("Properties") or {}
                    consumers.setdefault(lid, []).append((target(ep.get("Queue")) or "", ep))
        for r in self.of_type("AWS::Lambda::EventSourceMapping").values():
            p = r.get("Properties") or {}
            src = target(p.get("EventSourceArn")) or ""
            if src in queues:
                consumers.setdefault(target(p.get("FunctionName")) or "", []).append((src, p))

        local_max = self.local_max_receives()
        for qid, q in queues.items():
            rp = (q.get("Properties") or {}).get("RedrivePolicy")
            if rp is None:
                continue
            dlq = target(rp.get("deadLetterTargetArn"))
            if dlq not in queues:
                self.error(f"{qid}: RedrivePolicy must point at a queue of this template")
            if local_max is not None and rp.get("maxReceiveCount") != local_max:
                self.error(
                    f"{qid}: maxReceiveCount {rp.get('maxReceiveCount')} differs from the "
                    f"local queue's max_receives {local_max} (shared/store/src/config.rs)"
                )

        for lid, c in matched.values():
            want = c.metadata.get("sqs")
            got = consumers.pop(lid, [])
            if not want:
                for qid, _ in got:
                    self.error(f"{lid} consumes {qid}, but {c.name} declares no sqs queue")
                continue
            qid = "".join(w.capitalize() for w in re.split(r"[-_]", want)) + "Queue"
            if qid not in queues:
                self.error(f"{c.name}: sqs = {want!r} needs an AWS::SQS::Queue named {qid}")
                continue
            srcs = [p for q, p in got if q == qid]
            if len(srcs) != 1:
                self.error(f"{lid}: needs exactly one SQS event source on {qid}, found {len(srcs)}")
                continue
            if "ReportBatchItemFailures" not in (srcs[0].get("FunctionResponseTypes") or []):
                self.error(
                    f"{lid}: the {qid} event source needs FunctionResponseTypes [ReportBatchItemFailures]"
                )
            timeout = self.props(lid).get("Timeout", 3)
            vis = (queues[qid].get("Properties") or {}).get("VisibilityTimeout", 30)
            if not (isinstance(timeout, int) and isinstance(vis, int)) or vis < 6 * timeout:
                self.error(
                    f"{qid}: VisibilityTimeout {vis} must be at least 6 x {lid}'s Timeout {timeout}"
                )
            redrive = (queues[qid].get("Properties") or {}).get("RedrivePolicy")
            if not redrive:
                self.error(f"{qid}: consumed by {lid} but has no dead-letter queue")
            env = ((self.props(lid).get("Environment") or {}).get("Variables")) or {}
            told = env.get("HOTLINE_POSTCALL_MAX_RECEIVES")
            if redrive and told is not None and str(told) != str(redrive.get("maxReceiveCount")):
                self.error(
                    f"{lid}: HOTLINE_POSTCALL_MAX_RECEIVES {told} differs from {qid}'s "
                    f"maxReceiveCount {redrive.get('maxReceiveCount')}: the worker would mark "
                    "calls dead-lettered at the wrong receive"
                )
        for lid, got in consumers.items():
            for qid, _ in got:
                self.error(f"{lid} consumes {qid}, but no crate under functions/ is that function")

    # -- schedules ------------------------------------------------------------------

    def check_schedules(self, matched: dict[str, tuple[str, Crate]]) -> None:
        lid_to_crate = {lid: c for lid, c in matched.values()}
        for lid in self.of_type(*FUNCTION_TYPES):
            events = (self.props(lid).get("Events")) or {}
            got = [
                (ev.get("Properties") or {}).get("Schedule")
                for ev in events.values()
                if ev.get("Type") in ("Schedule", "ScheduleV2")
            ]
            c = lid_to_crate.get(lid)
            want = c.metadata.get("schedule") if c else None
            if want is None:
                if got:
                    who = c.name if c else lid
                    self.error(f"{lid} runs on a schedule, but {who} declares no schedule")
                continue
            if got != [want]:
                self.error(
                    f"{lid}: {c.name} declares schedule = {want!r}; the template needs exactly "
                    f"one Schedule event with that expression, found {got}"
                )

    def local_max_receives(self) -> int | None:
        p = self.root / "shared" / "store" / "src" / "config.rs"
        if not p.is_file():
            return None
        m = re.search(r"max_receives:\s*(\d+)", read_src(p))
        return int(m.group(1)) if m else None

    # -- environment ----------------------------------------------------------------

    def check_env(
        self, who: str, crate: Crate, env: dict[str, Any], secrets: set[str], task: bool
    ) -> None:
        reads = env_reads(crate, self.crates)
        given = set(env) | secrets
        for name in sorted(given - reads):
            self.error(f"{who}: sets {name}, which {crate.name} never reads")
        for name in sorted(reads - given - set(OPTIONAL)):
            self.error(
                f"{who}: {crate.name} reads {name} but the template does not set it "
                "(set it, or add it to OPTIONAL in infra/tests/consistency.py with the reason)"
            )
        for name, value in REQUIRED_VALUES.items():
            if name in reads and env.get(name) != value:
                self.error(f"{who}: {name} must be {value!r}")
        for name in sorted(env):
            if SECRET_NAME.search(name) and name not in NOT_SECRET:
                how = (
                    "pass it through the task's Secrets (ValueFrom SSM or Secrets Manager)"
                    if task
                    else "a Lambda's environment is readable by anyone who can read the "
                    "function: read it from SSM or Secrets Manager at run time"
                )
                self.error(f"{who}: {name} looks secret and is a plain value; {how}")

    def check_function_env(self, matched: dict[str, tuple[str, Crate]]) -> None:
        for lid, c in matched.values():
            env = ((self.props(lid).get("Environment") or {}).get("Variables")) or {}
            self.check_env(lid, c, env, set(), task=False)

    def containers(self) -> list[tuple[str, dict[str, Any]]]:
        out = []
        for lid, r in self.of_type("AWS::ECS::TaskDefinition").items():
            props = r.get("Properties") or {}
            for cd in branches(props.get("ContainerDefinitions")):
                # A sidecar from someone else's image (the OpenTelemetry collector)
                # runs no workspace binary.
                if cd.get("Image") != {"Ref": "StreamImageUri"}:
                    continue
                out.append((lid, cd))
        return out

    def check_containers(self, fn_env: list[dict[str, Any]]) -> None:
        bins = {b: c for c in self.crates.values() for b in c.bins}
        tgs = self.of_type("AWS::ElasticLoadBalancingV2::TargetGroup")
        services = self.of_type("AWS::ECS::Service")
        rules = self.of_type("AWS::ElasticLoadBalancingV2::ListenerRule")
        dockerfile = self.root / "infra" / "Dockerfile"
        for lid, cd in self.containers():
            name = cd.get("Name")
            who = f"{lid}/{name}"
            crate = bins.get(name)
            if crate is None:
                self.error(f"{who}: containers are named after the workspace binary they run")
                continue
            if dockerfile.is_file() and f"--bin {name}" not in dockerfile.read_text(
                encoding="utf-8"
            ):
                self.error(f"{who}: infra/Dockerfile does not build --bin {name}")
            env = {e["Name"]: e.get("Value") for e in branches(cd.get("Environment"))}
            secrets = set()
            for s in cd.get("Secrets", []):
                secrets.add(s["Name"])
                if "ValueFrom" not in s:
                    self.error(
                        f"{who}: secret {s['Name']} needs ValueFrom (SSM or Secrets Manager)"
                    )
            self.check_env(who, crate, env, secrets, task=True)
            srcs = literals(crate)

            ports = {pm.get("ContainerPort") for pm in cd.get("PortMappings", [])}
            for var, value in env.items():
                m = re.fullmatch(r"0\.0\.0\.0:(\d+)", str(value))
                if m and int(m.group(1)) not in ports:
                    self.error(
                        f"{who}: {var} listens on {m.group(1)}, not a mapped ContainerPort {sorted(ports)}"
                    )

            for sid, s in services.items():
                sp = s.get("Properties") or {}
                if target(sp.get("TaskDefinition")) != lid:
                    continue
                for lb in sp.get("LoadBalancers", []):
                    tg = target(lb.get("TargetGroupArn"))
                    if lb.get("ContainerName") != name or lb.get("ContainerPort") not in ports:
                        self.error(f"{sid}: load balancer must reach {name} on a mapped port")
                    if tg not in tgs:
                        continue
                    tp = tgs[tg].get("Properties") or {}
                    if tp.get("Port") not in ports:
                        self.error(
                            f"{tg}: Port {tp.get('Port')} is not {name}'s port {sorted(ports)}"
                        )
                    hc = tp.get("HealthCheckPath")
                    if hc not in srcs:
                        self.error(f"{tg}: HealthCheckPath {hc!r} is no path {crate.name} serves")
                    for rid, r in rules.items():
                        rp = r.get("Properties") or {}
                        if not any(
                            target(a.get("TargetGroupArn")) == tg for a in rp.get("Actions", [])
                        ):
                            continue
                        for cond in rp.get("Conditions", []):
                            for path in (cond.get("PathPatternConfig") or {}).get("Values", []):
                                if path not in srcs:
                                    self.error(
                                        f"{rid}: forwards {path!r}, which {crate.name} does not serve"
                                    )
            for fenv in fn_env:
                for var in ("HOTLINE_STREAM_PUBLIC_URL",):
                    if var in fenv and var in env and fenv[var] != env[var]:
                        self.error(f"{var} differs between the functions and {who}")
            if "HOTLINE_STREAM_PUBLIC_URL" in env:
                base = text_of(env["HOTLINE_STREAM_PUBLIC_URL"]) or ""
                outs = [
                    text_of(o.get("Value")) or "" for o in (self.t.get("Outputs") or {}).values()
                ]
                paths = [p for p in srcs if p.startswith("/")]
                if not any(o.startswith(base) and o[len(base) :] in paths for o in outs):
                    self.error(f"{who}: no output gives the stream URL ({base}/<path>)")

    # -- the drain rule ---------------------------------------------------------------

    def const(self, path: Path, name: str) -> int | None:
        """An integer `const` of a Rust source file (`Duration::from_secs(n)` too)."""
        pattern = rf"const {name}: [\w:]+ = (?:Duration::from_secs\()?([0-9_]+)"
        m = re.search(pattern, read_src(path)) if path.is_file() else None
        if m is None:
            self.error(f"cannot find `const {name}` in {path.relative_to(self.root)}")
            return None
        return int(m.group(1).replace("_", ""))

    def values(self, value: Any, who: str) -> list[int] | None:
        """Every integer `value` may take: a literal, or a parameter's allowed values or
        its bounds. None (with an error) when it cannot be bounded."""
        if isinstance(value, dict) and set(value) == {"Ref"}:
            param = (self.t.get("Parameters") or {}).get(value["Ref"])
            if param is None:
                self.error(f"{who}: {value['Ref']} is no parameter")
                return None
            if "AllowedValues" in param:
                return [int(v) for v in param["AllowedValues"]]
            if "MinValue" in param and "MaxValue" in param:
                return [int(param["MinValue"]), int(param["MaxValue"])]
            self.error(f"{who}: parameter {value['Ref']} needs MinValue and MaxValue")
            return None
        try:
            return [int(value)]
        except (TypeError, ValueError):
            self.error(f"{who}: {value!r} is not a number this check can bound")
            return None

    def evaluate(self, value: Any, params: dict[str, Any]) -> Any:
        """`value` with `params` for the template's parameters: Ref, Fn::If (Equals,
        Not, And, Or), Fn::FindInMap."""
        if not isinstance(value, dict):
            return value
        if "Ref" in value:
            return params.get(value["Ref"])
        if "Fn::If" in value:
            cond, yes, no = value["Fn::If"]
            return self.evaluate(yes if self.condition(cond, params) else no, params)
        if "Fn::FindInMap" in value:
            m, k1, k2 = (self.evaluate(k, params) for k in value["Fn::FindInMap"])
            return ((self.t.get("Mappings") or {}).get(m) or {}).get(str(k1), {}).get(str(k2))
        return None

    def condition(self, c: Any, params: dict[str, Any]) -> bool:
        if isinstance(c, str):
            return self.condition((self.t.get("Conditions") or {}).get(c), params)
        if isinstance(c, dict):
            if "Condition" in c:
                return self.condition(c["Condition"], params)
            if "Fn::Equals" in c:
                a, b = (self.evaluate(v, params) for v in c["Fn::Equals"])
                return str(a) == str(b)
            if "Fn::Not" in c:
                return not self.condition(c["Fn::Not"][0], params)
            if "Fn::And" in c:
                return all(self.condition(x, params) for x in c["Fn::And"])
            if "Fn::Or" in c:
                return any(self.condition(x, params) for x in c["Fn::Or"])
        return False

    def check_drain(self) -> None:
        bins = {b: c for c in self.crates.values() for b in c.bins}
        tgs = self.of_type("AWS::ElasticLoadBalancingV2::TargetGroup")
        defaults = {
            k: p.get("Default") for k, p in (self.t.get("Parameters") or {}).items()
        }
        for sid, svc in self.of_type("AWS::ECS::Service").items():
            sp = svc.get("Properties") or {}
            lid = target(sp.get("TaskDefinition"))
            if lid not in self.res or not sp.get("LoadBalancers"):
                continue
            if sp.get("AvailabilityZoneRebalancing") != "DISABLED":
                self.error(
                    f"{sid}: AvailabilityZoneRebalancing must be DISABLED (ECS creates "
                    "services with it ENABLED, and rebalancing stops tasks with live calls)"
                )
            node = None
            for cd in (self.res[lid].get("Properties") or {}).get("ContainerDefinitions", []):
                crate = bins.get(cd.get("Name"))
                if crate is not None and any(
                    lb.get("ContainerName") == cd.get("Name") for lb in sp["LoadBalancers"]
                ):
                    node = (cd, crate)
            if node is None:
                continue
            cd, crate = node
            who = f"{lid}/{cd.get('Name')}"
            src = crate.dir / "src"
            longest = self.const(self.root / AGENT_RS, "MAX_DURATION_SECS")
            wind_down = self.const(self.root / AGENT_RS, "WIND_DOWN_SECS")
            for lb in sp["LoadBalancers"]:
                tg = target(lb.get("TargetGroupArn"))
                if tg not in tgs:
                    continue
                attrs = {
                    a["Key"]: a["Value"]
                    for a in (tgs[tg].get("Properties") or {}).get("TargetGroupAttributes", [])
                }
                delays = self.values(
                    attrs.get("deregistration_delay.timeout_seconds", 300), tg
                )
                if delays is None or longest is None or wind_down is None:
                    continue
                need = longest + wind_down
                if min(delays) < need:
                    self.error(
                        f"{tg}: deregistration delay {min(delays)} s is shorter than the longest "
                        f"call an agent may have plus its wind-down ({longest} + {wind_down} = "
                        f"{need} s): a deploy or scale-in would cut calls"
                    )
                if max(delays) > MAX_DEREGISTRATION_DELAY:
                    self.error(
                        f"{tg}: deregistration delay {max(delays)} s is over AWS's "
                        f"{MAX_DEREGISTRATION_DELAY} s"
                    )
            env = {e["Name"]: e.get("Value") for e in branches(cd.get("Environment"))}
            drain = (
                self.values(env["HOTLINE_DRAIN_SECS"], f"{who}: HOTLINE_DRAIN_SECS")
                if "HOTLINE_DRAIN_SECS" in env
                else [d]
                if (d := self.const(src / "config.rs", "DEFAULT_DRAIN_SECS")) is not None
                else None
            )
            grace = self.const(src / "server.rs", "FINISH_GRACE")
            stops = self.values(cd.get("StopTimeout", 30), f"{who}: StopTimeout")
            if drain is not None and grace is not None and stops is not None:
                if max(stops) > MAX_FARGATE_STOP_TIMEOUT:
                    self.error(
                        f"{who}: StopTimeout {max(stops)} s is over Fargate's "
                        f"{MAX_FARGATE_STOP_TIMEOUT} s"
                    )
                if max(drain) + grace + EXIT_MARGIN > min(stops):
                    self.error(
                        f"{who}: HOTLINE_DRAIN_SECS {max(drain)} s + FINISH_GRACE {grace} s + "
                        f"{EXIT_MARGIN} s to exit does not fit in StopTimeout {min(stops)} s: "
                        "SIGKILL would cut the calls before their apology and outcome"
                    )
            per_vcpu = self.const(src / "config.rs", "CALLS_PER_VCPU")
            cpus = self.values(
                (self.res[lid].get("Properties") or {}).get("Cpu"), f"{lid}: Cpu"
            )
            if per_vcpu is None or cpus is None or "HOTLINE_MAX_CALLS" not in env:
                continue
            cpu_ref = (self.res[lid].get("Properties") or {}).get("Cpu")
            for cpu in cpus:
                params = dict(defaults)
                if isinstance(cpu_ref, dict) and "Ref" in cpu_ref:
                    params[cpu_ref["Ref"]] = str(cpu)
                value = self.evaluate(env["HOTLINE_MAX_CALLS"], params)
                carry = cpu * per_vcpu // 1024
                try:
                    calls = int(value)
                except (TypeError, ValueError):
                    self.error(f"{who}: HOTLINE_MAX_CALLS is {value!r} at Cpu {cpu}")
                    continue
                if not 0 < calls <= carry:
                    self.error(
                        f"{who}: HOTLINE_MAX_CALLS is {calls} at Cpu {cpu}, but {cpu} CPU units "
                        f"carry {carry} calls ({per_vcpu} per vCPU, CALLS_PER_VCPU)"
                    )

    # -- IAM ------------------------------------------------------------------------

    def sdk_operations(self) -> dict[str, set[str]]:
        """service -> operations (snake_case) the store's AWS adapters call."""
        ops: dict[str, set[str]] = {}
        for p in sorted((self.root / "shared" / "store" / "src" / "aws").glob("*.rs")):
            src = read_src(p)
            services = set(re.findall(r"aws_sdk_(\w+)::", src))
            calls = set(re.findall(r"client\s*\.\s*([a-z_]+)\(\)", src))
            for s in services:
                ops.setdefault(s, set()).update(calls)
        return ops

    def check_iam(self, matched: dict[str, tuple[str, Crate]]) -> None:
        roles = self.of_type("AWS::IAM::Role")
        users: dict[str, list[str]] = {}
        sqs_consumers: set[str] = set()
        for lid in self.of_type(*FUNCTION_TYPES):
            p = self.props(lid)
            role = target(p.get("Role"))
            if role not in roles:
                self.error(f"{lid}: give it its own AWS::IAM::Role (Role: !GetAtt XRole.Arn)")
            else:
                users.setdefault(role, []).append(lid)
            if any(ev.get("Type") == "SQS" for ev in (p.get("Events") or {}).values()):
                sqs_consumers.add(role or "")
            log_group = target((p.get("LoggingConfig") or {}).get("LogGroup"))
            if self.res.get(log_group or "", {}).get("Type") != "AWS::Logs::LogGroup":
                self.error(
                    f"{lid}: LoggingConfig.LogGroup must be a log group of this template (with retention)"
                )
        for r in self.of_type("AWS::Lambda::EventSourceMapping").values():
            fn = target((r.get("Properties") or {}).get("FunctionName"))
            if fn in self.res:
                sqs_consumers.add(target(self.props(fn).get("Role")) or "")
        for lid, r in self.of_type("AWS::ECS::TaskDefinition").items():
            p = r.get("Properties") or {}
            for key in ("ExecutionRoleArn", "TaskRoleArn"):
                role = target(p.get(key))
                if role in roles:
                    users.setdefault(role, []).append(f"{lid}.{key}")
        for role, who in users.items():
            if len(who) > 1:
                self.error(f"{role}: shared by {who}; each function or task gets its own role")

        ops = self.sdk_operations()
        snake = lambda s: re.sub(r"(?<!^)(?=[A-Z])", "_", s).lower()  # noqa: E731
        for rid, r in roles.items():
            p = r.get("Properties") or {}
            for arn in p.get("ManagedPolicyArns", []):
                name = (text_of(arn) or "").split(":policy/", 1)[-1]
                if name not in ALLOWED_MANAGED_POLICIES:
                    self.error(
                        f"{rid}: managed policy {name!r}; write least-privilege inline statements instead"
                    )
            for pol in p.get("Policies", []):
                for st in as_list((pol.get("PolicyDocument") or {}).get("Statement", [])):
                    if st.get("Effect") != "Allow":
                        continue
                    actions = [a for a in as_list(st.get("Action", [])) if isinstance(a, str)]
                    resources = as_list(st.get("Resource", []))
                    for a in actions:
                        if "*" in a:
                            self.error(f"{rid}: wildcard action {a!r}")
                    if any(res == "*" for res in resources):
                        self.error(f"{rid}: Resource '*' in {pol.get('PolicyName')}")
                    for a in actions:
                        svc, _, op = a.partition(":")
                        if svc not in DATA_SERVICES or "*" in a:
                            continue
                        extra = SQS_EVENT_SOURCE_ACTIONS if rid in sqs_consumers else set()
                        if snake(op) not in ops.get(svc, set()) and a not in extra:
                            self.error(
                                f"{rid}: grants {a}, an operation shared/store/src/aws never performs"
                            )
                        for res in resources:
                            ids = {i for i in refs_in(res) if not i.startswith("AWS::")}
                            kinds = {self.res.get(i, {}).get("Type") for i in ids}
                            if not ids or kinds != {DATA_SERVICES[svc]}:
                                self.error(
                                    f"{rid}: {a} must name this template's {DATA_SERVICES[svc]} "
                                    f"resources only, not {res!r}"
                                )

    # -- DynamoDB -------------------------------------------------------------------

    def check_table(self) -> None:
        path = self.root / "shared" / "store" / "src" / "aws" / "dynamo.rs"
        if not path.is_file():
            return
        src = read_src(path)
        consts = dict(re.findall(r'const\s+(\w+)\s*:\s*&str\s*=\s*"([^"]+)"', src))
        key = r'key\("(\w+)",\s*KeyType::(Hash|Range)\)\?'
        gsis = {}
        for m in re.finditer(
            r"GlobalSecondaryIndex::builder\(\)\s*\.index_name\((\w+|\"[^\"]+\")\)(.*?)\.build\(\)\s*\.map_err",
            src,
            re.S,
        ):
            name = consts.get(m.group(1), m.group(1).strip('"'))
            keys = re.findall(key, m.group(2))
            proj = re.search(r"ProjectionType::(\w+)", m.group(2))
            # ProjectionType::KeysOnly is KEYS_ONLY in CloudFormation.
            kind = re.sub(r"(?<!^)(?=[A-Z])", "_", proj.group(1)).upper() if proj else None
            gsis[name] = (keys, kind)
        create = re.search(r"\.create_table\(\)(.*?)\.send\(\)", src, re.S)
        if not create or not gsis:
            self.error(f"cannot read the table's definition from {path}; update check_table")
            return
        table_keys = re.findall(r"\.key_schema\(" + key + r"\)", create.group(1))
        attrs = set(re.findall(r'attribute_definitions\(attr\("(\w+)"\)\?\)', create.group(1)))
        billing = "PAY_PER_REQUEST" if "PayPerRequest" in create.group(1) else "PROVISIONED"

        tables = self.of_type("AWS::DynamoDB::Table")
        if len(tables) != 1:
            self.error(f"one DynamoDB table expected (single-table design), found {len(tables)}")
            return
        ((tid, t),) = tables.items()
        p = t.get("Properties") or {}
        ks = lambda schema: [(k["AttributeName"], k["KeyType"].capitalize()) for k in schema]  # noqa: E731
        if ks(p.get("KeySchema", [])) != table_keys:
            self.error(
                f"{tid}: KeySchema {ks(p.get('KeySchema', []))} differs from dynamo.rs {table_keys}"
            )
        tattrs = {a["AttributeName"] for a in p.get("AttributeDefinitions", [])}
        if tattrs != attrs:
            self.error(
                f"{tid}: AttributeDefinitions {sorted(tattrs)} differ from dynamo.rs {sorted(attrs)}"
            )
        if p.get("BillingMode") != billing:
            self.error(f"{tid}: BillingMode must be {billing} like dynamo.rs")
        tg = {
            g["IndexName"]: (ks(g["KeySchema"]), (g.get("Projection") or {}).get("ProjectionType"))
            for g in p.get("GlobalSecondaryIndexes", [])
        }
        if tg != gsis:
            self.error(f"{tid}: GlobalSecondaryIndexes {tg} differ from dynamo.rs {gsis}")

    # -- all ------------------------------------------------------------------------

    def run(self) -> list[str]:
        matched = self.check_functions()
        routes = self.check_routes(matched)
        self.check_queues(matched)
        self.check_schedules(matched)
        self.check_function_env(matched)
        fn_env = [
            ((self.props(lid).get("Environment") or {}).get("Variables")) or {}
            for lid, _ in matched.values()
        ]
        self.check_containers(fn_env)
        self.check_drain()
        self.check_iam(matched)
        self.check_table()
        self.notes = [
            f"{len(matched)} function(s): "
            + ", ".join(f"{c.name} -> {lid}" for lid, c in matched.values()),
            f"{len(routes)} route(s): " + ", ".join(sorted(routes)),
            f"{len(self.containers())} container(s): "
            + ", ".join(cd.get("Name", "?") for _, cd in self.containers()),
        ]
        return self.errors


def main(argv: list[str] | None = None) -> int:
    here = Path(__file__).resolve()
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", type=Path, default=here.parents[2])
    ap.add_argument("--template", type=Path, default=None)
    args = ap.parse_args(argv)
    template = args.template or args.root / "infra" / "template.yaml"
    checker = Checker(args.root, template)
    errors = checker.run()
    if errors:
        print(f"{template}: {len(errors)} mismatch(es) between the template and the code:")
        for e in errors:
            print(f"  - {e}")
        return 1
    print(f"{template}: consistent with the code")
    for n in checker.notes:
        print(f"  {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
