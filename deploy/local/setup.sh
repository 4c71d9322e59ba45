#!/usr/bin/env bash
# Create the virtualenv (.venv) and install facturier with its pinned dependencies, once:
# re-runs are instant unless pyproject.toml changed.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PYTHON=${FACTURIER_PYTHON:-python3}
VENV=$ROOT/.venv

command -v "$PYTHON" >/dev/null || { echo "setup: $PYTHON not found (Python 3.11+ needed)" >&2; exit 1; }
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "setup: $("$PYTHON" --version) is too old: Python 3.11+ needed" >&2; exit 1; }
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV" || {
    echo "setup: cannot create a virtualenv; on Debian: apt-get install -y python3-venv" >&2
    exit 1; }
fi
stamp=$VENV/.facturier-installed
want=$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "[setup] installing facturier and its pinned dependencies into .venv" >&2
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e "$ROOT[dev]"
  echo "$want" > "$stamp"
fi
