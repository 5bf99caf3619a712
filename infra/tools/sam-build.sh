#!/usr/bin/env bash
# `sam build` of template.yaml for x86_64 with the pinned SAM CLI (.venv-sam), after
# `make lambda-build`, and proof that it packaged the very bootstraps the Lambda emulator test
# ran: each .aws-sam/build/<Name>Function/bootstrap must have the sha256 that
# <target>/lambda/<function>/bootstrap had before sam build started.
#
# SAM's cargo-lambda builder builds in the source tree with the same target directory
# (CARGO_TARGET_DIR, else the workspace's target/), running the same
# `cargo lambda build --release --bin <function>` as lambda-build, so it compiles nothing.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
sam="$root/.venv-sam/bin/sam"
functions=(authorizer ingest fanout deliver subscriptions)
export SAM_CLI_TELEMETRY=0

declare -A tested
for f in "${functions[@]}"; do
    bootstrap="$target_dir/lambda/$f/bootstrap"
    [[ -f "$bootstrap" ]] || { echo "sam-build: $bootstrap is missing; run make lambda-build first" >&2; exit 1; }
    tested[$f]="$(sha256sum "$bootstrap" | cut -d' ' -f1)"
done

cd "$root"
start=$SECONDS
"$sam" build --parameter-overrides Architecture=x86_64
for f in "${functions[@]}"; do
    resource="${f^}Function"
    packaged=".aws-sam/build/$resource/bootstrap"
    [[ -f "$packaged" ]] || { echo "sam-build: $packaged is missing" >&2; exit 1; }
    if [[ "$(sha256sum "$packaged" | cut -d' ' -f1)" != "${tested[$f]}" ]]; then
        echo "sam-build: $packaged differs from the $f bootstrap that was tested" >&2
        exit 1
    fi
done
echo "sam build: ${#functions[@]} functions packaged in $((SECONDS - start)) s, each bootstrap the one that was tested" >&2
