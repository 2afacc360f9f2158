#!/usr/bin/env bash
# Deploys hotline to the account and region `aws configure` set up, after infra/build.sh:
#
#   1. builds the stream node's image (infra/Dockerfile) and pushes it to ECR, creating the
#      repository <stack>-stream-node the first time;
#   2. runs `sam deploy` on infra/template.yaml with the zips infra/build.sh made: guided the
#      first time (the answers are saved to infra/samconfig.toml), unattended afterwards;
#   3. prints the URLs to paste into Twilio, and how to apply your configuration.
#
# It never writes organizations, agents or numbers and never runs a worker: what the stack
# serves is declared in your hotline.yaml and applied with `hotline apply` (printed at the end).
#
# Usage: infra/deploy.sh [--guided] [--stack-name NAME] [--no-image]
#   --guided      ask every question again (and save the answers)
#   --no-image    keep the stream node image that is deployed now
# Needs: aws (configured), sam, docker (with buildx), python3.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=infra/common.sh
. infra/common.sh

guided=false
build_image=true
STACK=${HOTLINE_STACK:-}
while [ $# -gt 0 ]; do
  case $1 in
    --guided) guided=true ;;
    --stack-name)
      [ $# -ge 2 ] || die "--stack-name needs a value"
      STACK=$2
      shift
      ;;
    --no-image) build_image=false ;;
    -h | --help)
      sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
  shift
done
[ -f "$SAMCONFIG" ] || guided=true

need aws sam python3
$build_image && need docker
resolve_context
echo "==> account $ACCOUNT, region $REGION, stack $STACK"

# -- what infra/build.sh made -----------------------------------------------------------------
[ -f target/lambda/ARCHITECTURE ] || die "no functions built yet: run infra/build.sh first"
arch=$(cat target/lambda/ARCHITECTURE)
while read -r uri; do
  [ -f "infra/$uri" ] || die "infra/$uri is missing: run infra/build.sh"
done < <(sed -n 's/^ *CodeUri: *//p' infra/template.yaml)
echo "==> functions built for $arch"

# -- secrets the stack reads must exist before it starts --------------------------------------
openai_param=$(saved_parameter OpenAiApiKeyParameter)
openai_param=${openai_param:-$SSM_PREFIX/openai-api-key}
if ! ssm_exists "$openai_param"; then
  die "the SSM parameter $openai_param (the OpenAI API key) does not exist. Create it with:
    aws ssm put-parameter --name $openai_param --type SecureString --value 'sk-...'"
fi
# A provider's key: the saved parameter name (or the default one), which must exist; any
# placeholder value does when no agent uses that provider.
provider_key() { # PARAMETER DEFAULT_NAME WHAT EXAMPLE
  local name
  name=$(saved_parameter "$1")
  name=${name:-$SSM_PREFIX/$2}
  ssm_exists "$name" || die "the SSM parameter $name ($3) does not exist.
Create it (with any placeholder if no agent uses it) with:
    aws ssm put-parameter --name $name --type SecureString --value '$4'"
  echo "$name"
}
gemini_param=$(provider_key GeminiApiKeyParameter gemini-api-key \
  "the Gemini API key, for agents on gemini_live" "AIza...")
deepgram_param=$(provider_key DeepgramApiKeyParameter deepgram-api-key \
  "the Deepgram API key, for agents on pipeline" "dg-...")
elevenlabs_param=$(provider_key ElevenLabsApiKeyParameter elevenlabs-api-key \
  "the ElevenLabs API key, for agents on pipeline" "sk_...")
cert=$(saved_parameter StreamCertificateArn)
if [ -n "$cert" ]; then
  status=$(aws acm describe-certificate --certificate-arn "$cert" --region "$REGION" \
    --query Certificate.Status --output text 2>/dev/null || echo MISSING)
  [ "$status" = ISSUED ] || die "certificate $cert is $status, not ISSUED (see infra/README.md)"
fi

# -- the stream node's image ---------------------------------------------------------------------
if $build_image; then
  repo=$STACK-stream-node
  registry=$ACCOUNT.dkr.ecr.$REGION.amazonaws.com
  if ! aws ecr describe-repositories --repository-names "$repo" --region "$REGION" >/dev/null 2>&1; then
    echo "==> creating ECR repository $repo"
    aws ecr create-repository --repository-name "$repo" --region "$REGION" \
      --image-tag-mutability IMMUTABLE \
      --image-scanning-configuration scanOnPush=true \
      --encryption-configuration encryptionType=AES256 >/dev/null
    aws ecr put-lifecycle-policy --repository-name "$repo" --region "$REGION" \
      --lifecycle-policy-text '{"rules":[{"rulePriority":1,"description":"keep the last 20 images","selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":20},"action":{"type":"expire"}}]}' >/dev/null
  fi
  case $arch in arm64) platform=linux/arm64 ;; *) platform=linux/amd64 ;; esac
  tag=$(date -u +%Y%m%d%H%M%S)-$(git rev-parse --short HEAD 2>/dev/null || echo local)
  echo "==> building the stream node image for $platform"
  docker build --platform "$platform" -f infra/Dockerfile -t "$registry/$repo:$tag" .
  aws ecr get-login-password --region "$REGION" |
    docker login --username AWS --password-stdin "$registry" >/dev/null
  docker push "$registry/$repo:$tag"
  # Deploy the digest: exactly the image just pushed, whatever happens to tags later.
  image=$(docker inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$registry/$repo:$tag" |
    grep -m1 "^$registry/$repo@sha256:" || true)
  image=${image:-$registry/$repo:$tag}
