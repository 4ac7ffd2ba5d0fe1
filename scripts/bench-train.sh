#!/usr/bin/env bash
# Quality (5 seeds, identical splits) and speed (medians) of fraud train vs scikit-learn on the
# full data set. Needs ../shared/data/creditcard.csv.gz (or --full PATH). Installs scikit-learn
# and pandas into a cached venv on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo build --release
venv=${FRAUD_CACHE:-$HOME/.cache/fraud}/bench-venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import sklearn, pandas" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check scikit-learn pandas
fi
exec "$venv/bin/python" scripts/bench_train.py "$@"
