#!/usr/bin/env bash
# Quick start, command 2: the whole test suite, with lint and type checks, against a real
# PostgreSQL and Kafka (started here if they are not running). Extra arguments go to pytest.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
bash deploy/local/setup.sh
.venv/bin/facturier up
# The browser tests drive Debian's Chromium (never a browser Playwright downloads).
if [ ! -x /usr/bin/chromium ]; then
  echo "[test] installing Debian's chromium for the browser tests" >&2
  SUDO=$([ "$(id -u)" -eq 0 ] || echo sudo)
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

echo "[test] ruff" >&2
.venv/bin/ruff check .
.venv/bin/ruff format --check .

echo "[test] mypy" >&2
# On the installed layout (facturier.<folder>), exactly what a wheel of this checkout holds;
# the paths of any finding are written back as the checkout's own.
rm -rf .build/installed
.venv/bin/pip install -q --no-deps --target .build/installed . >/dev/null
MYPYPATH=.build/installed .venv/bin/mypy -p facturier | sed 's#\.build/installed/facturier/##'

echo "[test] import contracts (pyproject.toml, docs/ARCHITECTURE.md)" >&2
.venv/bin/lint-imports

echo "[test] pytest" >&2
exec .venv/bin/pytest "$@"
