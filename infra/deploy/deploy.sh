#!/usr/bin/env bash
# Deploys foleycache (template.yaml) to one AWS account and region.
#
#   AWS_REGION=eu-west-1 infra/deploy/deploy.sh
#
# Steps, each idempotent so a failed run can simply be repeated:
#   1. upload the model artefact (.tar.gz) to an artefacts bucket, keyed by MODEL_VERSION;
#   2. build the inference image (infra/inference) for linux/amd64 and push it to ECR,
#      deploying it by digest so the endpoint runs exactly what was pushed;
#   3. `make build`: the zip functions and layers, checked against Lambda's size limits;
#   4. sam validate --lint, sam build, sam deploy.
#
# Environment (defaults in brackets):
#   AWS_REGION              target region (required)
#   FFMPEG_STATIC_DIR       optional: static x86_64 ffmpeg + ffprobe to use instead of the
#                           registry package pinned in pyproject.toml
#   STAGE [dev]             RESOURCE_PREFIX [foleycache]   STACK_NAME [$RESOURCE_PREFIX-$STAGE]
#   MODEL_VERSION [foley-ref-1]
#   MODEL_ARTIFACT          a ready model .tar.gz, or
#   MODEL_DIR               a folder to pack as the artefact (e.g. HunyuanVideo-Foley weights);
#                           with neither, an artefact holding only MODEL_VERSION is packed
#                           (enough for the reference backend, FoleyBackend=reference).
#   INFERENCE_DOCKERFILE [infra/inference/Dockerfile]   built with the repository as context
#   INFERENCE_INSTANCE_TYPE [ml.g5.xlarge]   INFERENCE_MIN_INSTANCES [0]
#   SAM_DEPLOY_ARGS         extra arguments for sam deploy (e.g. --guided)
set -euo pipefail

fail() {
  echo "deploy.sh: $*" >&2
  exit 1
}

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"

region="${AWS_REGION:-${AWS_DEFAULT_REGION:-}}"
[[ -n "$region" ]] || fail "set AWS_REGION"
stage="${STAGE:-dev}"
prefix="${RESOURCE_PREFIX:-foleycache}"
stack="${STACK_NAME:-$prefix-$stage}"
model_version="${MODEL_VERSION:-foley-ref-1}"
dockerfile="${INFERENCE_DOCKERFILE:-infra/inference/Dockerfile}"
instance_type="${INFERENCE_INSTANCE_TYPE:-ml.g5.xlarge}"
min_instances="${INFERENCE_MIN_INSTANCES:-0}"

for tool in aws sam docker make tar sha256sum; do
  command -v "$tool" >/dev/null || fail "$tool is not installed"
done
[[ -f "$dockerfile" ]] || fail "$dockerfile not found (INFERENCE_DOCKERFILE)"
account="$(aws sts get-caller-identity --query Account --output text)"
export AWS_REGION="$region" AWS_DEFAULT_REGION="$region"

# ---------------------------------------------------------------- 1. model artefact
artefacts_bucket="$prefix-$stage-artifacts-$account-$region"
if ! aws s3api head-bucket --bucket "$artefacts_bucket" 2>/dev/null; then
  echo "== creating artefacts bucket $artefacts_bucket"
  if [[ "$region" == "us-east-1" ]]; then
    aws s3api create-bucket --bucket "$artefacts_bucket" >/dev/null
  else
    aws s3api create-bucket --bucket "$artefacts_bucket" \
      --create-bucket-configuration "LocationConstraint=$region" >/dev/null
  fi
  aws s3api put-public-access-block --bucket "$artefacts_bucket" --public-access-block-configuration \
    BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true
  aws s3api put-bucket-encryption --bucket "$artefacts_bucket" --server-side-encryption-configuration \
    '{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"}}]}'
fi

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
if [[ -n "${MODEL_ARTIFACT:-}" ]]; then
  artefact="$MODEL_ARTIFACT"
elif [[ -n "${MODEL_DIR:-}" ]]; then
  artefact="$scratch/model.tar.gz"
  tar -C "$MODEL_DIR" -czf "$artefact" .
else
  artefact="$scratch/model.tar.gz"
  mkdir "$scratch/model"
  echo "$model_version" >"$scratch/model/MODEL_VERSION"
  tar -C "$scratch/model" -czf "$artefact" .
fi
[[ -f "$artefact" ]] || fail "model artefact $artefact not found"

# The model version is part of every cache key: other weights under the same version
# would serve cached audio from one model as if it came from the other. Refuse that.
digest="$(sha256sum "$artefact" | cut -c1-16)"
existing="$(aws s3api list-objects-v2 --bucket "$artefacts_bucket" --prefix "models/$model_version/" \
  --query 'Contents[].Key' --output text)"
if [[ -n "$existing" && "$existing" != "None" && "$existing" != *"/$digest/"* ]]; then
  fail "models/$model_version/ already holds another artefact ($existing); bump MODEL_VERSION"
fi
model_key="models/$model_version/$digest/model.tar.gz"
echo "== uploading model artefact to s3://$artefacts_bucket/$model_key"
aws s3 cp --only-show-errors "$artefact" "s3://$artefacts_bucket/$model_key"
model_data_url="s3://$artefacts_bucket/$model_key"

# ---------------------------------------------------------------- 2. inference image
repository="$prefix-inference"
registry="$account.dkr.ecr.$region.amazonaws.com"
if ! aws ecr describe-repositories --repository-names "$repository" >/dev/null 2>&1; then
  echo "== creating ECR repository $repository"
  aws ecr create-repository --repository-name "$repository" \
    --image-scanning-configuration scanOnPush=true >/dev/null
fi
tag="$model_version-$(git rev-parse --short HEAD 2>/dev/null || date +%Y%m%d%H%M%S)"
echo "== building inference image $registry/$repository:$tag"
aws ecr get-login-password | docker login --username AWS --password-stdin "$registry" >/dev/null
docker build --platform linux/amd64 -f "$dockerfile" -t "$registry/$repository:$tag" .
docker push "$registry/$repository:$tag"
image_uri="$(docker inspect --format '{{index .RepoDigests 0}}' "$registry/$repository:$tag")"

# ---------------------------------------------------------------- 3. artefacts
echo "== make build (zip functions, layers, image environments, size limits)"
make build
# The layers' Makefiles read these when sam builds them again below.
export FOLEYCACHE_ROOT="$PWD" FOLEYCACHE_PYTHON="$PWD/.venv/bin/python"

# ---------------------------------------------------------------- 4. SAM
echo "== sam validate / build / deploy ($stack)"
sam validate --lint --region "$region"
sam build --parallel --cached
# shellcheck disable=SC2086  # SAM_DEPLOY_ARGS is a list of arguments on purpose
sam deploy \
  --stack-name "$stack" \
  --region "$region" \
  --capabilities CAPABILITY_IAM \
  --resolve-s3 \
  --resolve-image-repos \
  --no-fail-on-empty-changeset \
  --parameter-overrides \
  "ResourcePrefix=$prefix" \
  "Stage=$stage" \
  "ModelVersion=$model_version" \
  "InferenceImageUri=$image_uri" \
  "ModelDataUrl=$model_data_url" \
  "InferenceInstanceType=$instance_type" \
  "InferenceMinInstances=$min_instances" \
  ${SAM_DEPLOY_ARGS:-}

aws cloudformation describe-stacks --stack-name "$stack" \
  --query 'Stacks[0].Outputs[].[OutputKey,OutputValue]' --output table
