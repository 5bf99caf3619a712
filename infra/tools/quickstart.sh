#!/usr/bin/env bash
# Runs the README quickstart as a new user would, on free ports, and checks that four signed
# webhooks arrive and verify with the unmodified Standard Webhooks library.
# Usage: infra/tools/quickstart.sh   (after `cargo build --workspace --bin hookline` and `make tools`)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
hookline="${HOOKLINE_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/hookline}"
python="$root/.venv-tools/bin/python"
work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
api_port=$(free_port); aws_port=$(free_port); receiver_port=$(free_port)

# Terminal 1: the local stack.
PATH="$root/.venv-tools/bin:$PATH" "$hookline" dev --port "$api_port" --aws-port "$aws_port" --quiet >"$work/dev.out" 2>"$work/dev.err" &
pids+=($!)
for _ in $(seq 1 300); do
    grep -q "ready" "$work/dev.out" 2>/dev/null && break
    sleep 0.1
done
grep -q "ready" "$work/dev.out" || { echo "quickstart: hookline dev did not get ready"; cat "$work/dev.err"; exit 1; }

# Terminal 2: a key, a subscription, a receiver, four events.
export AWS_ENDPOINT_URL="http://127.0.0.1:$aws_port"
KEY=$("$hookline" keys create --tenant acme --scopes publish,manage | tail -1)
api="http://127.0.0.1:$api_port"
SECRET=$(curl -sf "$api/v1/subscriptions" \
    -H "Authorization: Bearer $KEY" -H 'content-type: application/json' \
    -d "{\"url\": \"http://127.0.0.1:$receiver_port/webhooks\", \"eventTypes\": [\"client-management.*\"], \"description\": \"my laptop\"}" \
    | "$python" -c 'import json,sys; print(json.load(sys.stdin)["secret"])')
WEBHOOK_SECRET=$SECRET "$python" examples/receiver.py "$receiver_port" >"$work/receiver.out" &
pids+=($!)
for _ in $(seq 1 100); do grep -q listening "$work/receiver.out" 2>/dev/null && break; sleep 0.1; done

published=0
for f in functions/core/catalogue/examples/*.json; do
    type=$(basename "$f" .json)
    curl -sf "$api/v1/events" -H "Authorization: Bearer $KEY" \
        -H 'content-type: application/json' -d "{\"type\": \"$type\", \"data\": $(cat "$f")}" >/dev/null
    published=$((published + 1))
done

for _ in $(seq 1 300); do
    [[ $(grep -c '"verified": true' "$work/receiver.out" || true) -ge $published ]] && break
    sleep 0.1
done
verified=$(grep -c '"verified": true' "$work/receiver.out" || true)
refused=$(grep -c '"verified": false' "$work/receiver.out" || true)
echo "quickstart: published $published events, $verified webhooks verified by standardwebhooks, $refused refused"
[[ $verified -eq $published && $refused -eq 0 ]]
