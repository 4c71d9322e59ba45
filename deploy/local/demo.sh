#!/usr/bin/env bash
# Quick start, command 1: set everything up on a fresh machine and run the demo.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
bash deploy/local/setup.sh
.venv/bin/facturier up
exec .venv/bin/facturier demo "$@"
