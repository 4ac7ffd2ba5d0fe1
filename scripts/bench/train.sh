#!/usr/bin/env bash
# Quality (5 seeds, identical splits) and speed (medians) of fraud train vs scikit-learn (the
# logistic regression) and XGBoost and LightGBM (the trees) on the full data set. Needs
# ../shared/data/creditcard.csv.gz (or --full PATH). Installs scikit-learn, pandas, xgboost and
# lightgbm into the scripts' cached venv on first use.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/lib/build.sh
source scripts/lib/build.sh
build_fraud
# shellcheck source=scripts/lib/python.sh
source scripts/lib/python.sh
py_venv scikit-learn pandas xgboost lightgbm
exec "$py" scripts/bench/train.py --fraud "$fraud" "$@"
