#!/usr/bin/env bash
# Quality (5 seeds, identical splits) and speed (medians) of fraud train vs scikit-learn (the
# logistic regression) and XGBoost and LightGBM (the trees) on the full data set. Needs
# ../shared/data/creditcard.csv.gz (or --full PATH). Installs scikit-learn, pandas, xgboost and
# lightgbm into a cached venv on first use.
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/deps.sh
cargo build --release
venv=${FRAUD_CACHE:-$HOME/.cache/fraud}/bench-venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import sklearn, pandas, xgboost, lightgbm" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check scikit-learn pandas xgboost==3.2.0 lightgbm==4.7.0
fi
exec "$venv/bin/python" scripts/bench/train.py "$@"
