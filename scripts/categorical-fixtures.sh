#!/usr/bin/env bash
# Regenerates tests/fixtures/categorical/ (the "any schema" fixtures: synthetic transactions with
# categorical columns, and scikit-learn's and LightGBM's numbers on them) with the pinned Python
# packages; see scripts/categorical-fixtures.py and tests/fixtures/categorical/README.md. The
# fixtures are committed, so the tests need no Python; a re-run writes the same bytes.
# Usage: scripts/categorical-fixtures.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/python.sh
source scripts/lib/python.sh
py_venv numpy pandas scipy scikit-learn lightgbm
exec "$py" scripts/categorical-fixtures.py "$@"
