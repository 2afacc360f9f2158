#!/usr/bin/env bash
# Removes what infra/deploy.sh created: the CloudFormation stack (sam delete, which also
# removes the uploaded function zips) and the stream node's ECR repository.
#
# The DynamoDB table and the S3 bucket are kept (DeletionPolicy: Retain: calls, recordings
# and transcripts outlive a stack) unless --delete-data is given. SSM parameters you created
# are left alone.
#
# Usage: infra/teardown.sh [--stack-name NAME] [--delete-data] [--yes]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=infra/common.sh
. infra/common.sh

delete_data=false
yes=false
STACK=${HOTLINE_STACK:-}
while [ $# -gt 0 ]; do
  case $1 in
    --stack-name)
      [ $# -ge 2 ] || die "--stack-name needs a value"
      STACK=$2
      shift
      ;;
    --delete-data) delete_data=true ;;
    --yes) yes=true ;;
    -h | --help)
      sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
  shift
done
need aws sam python3
resolve_context

if ! aws cloudformation describe-stacks --stack-name "$STACK" --region "$REGION" >/dev/null 2>&1; then
  die "no stack $STACK in $REGION"
fi
table=$(stack_output TableName)
bucket=$(stack_output BucketName)

echo "This deletes stack $STACK in $REGION (account $ACCOUNT) and ECR repository $STACK-stream-node."
if $delete_data; then
  echo "It also DELETES all data: table $table and bucket $bucket (every version of every object)."
else
  echo "Table $table and bucket $bucket are kept (--delete-data removes them)."
fi
if ! $yes; then
  read -r -p "Type the stack name to go on: " answer
  [ "$answer" = "$STACK" ] || die "not confirmed"
fi

echo "==> sam delete $STACK"
sam delete --stack-name "$STACK" --region "$REGION" --no-prompts

repo=$STACK-stream-node
if aws ecr describe-repositories --repository-names "$repo" --region "$REGION" >/dev/null 2>&1; then
  echo "==> deleting ECR repository $repo"
  aws ecr delete-repository --repository-name "$repo" --region "$REGION" --force >/dev/null
fi

if $delete_data; then
  if [ -n "$bucket" ] && [ "$bucket" != None ]; then
    echo "==> emptying and deleting bucket $bucket"
    # Versioned: every object version and delete marker goes, 1000 at a time.
    while :; do
      batch=$(aws s3api list-object-versions --bucket "$bucket" --region "$REGION" --max-items 1000 \
        --output json | python3 -c '
import json, sys
text = sys.stdin.read().strip()
page = json.loads(text) if text else {}
objects = [{"Key": v["Key"], "VersionId": v["VersionId"]}
           for kind in ("Versions", "DeleteMarkers") for v in page.get(kind) or []][:1000]
print(json.dumps({"Objects": objects, "Quiet": True}) if objects else "")
')
      [ -n "$batch" ] || break
      aws s3api delete-objects --bucket "$bucket" --region "$REGION" --delete "$batch" >/dev/null
    done
    aws s3api delete-bucket --bucket "$bucket" --region "$REGION"
  fi
  if [ -n "$table" ] && [ "$table" != None ]; then
    echo "==> deleting table $table"
    aws dynamodb delete-table --table-name "$table" --region "$REGION" >/dev/null
  fi
fi
echo "==> done"
