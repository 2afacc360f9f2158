#!/usr/bin/env python3
"""The consistency check passes on the repository and fails, with a message naming the
problem, on each kind of drift it is meant to catch.

    python3 infra/tests/test_consistency.py
"""

from __future__ import annotations

import copy
import shutil
import sys
import tempfile
import unittest
from pathlib import Path
from typing import Any

import yaml

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(Path(__file__).resolve().parent))
import consistency  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "template.yaml"

WORKER_MAIN = """\
use hotline_store::StoreConfig;
fn main() {
    tracing_subscriber::EnvFilter::from_default_env();
    let _ = StoreConfig::from_env();
}
"""


def worker_crate(functions: Path, name: str, metadata: str) -> None:
    d = functions / name
    (d / "src").mkdir(parents=True)
    (d / "Cargo.toml").write_text(
        f'[package]\nname = "hotline-{name}"\nversion = "0.1.0"\n\n'
        f'[[bin]]\nname = "{name}"\npath = "src/main.rs"\n\n{metadata}\n'
        "[dependencies]\nhotline-store.workspace = true\n",
        encoding="utf-8",
    )
    (d / "src" / "main.rs").write_text(WORKER_MAIN, encoding="utf-8")


class Consistency(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="hotline-consistency-"))
        self.addCleanup(shutil.rmtree, self.tmp)
        self.tpl = consistency.load_template(TEMPLATE)

    # helpers

    def errors(self, tpl: dict[str, Any] | None = None, root: Path = ROOT) -> list[str]:
        path = self.tmp / "template.yaml"
        path.write_text(yaml.safe_dump(tpl if tpl is not None else self.tpl), encoding="utf-8")
        return consistency.Checker(root, path).run()

    def expect(self, errors: list[str], *fragments: str) -> None:
        for fragment in fragments:
            self.assertTrue(
                any(fragment in e for e in errors),
                f"expected an error containing {fragment!r}, got {errors}",
            )

    def root_with_functions(self) -> tuple[Path, Path]:
        """A copy of the workspace whose functions/ directory can take more crates."""
        root = self.tmp / "ws"
        root.mkdir()
        for entry in ROOT.iterdir():
            if entry.name not in {"functions", "target", ".git", ".venv"}:
                (root / entry.name).symlink_to(entry)
        functions = root / "functions"
        functions.mkdir()
        for crate in (ROOT / "functions").iterdir():
            (functions / crate.name).symlink_to(crate)
        return root, functions

    def res(self, tpl: dict[str, Any], lid: str) -> dict[str, Any]:
        return tpl["Resources"][lid]["Properties"]

    def container_env(self, tpl: dict[str, Any]) -> list[dict[str, Any]]:
        return self.res(tpl, "StreamTaskDefinition")["ContainerDefinitions"][0]["Environment"]

    # the repository as it is

    def test_repository_is_consistent(self) -> None:
        self.assertEqual(self.errors(), [])

    # functions and routes

    def test_a_route_the_code_serves_must_be_routed(self) -> None:
        tpl = copy.deepcopy(self.tpl)
        del tpl["Resources"]["VoiceRoute"]
        self.expect(
            self.errors(tpl),
            "hotline-voice: serves POST /twilio/voice, which the template does not route",
            "`hotline up` serves POST /twilio/voice, which the template does not route",
        )

    def test_a_route_nobody_declares_is_refused(self) -> None:
        tpl = copy.deepcopy(self.tpl)
        tpl["Resources"]["FaxRoute"] = copy.deepcopy(tpl["Resources"]["VoiceRoute"])
        self.res(tpl, "FaxRoute")["RouteKey"] = "POST /twilio/fax"
        self.expect(
            self.errors(tpl),
            "routes POST /twilio/fax to VoiceFunction, but hotline-voice does not declare it",
            "no AWS::Lambda::Permission",
            "`hotline up` (infra/local) does not serve it",
        )

    def test_a_greedy_route_needs_its_base_route_beside_it(self) -> None:
        tpl = copy.deepcopy(self.tpl)
        del tpl["Resources"]["ConsoleRoute"]
        del tpl["Resources"]["ConsolePostRoute"]
        del tpl["Outputs"]["ConsoleUrl"]
        self.expect(
            self.errors(tpl),
            "route GET /console/{proxy+}: no route /console beside it to give its URL",
            "hotline-api: serves GET /console, which the template does not route",
        )

    def test_the_console_route_needs_its_output(self) -> None:
        tpl = copy.deepcopy(self.tpl)
        del tpl["Outputs"]["ConsoleUrl"]
        self.expect(self.errors(tpl), "route GET /console: no output gives its URL")

    def test_a_function_without_a_crate_is_refused(self) -> None:
        tpl = copy.deepcopy(self.tpl)
        tpl["Resources"]["GhostFunction"] = copy.deepcopy(tpl["Resources"]["VoiceFunction"])
        self.res(tpl, "GhostFunction")["CodeUri"] = "../target/lambda/ghost/bootstrap.zip"
        self.expect(
            self.errors(tpl), "deploys binary 'ghost', which no crate under functions/ builds"
        )

    def test_a_crate_without_a_function_is_refused(self) -> None:
        root, functions = self.root_with_functions()
        worker_crate(
            functions, "fax", '[package.metadata.hotline]\nroutes = ["POST /twilio/fax"]\n'
        )
        self.expect(
            self.errors(root=root),
            "hotline-fax: no function in the template has CodeUri ../target/lambda/fax/bootstrap.zip",
        )

    def test_a_crate_must_say_what_invokes_it(self) -> None:
        root, functions = self.root_with_functions()
        worker_crate(functions, "mystery", "")
        self.expect(self.errors(root=root), "hotline-mystery: declare what invokes it")

    def test_a_declared_route_must_be_in_the_source(self) -> None:
        root, functions = self.root_with_functions()
        worker_crate(
            functions, "fax", '[package.metadata.hotline]\nroutes = ["POST /twilio/fax"]\n'
        )
        self.expect(self.errors(root=root), "source never mentions '/twilio/fax'")

    # SQS workers

    def test_an_sqs_worker_needs_partial_failures_and_a_long_visibility(self) -> None:
        tpl = copy.deepcopy(self.tpl)
        del self.res(tpl, "PostcallFunction")["Events"]["Postcall"]["Properties"][
            "FunctionResponseTypes"
        ]
        self.res(tpl, "PostcallQueue")["VisibilityTimeout"] = 900
        self.expect(
            self.errors(tpl),
            "needs FunctionResponseTypes [ReportBatchItemFailures]",
            "VisibilityTimeout 900 must be at least 6 x PostcallFunction's Timeout 300",
        )

    def test_a_scheduled_function_runs_on_its_declared_schedule(self) -> None:
        tpl = copy.deepcopy(self.tpl)
        self.res(tpl, "SweeperFunction")["Events"]["Sweep"]["Properties"]["Schedule"] = (
            "rate(1 day)"
        )
        self.expect(
            self.errors(tpl),
            "SweeperFunction: hotline-sweeper declares schedule = 'rate(1 minute)'",
        )
        tpl = copy.deepcopy(self.tpl)
        del self.res(tpl, "SweeperFunction")["Events"]
        self.expect(self.errors(tpl), "found []")
        tpl = copy.deepcopy(self.tpl)
        self.res(tpl, "StatusFunction")["Events"] = {
            "Tick": {"Type": "Schedule", "Properties": {"Schedule": "rate(1 minute)"}}
        }
        self.expect(
            self.errors(tpl),
            "StatusFunction runs on a schedule, but hotline-status declares no schedule",
        )

    def test_alarms_watch_what_loses_post_call_work(self) -> None:
        res = self.tpl["Resources"]
        alarms = {
            lid: r["Properties"]
            for lid, r in res.items()
            if r["Type"] == "AWS::CloudWatch::Alarm"
        }

        def metrics(props: dict[str, Any]) -> set[tuple[str, str]]:
            if "MetricName" in props:
                return {(props["Namespace"], props["MetricName"])}
            return {
                (m["MetricStat"]["Metric"]["Namespace"], m["MetricStat"]["Metric"]["MetricName"])
                for m in props.get("Metrics", [])
                if "MetricStat" in m
            }

        watched = set().union(*(metrics(p) for p in alarms.values()))
        for want in [
            ("AWS/ApiGateway", "4xx"),
            ("AWS/SQS", "ApproximateAgeOfOldestMessage"),
            ("AWS/Lambda", "Errors"),
            ("hotline", "PostcallErrors"),
            ("AWS/ApplicationELB", "HealthyHostCount"),
        ]:
            self.assertIn(want, watched)
        for lid, props in alarms.items():
            self.assertEqual(props.get("AlarmActions"), [{"Ref": "AlarmTopic"}], lid)
        below = alarms["StreamTasksBelowMinimumAlarm"]
        self.assertEqual(below["Threshold"], {"Ref": "StreamMinTasks"})
        self.assertEqual(below["ComparisonOperator"], "LessThanThreshold")
        age = alarms["PostcallQueueAgeAlarm"]["Dimensions"][0]["Value"]
        self.assertEqual(age, {"Fn::GetAtt": ["PostcallQueue", "QueueName"]})
        filters = [
            r["Properties"] for r in res.values() if r["Type"] == "AWS::Logs::MetricFilter"
        ]
        self.assertTrue(
            any(
                f["LogGroupName"] == {"Ref": "PostcallLogGroup"}
                and f["MetricTransformations"][0]["MetricName"] == "PostcallErrors"
                for f in filters
            )
        )

    def test_the_worker_knows_the_queues_receive_limit(self) -> None:
        tpl = copy.deepcopy(self.tpl)
        self.res(tpl, "PostcallFunction")["Environment"]["Variables"][
            "HOTLINE_POSTCALL_MAX_RECEIVES"
        ] = "3"
        self.expect(self.errors(tpl), "HOTLINE_POSTCALL_MAX_RECEIVES 3 differs from PostcallQueue's")

    def test_the_queue_redrives_like_the_local_queue(self) -> None:
        tpl = copy.deepcopy(self.tpl)
        self.res(tpl, "PostcallQueue")["RedrivePolicy"]["maxReceiveCount"] = 3
        self.expect(
            self.errors(tpl), "maxReceiveCount 3 differs from the local queue's max_receives 5"
        )

    # environment

    def test_a_variable_nobody_reads_is_refused(self) -> None:
        tpl = copy.deepcopy(self.tpl)
        self.res(tpl, "VoiceFunction")["Environment"]["Variables"]["HOTLINE_MAX_CALLS"] = "5"
        self.container_env(tpl).append({"Name": "HOTLINE_SPARE", "Value": "1"})
        self.expect(
            self.errors(tpl),
            "VoiceFunction: sets HOTLINE_MAX_CALLS, which hotline-voice never reads",
            "StreamTaskDefinition/stream-node: sets HOTLINE_SPARE, which hotline-stream-node never reads",
        )

    def test_a_variable_the_code_needs_must_be_set(self) -> None:
        tpl = copy.deepcopy(self.tpl)
        del tpl["Globals"]["Function"]["Environment"]["Variables"]["HOTLINE_TABLE"]
        env = self.container_env(tpl)
        env[:] = [e for e in env if e.get("Name") != "HOTLINE_STREAM_ADDR"]
        self.expect(
            self.errors(tpl),
            "VoiceFunction: hotline-voice reads HOTLINE_TABLE but the template does not set it",
            "hotline-stream-node reads HOTLINE_STREAM_ADDR but the template does not set it",
        )

    def test_a_conditional_variable_is_checked_as_if_set(self) -> None:
        tpl = copy.deepcopy(self.tpl)
        self.container_env(tpl).append(
            {
                "Fn::If": [
                    "HasOtelCollector",
                    {"Name": "HOTLINE_SPARE", "Value": "1"},
                    {"Ref": "AWS::NoValue"},
                ]
            }
        )
        self.expect(
            self.errors(tpl),
            "StreamTaskDefinition/stream-node: sets HOTLINE_SPARE, which hotline-stream-node never reads",
        )

    def test_the_store_must_be_aws(self) -> None:
        tpl = copy.deepcopy(self.tpl)
        tpl["Globals"]["Function"]["Environment"]["Variables"]["HOTLINE_STORE"] = "local"
        self.expect(self.errors(tpl), "VoiceFunction: HOTLINE_STORE must be 'aws'")

    def test_secrets_never_travel_as_plain_values(self) -> None:
        tpl = copy.deepcopy(self.tpl)
        cd = self.res(tpl, "StreamTaskDefinition")["ContainerDefinitions"][0]
        cd["Secrets"] = []
        cd["Environment"].append({"Name": "OPENAI_API_KEY", "Value": "sk-live"})
        self.expect(self.errors(tpl), "OPENAI_API_KEY looks secret")

    # the stream node

    def set_env(self, tpl: dict[str, Any], name: str, value: Any) -> None:
        for e in self.container_env(tpl):
            if e.get("Name") == name:
                e["Value"] = value

    def set_delay(self, tpl: dict[str, Any], value: Any) -> None:
        for a in self.res(tpl, "StreamTargetGroup")["TargetGroupAttributes"]:
            if a["Key"] == "deregistration_delay.timeout_seconds":
                a["Value"] = value

    def test_a_deploy_waits_for_the_longest_call(self) -> None:
        tpl = copy.deepcopy(self.tpl)
        self.set_delay(tpl, "300")
        self.expect(
            self.errors(tpl),
            "StreamTargetGroup: deregistration delay 300 s is shorter than the longest call "
            "an agent may have plus its wind-down (3540 + 60 = 3600 s)",
        )
        self.set_delay(tpl, "4000")
        self.expect(self.errors(tpl), "deregistration delay 4000 s is over AWS's 3600 s")

    def test_a_delay_from_a_parameter_is_checked_at_its_lowest(self) -> None:
        tpl = copy.deepcopy(self.tpl)
        tpl["Parameters"]["DrainSeconds"] = {
            "Type": "Number",
            "MinValue": 300,
            "MaxValue": 3600,
            "Default": 3600,
        }
        self.set_delay(tpl, {"Ref": "DrainSeconds"})
        self.expect(self.errors(tpl), "deregistration delay 300 s is shorter")

    def test_a_longer_agent_cap_needs_a_longer_delay(self) -> None:
        root = self.tmp / "ws"
        root.mkdir()
        for entry in ROOT.iterdir():
            if entry.name not in {"shared", "target", ".git", ".venv"}:
                (root / entry.name).symlink_to(entry)
        (root / "shared").mkdir()
        for entry in (ROOT / "shared").iterdir():
            if entry.name != "core":
                (root / "shared" / entry.name).symlink_to(entry)
        shutil.copytree(ROOT / "shared" / "core", root / "shared" / "core")
        agent = root / "shared" / "core" / "src" / "model" / "agent.rs"
        src = agent.read_text(encoding="utf-8")
        self.assertIn("pub const MAX_DURATION_SECS: u32 = 3540;", src)
        agent.write_text(
            src.replace("MAX_DURATION_SECS: u32 = 3540;", "MAX_DURATION_SECS: u32 = 7200;"),
            encoding="utf-8",
        )
        self.expect(self.errors(root=root), "(7200 + 60 = 7260 s): a deploy or scale-in")
        agent.write_text(src.replace("MAX_DURATION_SECS", "LONGEST_CALL"), encoding="utf-8")
        self.expect(self.errors(root=root), "cannot find `const MAX_DURATION_SECS`")

    def test_the_node_drains_inside_fargates_stop_timeout(self) -> None:
        tpl = copy.deepcopy(self.tpl)
        self.set_env(tpl, "HOTLINE_DRAIN_SECS", "300")
        self.expect(
            self.errors(tpl),
            "HOTLINE_DRAIN_SECS 300 s + FINISH_GRACE 15 s + 15 s to exit does not fit in "
            "StopTimeout 120 s",
        )
        tpl = copy.deepcopy(self.tpl)
        self.res(tpl, "StreamTaskDefinition")["ContainerDefinitions"][0]["StopTimeout"] = 300
        self.expect(self.errors(tpl), "StopTimeout 300 s is over Fargate's 120 s")

    def test_zone_rebalancing_may_not_stop_busy_tasks(self) -> None:
        tpl = copy.deepcopy(self.tpl)
        del self.res(tpl, "StreamService")["AvailabilityZoneRebalancing"]
        self.expect(self.errors(tpl), "StreamService: AvailabilityZoneRebalancing must be DISABLED")

    def test_max_calls_fit_the_tasks_cpu(self) -> None:
        tpl = copy.deepcopy(self.tpl)
        tpl["Mappings"]["StreamCapacity"]["1024"]["MaxCalls"] = "2000"
        self.expect(
            self.errors(tpl),
            "HOTLINE_MAX_CALLS is 2000 at Cpu 1024, but 1024 CPU units carry 590 calls",
        )
        tpl = copy.deepcopy(self.tpl)
        self.set_env(tpl, "HOTLINE_MAX_CALLS", "2000")
        errors = self.errors(tpl)
        self.expect(errors, "HOTLINE_MAX_CALLS is 2000 at Cpu 512", "at Cpu 1024")
        self.assertFalse(any("at Cpu 4096" in e for e in errors), errors)

    def test_health_checks_and_listener_paths_are_served(self) -> None:
        tpl = copy.deepcopy(self.tpl)
        self.res(tpl, "StreamTargetGroup")["HealthCheckPath"] = "/health"
        rule = self.res(tpl, "StreamListenerRule")
        rule["Conditions"][0]["PathPatternConfig"]["Values"] = ["/stream"]
        self.expect(
            self.errors(tpl),
            "HealthCheckPath '/health' is no path hotline-stream-node serves",
            "forwards '/stream', which hotline-stream-node does not serve",
        )

    def test_the_listen_port_is_the_container_port(self) -> None:
        tpl = copy.deepcopy(self.tpl)
        for e in self.container_env(tpl):
            if e.get("Name") == "HOTLINE_STREAM_ADDR":
                e["Value"] = "0.0.0.0:3001"
        self.expect(self.errors(tpl), "HOTLINE_STREAM_ADDR listens on 3001")

    # IAM and the table

    def test_iam_stays_least_privilege(self) -> None:
        tpl = copy.deepcopy(self.tpl)
        st = self.res(tpl, "VoiceFunctionRole")["Policies"][0]["PolicyDocument"]["Statement"]
        st.append({"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"})
        st.append(
            {
                "Effect": "Allow",
                "Action": "dynamodb:Scan",
                "Resource": {"Fn::GetAtt": ["Table", "Arn"]},
            }
        )
        st.append(
            {
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": {"Fn::GetAtt": ["Table", "Arn"]},
            }
        )
        self.res(tpl, "StreamTaskDefinition")["TaskRoleArn"] = {
            "Fn::GetAtt": ["VoiceFunctionRole", "Arn"]
        }
        self.expect(
            self.errors(tpl),
            "wildcard action 'dynamodb:*'",
            "Resource '*'",
            "grants dynamodb:Scan, an operation shared/store/src/aws never performs",
            "s3:GetObject must name this template's AWS::S3::Bucket resources only",
            "VoiceFunctionRole: shared by",
        )

    def test_the_table_matches_the_adapter(self) -> None:
        tpl = copy.deepcopy(self.tpl)
        self.res(tpl, "Table")["GlobalSecondaryIndexes"][0]["IndexName"] = "byOrg"
        self.expect(self.errors(tpl), "GlobalSecondaryIndexes")


if __name__ == "__main__":
    unittest.main(verbosity=1)