else
  image=$(aws cloudformation describe-stacks --stack-name "$STACK" --region "$REGION" \
    --query "Stacks[0].Parameters[?ParameterKey=='StreamImageUri'].ParameterValue" --output text) ||
    die "--no-image needs a deployed stack"
fi
echo "==> stream node image $image"

# -- sam deploy ----------------------------------------------------------------------------------
# The answers saved by the guided run, with this build's architecture and image on top.
extra=("Architecture=$arch" "StreamImageUri=$image" "?OpenAiApiKeyParameter=$openai_param"
  "?GeminiApiKeyParameter=$gemini_param" "?DeepgramApiKeyParameter=$deepgram_param"
  "?ElevenLabsApiKeyParameter=$elevenlabs_param")
if [ -z "$(saved_parameter VpcId)" ]; then
  # First deployment: propose the default VPC and its default subnets (one per zone).
  vpc=$(aws ec2 describe-vpcs --region "$REGION" --filters Name=is-default,Values=true \
    --query 'Vpcs[0].VpcId' --output text 2>/dev/null || true)
  if [ -n "$vpc" ] && [ "$vpc" != None ]; then
    subnets=$(aws ec2 describe-subnets --region "$REGION" \
      --filters "Name=vpc-id,Values=$vpc" Name=default-for-az,Values=true \
      --query 'Subnets[].SubnetId' --output text | tr -s '\t ' ',')
    extra+=("VpcId=$vpc" "PublicSubnetIds=$subnets" "TaskSubnetIds=$subnets")
  fi
fi
merged=$(saved_parameters | python3 -c '
import sys
params = dict(line.split("=", 1) for line in sys.stdin.read().splitlines() if "=" in line)
for arg in sys.argv[1:]:
    keep = arg.startswith("?")  # only when not saved already
    key, value = arg.lstrip("?").split("=", 1)
    if not (keep and params.get(key)):
        params[key] = value
for key, value in params.items():
    print(key + "=\"" + value + "\"")
' "${extra[@]}")
overrides=()
while IFS= read -r kv; do overrides+=("$kv"); done <<<"$merged"

cd infra
common=(--template-file template.yaml --config-file samconfig.toml --region "$REGION"
  --capabilities CAPABILITY_IAM --no-fail-on-empty-changeset)
if $guided; then
  echo "==> sam deploy --guided (answers are saved to infra/samconfig.toml)"
  echo "    StreamDomainName / StreamCertificateArn: the host Twilio streams to and its ACM certificate"
  sam deploy --guided "${common[@]}" --stack-name "$STACK" --parameter-overrides "${overrides[@]}"
  cd ..
  STACK=$(samconfig_get stack_name)
  STACK=${STACK:-hotline}
else
  s3=()
  [ -n "$(samconfig_get s3_bucket)$(samconfig_get resolve_s3)" ] || s3=(--resolve-s3)
  sam deploy "${common[@]}" --stack-name "$STACK" ${s3[@]+"${s3[@]}"} --no-confirm-changeset \
    --parameter-overrides "${overrides[@]}"
  cd ..
fi

# -- what to paste into Twilio -----------------------------------------------------------------
voice=$(stack_output VoiceWebhookUrl)
stream=$(stack_output StreamUrl)
alb=$(stack_output StreamLoadBalancerDnsName)
domain=$(saved_parameter StreamDomainName)
cat <<EOF

hotline is deployed (stack $STACK, $REGION).

Twilio console > Phone Numbers > your number > Voice configuration:
  A call comes in:  Webhook  $voice  (HTTP POST)

Media streams connect to $stream (the TwiML says so; nothing to paste).

Organizations, agents and numbers come from your configuration file:
  HOTLINE_STORE=aws HOTLINE_TABLE=$(stack_output TableName) \\
  HOTLINE_BUCKET=$(stack_output BucketName) HOTLINE_POSTCALL_QUEUE_URL=$(stack_output PostcallQueueUrl) \\
  HOTLINE_KMS_KEY_ID=$(stack_output SecretsKeyArn) \\
  AWS_REGION=$REGION hotline apply -f hotline.yaml --dry-run    # then without --dry-run
EOF
if [ -z "$(saved_parameter StreamHostedZoneId)" ]; then
  echo "DNS: point a CNAME for ${domain:-the StreamDomainName} at $alb"
fi
