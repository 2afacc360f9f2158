# shellcheck shell=bash
# Helpers shared by infra/deploy.sh and infra/teardown.sh (sourced, from the
# repository root).

die() {
  echo "${0##*/}: $*" >&2
  exit 1
}

need() {
  local c
  for c; do
    command -v "$c" >/dev/null || die "$c is not installed (see infra/README.md, Prerequisites)"
  done
}

SAMCONFIG=$PWD/infra/samconfig.toml

# samconfig_get KEY: a setting `sam deploy --guided` saved (stack_name, region, ...).
samconfig_get() {
  [ -f "$SAMCONFIG" ] || return 0
  python3 - "$SAMCONFIG" "$1" <<'EOF'
import sys, tomllib
with open(sys.argv[1], "rb") as f:
    env = tomllib.load(f).get("default", {})
for section in ("deploy", "global"):
    value = env.get(section, {}).get("parameters", {}).get(sys.argv[2])
    if value is not None:
        print(" ".join(value) if isinstance(value, list) else value)
        break
EOF
}

# saved_parameters: the template parameters saved in samconfig, one NAME=VALUE per line.
saved_parameters() {
  samconfig_get parameter_overrides | python3 -c '
import shlex, sys
for item in shlex.split(sys.stdin.read()):
    print(item)
'
}

# saved_parameter NAME: one saved template parameter's value (empty when not saved).
saved_parameter() {
  saved_parameters | sed -n "s/^$1=//p"
}

# Sets STACK, REGION and ACCOUNT from the options, samconfig and `aws configure`.
resolve_context() {
  STACK=${STACK:-$(samconfig_get stack_name)}
  STACK=${STACK:-hotline}
  REGION=${AWS_REGION:-${AWS_DEFAULT_REGION:-$(samconfig_get region)}}
  REGION=${REGION:-$(aws configure get region || true)}
  [ -n "$REGION" ] || die "no AWS region: run aws configure (or set AWS_REGION)"
  # shellcheck disable=SC2034 # used by the scripts that source this file
  ACCOUNT=$(aws sts get-caller-identity --query Account --output text) ||
    die "no AWS credentials: run aws configure"
  export AWS_REGION=$REGION
}

# stack_output KEY: an output of the deployed stack.
stack_output() {
  aws cloudformation describe-stacks --stack-name "$STACK" --region "$REGION" \
    --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text
}

# shellcheck disable=SC2034 # used by the scripts that source this file
SSM_PREFIX=${HOTLINE_SSM_PREFIX:-/hotline}

# ssm_exists NAME: whether a parameter exists (without reading its value).
ssm_exists() {
  aws ssm get-parameter --name "$1" --region "$REGION" --query Parameter.Name --output text >/dev/null 2>&1
}
