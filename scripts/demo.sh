#!/usr/bin/env bash
# README command 1: set up on a fresh machine, then run the governed lifecycle demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/lmops demo "$@"
