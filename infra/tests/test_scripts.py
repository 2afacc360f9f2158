#!/usr/bin/env python3
"""Runs infra/deploy.sh and infra/teardown.sh against stand-ins for aws, sam, docker and
cargo that record how they were called, in a scratch copy of the repository. No AWS: this
proves the scripts' logic (first deploy guided, later ones unattended with the saved answers
and the new image, secrets checked first, no seeding ever, teardown), not AWS itself.

    python3 infra/tests/test_scripts.py
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DIGEST = "sha256:" + "ab" * 32
ACCOUNT = "123456789012"

# One stand-in for every command: it logs its argv (and, for hotline, its environment) and
# answers from the state directory. Behaviour is keyed on the first arguments.
STUB = r"""
import json, os, sys, time
from pathlib import Path

state = Path(os.environ["STUB_STATE"])
name = Path(sys.argv[0]).name
args = sys.argv[1:]
with open(state / "calls.jsonl", "a") as f:
    f.write(json.dumps([name, *args]) + "\n")

def arg(flag):
    return args[args.index(flag) + 1] if flag in args else None

def load(file, default):
    p = state / file
    return json.loads(p.read_text()) if p.exists() else default

def save(file, value):
    (state / file).write_text(json.dumps(value))

if name == "aws":
    cmd = " ".join(args[:2])
    if cmd == "sts get-caller-identity":
        print("ACCOUNT")
    elif cmd == "configure get":
        print("us-east-1")
    elif cmd == "ssm get-parameter":
        params = load("ssm.json", {})
        if arg("--name") not in params:
            sys.exit(254)
        print(params[arg("--name")] if "--with-decryption" in args else arg("--name"))
    elif cmd == "acm describe-certificate":
        print("ISSUED")
    elif cmd == "ecr describe-repositories":
        sys.exit(0 if load("ecr.json", []) else 254)
    elif cmd == "ecr create-repository":
        save("ecr.json", [arg("--repository-name")])
    elif cmd == "ecr get-login-password":
        print("password")
    elif cmd == "ec2 describe-vpcs":
        print("vpc-0default")
    elif cmd == "ec2 describe-subnets":
        print("subnet-a\tsubnet-b")
    elif cmd == "cloudformation describe-stacks":
        query = arg("--query") or ""
        outputs = {
            "VoiceWebhookUrl": "https://abc.execute-api.us-east-1.amazonaws.com/twilio/voice",
            "WebhookBaseUrl": "https://abc.execute-api.us-east-1.amazonaws.com",
            "StreamUrl": "wss://stream.example.com/twilio/stream",
            "StreamLoadBalancerDnsName": "hotline-123.us-east-1.elb.amazonaws.com",
            "TableName": "hotline-Table-1", "BucketName": "hotline-bucket-1",
            "PostcallQueueUrl": "https://sqs/q",
        }
        for k, v in outputs.items():
            if f"'{k}'" in query:
                print(v)
    elif cmd == "dynamodb get-item":
        key = json.loads(arg("--key"))
        print(key["pk"]["S"] if (state / "seeded").exists() else "None")
    elif cmd == "s3api list-object-versions":
        pages = load("s3.json", [[{"Key": "recordings/demo/CA1.mp3", "VersionId": "v1"}]])
        print(json.dumps({"Versions": pages[0]} if pages else {}))
        save("s3.json", pages[1:])
elif name == "sam" and args[:2] == ["deploy", "--guided"]:
    # What the guided prompts save when every default is accepted and the two
    # certificate questions are answered.
    overrides = args[args.index("--parameter-overrides") + 1:]
    overrides = [o for o in overrides if not o.startswith("--")]
    overrides += ['StreamDomainName="stream.example.com"',
                  'StreamCertificateArn="arn:aws:acm:us-east-1:ACCOUNT:certificate/1"']
    Path("samconfig.toml").write_text(
        "version = 0.1\n[default.deploy.parameters]\n"
        f'stack_name = "{arg("--stack-name")}"\nresolve_s3 = true\n'
        f'region = "{arg("--region")}"\n'
        "parameter_overrides = " + json.dumps(" ".join(overrides)) + "\n")
elif name == "docker" and args[:1] == ["inspect"]:
    print(args[-1].rsplit(":", 1)[0] + "@DIGEST")
elif name == "docker" and args[:1] == ["login"]:
    sys.stdin.read()
