#!/usr/bin/env bash
# MLflow is only a baseline for bench_registry.py: it lives in its own venv, never in lmops'.
set -euo pipefail
cd "$(dirname "$0")"
[ -x .venv-mlflow/bin/python ] || python3 -m venv .venv-mlflow
.venv-mlflow/bin/python -m pip install --quiet --disable-pip-version-check "mlflow==3.17.2"
.venv-mlflow/bin/python -c "import mlflow; print('mlflow', mlflow.__version__)"
