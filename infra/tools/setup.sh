#!/usr/bin/env bash
# Creates .venv-tools at the repository root with the pinned Python tools in requirements.txt
# (moto[server], cfn-lint, aws-sam-translator, standardwebhooks). Never touches the machine's own
# site-packages. Idempotent: a stamp holds the sha256 of requirements.txt, and the venv is rebuilt
# only when that changes or the venv is broken. Needs only python3 and pip (and PyPI).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="$root/.venv-tools"
requirements="$root/infra/tools/requirements.txt"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$requirements" | cut -d' ' -f1)"

up_to_date() {
    [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] &&
        [[ -x "$venv/bin/moto_server" && -x "$venv/bin/cfn-lint" ]] &&
        "$venv/bin/python" -c 'import importlib.util as u, sys
sys.exit(not all(u.find_spec(m) for m in ("moto", "flask", "cfnlint", "samtranslator", "standardwebhooks")))' 2>/dev/null
}

if up_to_date; then
    echo "tools: .venv-tools is up to date" >&2
    exit 0
fi

# Two `make test` runs on one checkout must not build the venv at the same time.
if command -v flock >/dev/null 2>&1; then
    exec 9>"$root/.venv-tools.lock"
    flock 9
    if up_to_date; then
        echo "tools: .venv-tools is up to date" >&2
        exit 0
    fi
fi

echo "tools: (re)creating .venv-tools with $(python3 --version) and installing $(grep -cv '^\s*\(#\|$\)' "$requirements") pinned tools from infra/tools/requirements.txt" >&2
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
echo "tools: ready ($("$venv/bin/cfn-lint" --version), moto $("$venv/bin/python" -c 'import moto; print(moto.__version__)'))" >&2
