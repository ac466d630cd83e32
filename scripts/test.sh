#!/usr/bin/env bash
# README command 2: set up (plus test-only packages), type-check and lint, make sure PostgreSQL
# runs and Chromium is installed, run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh ./tests/fixtures/lmops-acme-toxicity
# Static checks before the tests: a type error in the core, a lint finding or a file that is not
# formatted as `ruff format` writes it fails the run.
.venv/bin/python -m mypy src/lmops_core
CODE=(src plugins tests benchmarks scripts examples)
.venv/bin/python -m ruff check "${CODE[@]}"
.venv/bin/python -m ruff format --check "${CODE[@]}"
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
  for _ in $(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
# The console's browser tests drive Debian's Chromium (never a browser Playwright downloads).
if [ ! -x /usr/bin/chromium ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q chromium >/dev/null || { apt-get update -q && apt-get install -y -q chromium >/dev/null; }
fi
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 ORT_DISABLE_TELEMETRY=1
# One pytest-xdist worker per CPU (LMOPS_TEST_WORKERS=0 runs in one process): every test has its
# own database, folder and ports, so the order and the split do not matter.
exec .venv/bin/python -m pytest -n "${LMOPS_TEST_WORKERS:-$(nproc)}" "$@"
