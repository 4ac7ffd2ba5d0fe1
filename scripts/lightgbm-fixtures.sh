#!/usr/bin/env bash
# Regenerates the LightGBM fixtures of tests/trees.rs with Python's LightGBM (see
# scripts/lightgbm-fixtures.py); the fixtures are committed, so the tests need no Python.
# Usage: scripts/lightgbm-fixtures.sh [--full ../shared/data/creditcard.csv.gz]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/python.sh
source scripts/lib/python.sh
py_venv lightgbm pandas
exec "$py" scripts/lightgbm-fixtures.py "$@"
