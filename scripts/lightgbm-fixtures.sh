#!/usr/bin/env bash
# Regenerates the LightGBM fixtures of tests/trees.rs with Python's LightGBM (see
# scripts/lightgbm-fixtures.py); the fixtures are committed, so the tests need no Python.
# Usage: scripts/lightgbm-fixtures.sh [--full ../shared/data/creditcard.csv.gz]
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${FRAUD_CACHE:-$HOME/.cache/fraud}/bench-venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import lightgbm, pandas" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check scikit-learn pandas xgboost==3.2.0 lightgbm==4.7.0
fi
exec "$venv/bin/python" scripts/lightgbm-fixtures.py "$@"
