#!/usr/bin/env bash
# Quick start, command 2: the whole test suite, with lint and type checks, against a real
# PostgreSQL and Kafka (started here if they are not running). Extra arguments go to pytest.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
bash deploy/local/setup.sh
.venv/bin/facturier up

echo "[test] ruff" >&2
.venv/bin/ruff check .
.venv/bin/ruff format --check .

echo "[test] mypy" >&2
# The folders install as facturier.<folder>; mypy sees the same layout through symlinks.
mkdir -p .build/typecheck/facturier
for folder in domain events services projections schemas intake; do
  ln -sfn "../../../$folder" ".build/typecheck/facturier/$folder"
done
MYPYPATH=.build/typecheck .venv/bin/mypy -p facturier

echo "[test] pytest" >&2
exec .venv/bin/pytest "$@"
