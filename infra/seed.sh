#!/usr/bin/env bash
# Creates or updates the first organization in the deployed table from the Twilio main
# credentials kept in SSM: organization "demo", its "receptionist" agent, and your Twilio
# number routed to it. infra/deploy.sh runs this when the parameters exist.
#
#   <prefix>/twilio-account-sid    String        AC...
#   <prefix>/twilio-auth-token     SecureString  the account's auth token
#   <prefix>/twilio-phone-number   String        +15551234567
#
# (<prefix> is /hotline unless HOTLINE_SSM_PREFIX says otherwise.) The seeding is the same
# code `hotline up` runs at start, so this builds the `hotline` command, starts it against
# the AWS store on loopback, waits until the number is in the table, and stops it. The auth
# token goes from SSM to that process's environment only; it is never printed.
#
# Usage: infra/seed.sh [--stack-name NAME]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=infra/common.sh
. infra/common.sh

STACK=${STACK:-${HOTLINE_STACK:-}}
while [ $# -gt 0 ]; do
  case $1 in
    --stack-name)
      [ $# -ge 2 ] || die "--stack-name needs a value"
      STACK=$2
      shift
      ;;
    -h | --help)
      sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *) die "unknown option $1" ;;
  esac
  shift
done
need aws cargo
resolve_context

ssm() {
  aws ssm get-parameter --name "$SSM_PREFIX/$1" --with-decryption --region "$REGION" \
    --query Parameter.Value --output text
}
account_sid=$(ssm twilio-account-sid) || die "missing SSM parameter $SSM_PREFIX/twilio-account-sid"
auth_token=$(ssm twilio-auth-token) || die "missing SSM parameter $SSM_PREFIX/twilio-auth-token"
number=$(ssm twilio-phone-number) || die "missing SSM parameter $SSM_PREFIX/twilio-phone-number"

table=$(stack_output TableName)
if [ -z "$table" ] || [ "$table" = None ]; then
  die "stack $STACK has no TableName output: deploy first"
fi

echo "==> building the hotline command"
cargo build --release --locked --quiet --bin hotline

echo "==> seeding organization 'demo' with $number into $table"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
HOTLINE_STORE=aws \
  HOTLINE_TABLE=$table \
  HOTLINE_BUCKET=$(stack_output BucketName) \
  HOTLINE_POSTCALL_QUEUE_URL=$(stack_output PostcallQueueUrl) \
  HOTLINE_PUBLIC_URL=$(stack_output WebhookBaseUrl) \
  HOTLINE_STREAM_PUBLIC_URL=$(stack_output StreamUrl | sed 's|/twilio/stream$||') \
  HOTLINE_HTTP_ADDR=127.0.0.1:0 \
  HOTLINE_STREAM_ADDR=127.0.0.1:0 \
  TWILIO_ACCOUNT_SID=$account_sid \
  TWILIO_AUTH_TOKEN=$auth_token \
  TWILIO_PHONE_NUMBER=$number \
  target/release/hotline up >"$log" 2>&1 &
pid=$!
unset auth_token

key=$(printf '{"pk":{"S":"NUMBER#%s"},"sk":{"S":"NUMBER"}}' "$number")
seeded=false
for _ in $(seq 60); do
  if ! kill -0 "$pid" 2>/dev/null; then
    break
  fi
  if [ "$(aws dynamodb get-item --table-name "$table" --region "$REGION" --key "$key" \
    --consistent-read --query 'Item.pk.S' --output text 2>/dev/null)" = "NUMBER#$number" ]; then
    seeded=true
    break
  fi
  sleep 2
done
kill -TERM "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
if ! $seeded; then
  grep -v -i token "$log" >&2 || true
  die "the organization was not seeded (hotline up's output above)"
fi
echo "==> $number answers with the 'receptionist' agent of organization 'demo'"