elif name == "hotline":
    env = {k: v for k, v in os.environ.items() if k.startswith(("HOTLINE_", "TWILIO_"))}
    save("hotline-env.json", env)
    (state / "seeded").touch()
    time.sleep(60)
""".replace("ACCOUNT", ACCOUNT).replace("DIGEST", DIGEST)


# The API keys a deploy needs in SSM (placeholders do for providers no agent uses).
KEYS = {
    "/hotline/openai-api-key": "sk-test",
    "/hotline/gemini-api-key": "AIza-test",
    "/hotline/deepgram-api-key": "dg-test",
    "/hotline/elevenlabs-api-key": "sk_test",
}


class Scripts(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="hotline-scripts-"))
        self.addCleanup(shutil.rmtree, self.tmp)
        self.repo = self.tmp / "repo"
        (self.repo / "infra").mkdir(parents=True)
        for f in ("deploy.sh", "teardown.sh", "common.sh", "template.yaml"):
            shutil.copy2(ROOT / "infra" / f, self.repo / "infra" / f)
        lam = self.repo / "target" / "lambda"
        # What infra/build.sh would have left: a zip for every function of the template.
        template = (ROOT / "infra" / "template.yaml").read_text(encoding="utf-8")
        for binary in re.findall(r"\.\./target/lambda/([A-Za-z0-9_-]+)/bootstrap\.zip", template):
            (lam / binary).mkdir(parents=True, exist_ok=True)
            (lam / binary / "bootstrap.zip").write_bytes(b"PK")
        (lam / "ARCHITECTURE").write_text("x86_64\n")
        self.state = self.tmp / "state"
        self.state.mkdir()
        bin_dir = self.tmp / "bin"
        bin_dir.mkdir()
        stub = bin_dir / "stub.py"
        stub.write_text(f"#!{sys.executable}\n{STUB}")
        stub.chmod(0o755)
        for name in ("aws", "sam", "docker", "cargo"):
            (bin_dir / name).symlink_to(stub)
        release = self.repo / "target" / "release"
        release.mkdir(parents=True)
        (release / "hotline").symlink_to(stub)
        self.env = {
            **os.environ,
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "STUB_STATE": str(self.state),
            "AWS_REGION": "us-east-1",
        }
        self.env.pop("HOTLINE_STACK", None)
        self.ssm(KEYS)

    def ssm(self, params: dict[str, str]) -> None:
        (self.state / "ssm.json").write_text(json.dumps(params))

    def run_script(self, script: str, *args: str, ok: bool = True) -> str:
        p = subprocess.run(
            [str(self.repo / "infra" / script), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        out = p.stdout + p.stderr
        if ok:
            self.assertEqual(p.returncode, 0, out)
        else:
            self.assertNotEqual(p.returncode, 0, out)
        return out

    def calls(self, name: str) -> list[list[str]]:
        lines = (self.state / "calls.jsonl").read_text().splitlines()
        return [c[1:] for c in map(json.loads, lines) if c[0] == name]

    def overrides(self, call: list[str]) -> dict[str, str]:
        i = call.index("--parameter-overrides") + 1
        out = {}
        for item in call[i:]:
            if item.startswith("--"):
                break
            k, v = item.split("=", 1)
            out[k] = shlex.split(v)[0] if v.strip('"') else ""
        return out

    def test_first_deploy_is_guided_and_proposes_what_it_knows(self) -> None:
        out = self.run_script("deploy.sh")
        self.assertIn(["ecr", "create-repository"], [c[:2] for c in self.calls("aws")])
        build = next(c for c in self.calls("docker") if c[0] == "build")
        self.assertEqual(build[build.index("--platform") + 1], "linux/amd64")
        self.assertEqual(build[build.index("-f") + 1], "infra/Dockerfile")
        (deploy,) = self.calls("sam")
        self.assertEqual(deploy[:2], ["deploy", "--guided"])
        o = self.overrides(deploy)
        self.assertEqual(o["Architecture"], "x86_64")
        self.assertEqual(
            o["StreamImageUri"],
            f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/hotline-stream-node@{DIGEST}",
        )
        self.assertEqual(o["VpcId"], "vpc-0default")
        self.assertEqual(o["PublicSubnetIds"], "subnet-a,subnet-b")
        self.assertTrue((self.repo / "infra" / "samconfig.toml").is_file())
        self.assertIn("https://abc.execute-api.us-east-1.amazonaws.com/twilio/voice", out)
        self.assertIn("CNAME for stream.example.com", out)

    def test_later_deploys_reuse_the_answers_with_the_new_image(self) -> None:
        self.run_script("deploy.sh")
        (self.state / "calls.jsonl").unlink()
        self.run_script("deploy.sh")
        aws = [c[:2] for c in self.calls("aws")]
        self.assertNotIn(["ecr", "create-repository"], aws)
        self.assertIn(["acm", "describe-certificate"], aws)
        (deploy,) = self.calls("sam")
        self.assertNotIn("--guided", deploy)
        self.assertIn("--no-confirm-changeset", deploy)
        o = self.overrides(deploy)
        self.assertEqual(o["StreamDomainName"], "stream.example.com")
        self.assertEqual(o["Architecture"], "x86_64")
        self.assertTrue(o["StreamImageUri"].endswith(DIGEST))
        self.assertEqual(o["TaskSubnetIds"], "subnet-a,subnet-b")

    def test_no_deploy_without_the_openai_key_in_ssm(self) -> None:
        self.ssm({})
        out = self.run_script("deploy.sh", ok=False)
        self.assertIn(
            "aws ssm put-parameter --name /hotline/openai-api-key --type SecureString", out
        )
        self.assertEqual(self.calls("sam"), [])

    def test_no_deploy_without_the_gemini_key_in_ssm(self) -> None:
        self.ssm({"/hotline/openai-api-key": "sk-test"})
        out = self.run_script("deploy.sh", ok=False)
        self.assertIn(
            "aws ssm put-parameter --name /hotline/gemini-api-key --type SecureString", out
        )
        self.assertEqual(self.calls("sam"), [])

    def test_no_deploy_without_the_pipeline_keys_in_ssm(self) -> None:
        for missing in ("/hotline/deepgram-api-key", "/hotline/elevenlabs-api-key"):
            self.ssm({k: v for k, v in KEYS.items() if k != missing})
            out = self.run_script("deploy.sh", ok=False)
            self.assertIn(f"aws ssm put-parameter --name {missing} --type SecureString", out)
        self.assertEqual(self.calls("sam"), [])

    def test_no_deploy_before_the_build(self) -> None:
        (self.repo / "target" / "lambda" / "ARCHITECTURE").unlink()
        out = self.run_script("deploy.sh", ok=False)
        self.assertIn("run infra/build.sh first", out)

    def test_deploy_never_seeds_nor_runs_hotline_even_with_twilio_secrets_in_ssm(self) -> None:
        self.ssm(
            {
                **KEYS,
                "/hotline/twilio-account-sid": "AC" + "1" * 32,
                "/hotline/twilio-auth-token": "secret-token",
                "/hotline/twilio-phone-number": "+15551234567",
            }
        )
        out = self.run_script("deploy.sh")
        self.assertNotIn("secret-token", out)
        self.assertEqual(self.calls("hotline"), [], "no hotline process against production")
        self.assertEqual(self.calls("cargo"), [])
        self.assertFalse((self.state / "seeded").exists())
        self.assertNotIn(["dynamodb", "put-item"], [c[:2] for c in self.calls("aws")])
        # What to run instead: the operator's own configuration, applied on purpose.
        self.assertIn("hotline apply -f hotline.yaml --dry-run", out)
        self.assertIn("HOTLINE_TABLE=hotline-Table-1", out)

    def test_teardown_keeps_data_unless_told(self) -> None:
        self.run_script("deploy.sh")
        (self.state / "calls.jsonl").unlink()
        self.run_script("teardown.sh", "--yes")
        self.assertEqual(self.calls("sam")[0][:1], ["delete"])
        aws = [c[:2] for c in self.calls("aws")]
        self.assertIn(["ecr", "delete-repository"], aws)
        self.assertNotIn(["dynamodb", "delete-table"], aws)
        (self.state / "calls.jsonl").unlink()
        self.run_script("teardown.sh", "--yes", "--delete-data")
        aws = [c[:2] for c in self.calls("aws")]
        self.assertIn(["s3api", "delete-objects"], aws)
        self.assertIn(["s3api", "delete-bucket"], aws)
        self.assertIn(["dynamodb", "delete-table"], aws)


if __name__ == "__main__":
    unittest.main(verbosity=1)
