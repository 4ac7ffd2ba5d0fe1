#!/usr/bin/env bash
# Prints (or, with --check, checks) the scikit-learn reference weights of tests/train.rs, fitted
# by scripts/sklearn-fixtures.py; the constants are committed, so the tests need no Python.
# Usage: scripts/sklearn-fixtures.sh [--full ../shared/data/creditcard.csv.gz] [--check]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/python.sh
source scripts/lib/python.sh
py_venv scikit-learn pandas numpy scipy
exec "$py" scripts/sklearn-fixtures.py "$@"
