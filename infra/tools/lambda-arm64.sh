#!/usr/bin/env bash
# Best-effort arm64 build of every function: `cargo lambda build --release --arm64` into
# <target>/lambda-arm64/<function>/bootstrap (beside, never over, the x86_64 ones in
# <target>/lambda). It needs the aarch64-unknown-linux-gnu standard library; when that is not
# installed and `rustup target add` cannot fetch it (no rustup, or no network to the Rust
# distribution server), the build is SKIPPED with a note and this script succeeds: x86_64 is what
# `make test` runs and checks, and the template's Architecture parameter deploys either.
# LAMBDA_ARM64=off skips it on purpose. Once the target is there, a failing build fails.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
lambda_dir="$target_dir/lambda-arm64"
triple=aarch64-unknown-linux-gnu
functions=(authorizer ingest fanout deliver subscriptions)

if [[ "${LAMBDA_ARM64:-auto}" == off ]]; then
    echo "arm64: SKIPPED (LAMBDA_ARM64=off)" >&2
    exit 0
fi
if ! command -v rustup >/dev/null 2>&1; then
    echo "arm64: SKIPPED — no rustup to add the $triple target; x86_64 was built and tested" >&2
    exit 0
fi
if ! rustup target list --installed | grep -qx "$triple"; then
    echo "arm64: the $triple standard library is not installed; trying \`rustup target add $triple\`" >&2
    if ! rustup target add "$triple"; then
        echo "arm64: SKIPPED — \`rustup target add $triple\` failed (see above); x86_64 was built and tested" >&2
        exit 0
    fi
fi

cd "$root"
cargo lambda build --release --arm64 --lambda-dir "$lambda_dir" -p hookline-lambda

# Each bootstrap must be an ELF for AArch64 (e_machine 183 at byte 18, little-endian).
for f in "${functions[@]}"; do
    bootstrap="$lambda_dir/$f/bootstrap"
    machine="$(od -An -t u2 -j 18 -N 2 "$bootstrap" | tr -d ' ')"
    if [[ "$machine" != 183 ]]; then
        echo "arm64: $bootstrap is not an AArch64 ELF (e_machine $machine)" >&2
        exit 1
    fi
done
echo "arm64: built ${#functions[@]} functions into $lambda_dir ($(du -ch "$lambda_dir"/*/bootstrap | tail -1 | cut -f1) in all)" >&2
