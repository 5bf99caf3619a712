#!/usr/bin/env bash
# Creates .venv-tools (pinned moto[server], cfn-lint, standardwebhooks) at the repository root.
# Idempotent: does nothing when the venv already matches requirements.txt.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="$root/.venv-tools"
requirements="$root/infra/tools/requirements.txt"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$requirements" | cut -d' ' -f1)"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] && "$venv/bin/python" -c 'import moto, cfnlint, standardwebhooks' 2>/dev/null; then
    exit 0
fi
echo "tools: installing $(grep -cv '^\s*\(#\|$\)' "$requirements") pinned Python tools into .venv-tools" >&2
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
echo "$want" > "$stamp"
echo "tools: ready ($("$venv/bin/cfn-lint" --version), moto $("$venv/bin/python" -c 'import moto; print(moto.__version__)'))" >&2
