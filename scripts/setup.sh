#!/usr/bin/env bash
# Create .venv and install lmops with every first-party plugin, offline-capable.
# torch is installed first and pinned to the CPU wheel, so nothing can pull a CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
"${PIP[@]}" --upgrade pip
"${PIP[@]}" -c constraints.txt torch==2.13.0
# Every first-party plugin, editable, with all of its optional extras (embeddings, ONNX...).
PLUGINS=()
for p in plugins/*/; do
  extras=$(.venv/bin/python -c "import tomllib,sys; d=tomllib.load(open('${p}pyproject.toml','rb'));
print(','.join(d['project'].get('optional-dependencies', {})))")
  PLUGINS+=(-e "${p}${extras:+[$extras]}")
done
"${PIP[@]}" -c constraints.txt -e ".[parquet,dedup,annotation,postgres,dev]" "${PLUGINS[@]}" "$@"
echo "lmops installed in .venv ($(.venv/bin/python -c 'import lmops_core; print(lmops_core.__version__)'))"
