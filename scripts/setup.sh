#!/usr/bin/env bash
# Creates .venv and installs hw9-grader with its test extra. Idempotent: reinstalls only
# when pyproject.toml changed since the last successful install.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
    # The fastest supported interpreter here (scripts/pick_python.py); PYTHON=... chooses.
    PYTHON="${PYTHON:-$(python3 scripts/pick_python.py)}"
    echo "setup: .venv with $("$PYTHON" -c 'import sys; print(sys.executable, sys.version.split()[0])')" >&2
    "$PYTHON" -m venv .venv
fi
stamp=.venv/.hw9-installed
wanted=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e '.[test]'
    echo "$wanted" > "$stamp"
fi
# Judges and workers run with bytecode writing off and import the grader's modules afresh:
# compiled once here, they are read, not compiled, by each of them.
.venv/bin/python -m compileall -q graders >/dev/null
# bubblewrap gives each worker namespaces of its own; without it workers get Landlock only.
if ! command -v bwrap >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        (apt-get install -y -qq bubblewrap >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq bubblewrap >/dev/null 2>&1; }) \
            || echo "setup: could not install bubblewrap (apt-get failed): workers will get Landlock only" >&2
    else
        echo "setup: bubblewrap (bwrap) is not installed and this user cannot install it: workers will get Landlock only (install the 'bubblewrap' package for namespaces)" >&2
    fi
fi
.venv/bin/python -m graders.judge.jail
