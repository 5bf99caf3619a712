#!/usr/bin/env bash
# Creates a virtual environment at the repository root with pinned Python tools, never touching
# the machine's own site-packages. Two of them, kept apart because aws-sam-cli pins its own
# boto3, cfn-lint and aws-sam-translator:
#
#   infra/tools/setup.sh        .venv-tools from infra/tools/requirements.txt: moto[server],
#                               cfn-lint, aws-sam-translator, standardwebhooks, cargo-lambda (+ zig)
#   infra/tools/setup.sh sam    .venv-sam from infra/tools/requirements-sam.txt: aws-sam-cli
#
# Idempotent: a stamp holds the sha256 of the requirements file, and the venv is rebuilt only
# when that changes or the venv is broken. Needs only python3 and pip (and PyPI).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
kind="${1:-tools}"
case "$kind" in
tools)
    venv="$root/.venv-tools"
    requirements="$root/infra/tools/requirements.txt"
    executables=(moto_server cfn-lint cargo-lambda)
    modules='("moto", "flask", "cfnlint", "samtranslator", "standardwebhooks", "ziglang")'
    ;;
sam)
    venv="$root/.venv-sam"
    requirements="$root/infra/tools/requirements-sam.txt"
    executables=(sam)
    modules='("samcli", "samtranslator", "cfnlint")'
    ;;
*)
    echo "usage: $0 [tools|sam]" >&2
    exit 2
    ;;
esac
name="$(basename "$venv")"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$requirements" | cut -d' ' -f1)"

up_to_date() {
    [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] || return 1
    local exe
    for exe in "${executables[@]}"; do
        [[ -x "$venv/bin/$exe" ]] || return 1
    done
    "$venv/bin/python" -c "import importlib.util as u, sys
sys.exit(not all(u.find_spec(m) for m in $modules))" 2>/dev/null
}

if up_to_date; then
    echo "tools: $name is up to date" >&2
    exit 0
fi

# Two `make test` runs on one checkout must not build the venv at the same time.
if command -v flock >/dev/null 2>&1; then
    exec 9>"$root/$name.lock"
    flock 9
    if up_to_date; then
        echo "tools: $name is up to date" >&2
        exit 0
    fi
fi

echo "tools: (re)creating $name with $(python3 --version) and installing $(grep -cv '^\s*\(#\|$\)' "$requirements") pinned tools from ${requirements#"$root"/}" >&2
rm -f "$stamp"
if python3 -m venv --clear "$venv" 2>/dev/null; then
    pip=("$venv/bin/python" -m pip)
else
    # Debian/Ubuntu without python3-venv have no ensurepip: make a venv without pip and let the
    # machine's pip (>= 22.3) install into it.
    python3 -m venv --clear --without-pip "$venv"
    pip=(python3 -m pip --python "$venv/bin/python")
fi
"${pip[@]}" install --quiet --disable-pip-version-check --no-input -r "$requirements"
echo "$want" >"$stamp"
case "$kind" in
tools) echo "tools: ready ($("$venv/bin/cfn-lint" --version), moto $("$venv/bin/python" -c 'import moto; print(moto.__version__)'), $("$venv/bin/cargo-lambda" lambda --version))" >&2 ;;
sam) echo "tools: ready ($(SAM_CLI_TELEMETRY=0 "$venv/bin/sam" --version))" >&2 ;;
esac
