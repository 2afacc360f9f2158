#!/usr/bin/env bash
# Offline checks of the infrastructure code (tests/run runs this; nothing here talks to AWS):
#
#   1. cfn-lint on infra/template.yaml (SAM and CloudFormation schemas), then on the plain
#      CloudFormation the AWS::Serverless transform expands it to (aws-sam-translator);
#   2. checkov on the template and on infra/Dockerfile: every finding is fixed or skipped
#      inline with a one-line reason;
#   3. infra/tests/consistency.py: the template agrees with the code (functions, routes,
#      queues, environment variables, IAM, table), and its own tests prove it catches drift;
#   4. the deploy scripts against stand-ins for aws, sam and docker;
#   5. shellcheck on the scripts, when it is installed.
#
# Tools: python3 with cfn-lint, aws-sam-translator and PyYAML (tests/requirements.txt; set
# HOTLINE_PYTHON to choose the interpreter), checkov on PATH or in HOTLINE_CHECKOV.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${HOTLINE_PYTHON:-python3}
checkov=${HOTLINE_CHECKOV:-checkov}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

step() { echo "--> $*"; }
die() {
  echo "infra/check.sh: $*" >&2
  exit 1
}
"$python" -c 'import cfnlint, samtranslator, yaml' 2>/dev/null ||
  die "$python lacks cfn-lint, aws-sam-translator or PyYAML: run tests/run once (it fills .venv), or set HOTLINE_PYTHON"
command -v "$checkov" >/dev/null ||
  die "checkov not found: run tests/run once (it installs .venv/checkov), or set HOTLINE_CHECKOV"
# Runs a test program: its last lines when it passes, all of it when it fails.
summarize() {
  if "$@" >"$tmp/out" 2>&1; then
    tail -n 3 "$tmp/out"
  else
    cat "$tmp/out"
    return 1
  fi
}

cfn_lint() { "$python" -c 'import sys; from cfnlint.runner import main; sys.exit(main())' "$@"; }

step "cfn-lint infra/template.yaml"
cfn_lint infra/template.yaml

step "SAM transform, then cfn-lint on the result"
"$python" infra/tests/sam_transform.py infra/template.yaml "$tmp/transformed.json"
cfn_lint "$tmp/transformed.json"

step "checkov infra/template.yaml infra/Dockerfile"
# --skip-download: offline, the bundled checks only. Any finding fails the run.
"$checkov" -f infra/template.yaml -f infra/Dockerfile --framework cloudformation dockerfile \
  --skip-download --quiet --compact

step "template and code agree"
"$python" infra/tests/consistency.py
summarize "$python" infra/tests/test_consistency.py

step "deploy scripts against stand-ins"
summarize "$python" infra/tests/test_scripts.py

if command -v shellcheck >/dev/null; then
  step "shellcheck"
  shellcheck -x infra/*.sh
else
  step "shellcheck not installed: skipped (apt-get install shellcheck)"
fi
