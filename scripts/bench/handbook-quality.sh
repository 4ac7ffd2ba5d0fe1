#!/usr/bin/env bash
# Model quality on the Fraud Detection Handbook's protocol (train 7 days, 7 days' delay, test 7
# days with the cards already known to be compromised removed; AUC ROC, average precision and
# card precision top-100), measured side by side in one run:
# - fraud: logistic regression and gradient-boosted trees with the handbook's 15 features
#   (examples/handbook.toml), and trees with the richer examples/handbook-rich.toml;
# - XGBoost (the handbook's depth 6, and depth 3, its model selection's choice) and LightGBM on
#   the same 15 features (scripts/bench/handbook.py baseline).
# Every model's test predictions are scored by the same protocol code (handbook.py metrics).
# Usage: scripts/bench/handbook-quality.sh [WEEKS=handbook|all] [DATA=../shared/data/handbook-transactions.csv.gz]
#   handbook: the handbook's week (train from 2018-07-25); all: every week whose windows are
#   full, train starts 2018-05-02 to 2018-09-05.
set -euo pipefail
cd "$(dirname "$0")/../.."
weeks=${1:-handbook}
data=${2:-../shared/data/handbook-transactions.csv.gz}
[ -f "$data" ] || { echo "handbook-quality.sh: no data file $data" >&2; exit 1; }
# shellcheck source=scripts/lib/build.sh
source scripts/lib/build.sh
build_fraud
# shellcheck source=scripts/lib/python.sh
source scripts/lib/python.sh
py_venv pandas numpy scikit-learn xgboost lightgbm
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

case $weeks in
    handbook) starts=(2018-07-25); baseline_weeks=(--train-start 2018-07-25 --weeks 1) ;;
    all)
        mapfile -t starts < <(python3 -c 'import datetime as d
s = d.date(2018, 5, 2)
while s + d.timedelta(days=21) <= d.date(2018, 10, 1):
    print(s); s += d.timedelta(days=7)')
        baseline_weeks=(--all-weeks) ;;
    *) echo "handbook-quality.sh: WEEKS is handbook or all, not $weeks" >&2; exit 2 ;;
esac

"$fraud" features --data "$data" --spec examples/handbook.toml --out "$work/features.csv"
"$py" scripts/bench/handbook.py baseline "$work/features.csv" "$data" "${baseline_weeks[@]}" > "$work/baseline.json"

day() { python3 -c 'import datetime as d, sys; print(d.date.fromisoformat(sys.argv[1]) + d.timedelta(days=int(sys.argv[2])))' "$1" "$2"; }

# fraud NAME SPEC START [TRAIN FLAG...]: trains on the week from START, scores the test week,
# prints the protocol metrics as one JSON line.
fraud_week() {
    local name=$1 spec=$2 start=$3
    shift 3
    "$fraud" train -q --data "$data" --spec "$spec" --from "$start" --to "$(day "$start" 7)" --test-size 0 \
        --model-dir "$work/$name" "$@" > /dev/null
    "$fraud" explain --json --data "$data" --model-dir "$work/$name" --from "$(day "$start" 14)" --to "$(day "$start" 21)" \
        | python3 -c 'import json, sys
print("TRANSACTION_ID,probability")
for line in sys.stdin:
    r = json.loads(line)
    print(r["id"] + "," + repr(r["probability"]))' > "$work/$name.csv"
    "$py" scripts/bench/handbook.py metrics "$data" "$work/$name.csv" --train-start "$start" \
        | python3 -c 'import json, sys; m = json.load(sys.stdin); print(json.dumps({"model": sys.argv[1], "train_start": sys.argv[2], "auc": m["auc"], "ap": m["ap"], "cp@100": m["cp@100"]}))' "$name" "$start"
}

for start in "${starts[@]}"; do
    fraud_week fraud-logistic-15 examples/handbook.toml "$start"
    fraud_week fraud-gbdt-15 examples/handbook.toml "$start" --model gbdt
    fraud_week fraud-gbdt-rich examples/handbook-rich.toml "$start" --model gbdt
done > "$work/fraud.jsonl"

python3 - "$work/baseline.json" "$work/fraud.jsonl" <<'PY'
import json, statistics, sys
from collections import defaultdict
rows = defaultdict(dict)
for line in open(sys.argv[2]):
    r = json.loads(line)
    rows[r["model"]][r["train_start"]] = (r["auc"], r["ap"], r["cp@100"])
base = json.load(open(sys.argv[1]))
weeks = base["weeks"] if isinstance(base, dict) and "weeks" in base else base
for w in weeks:
    for model, m in w["models"].items():
        rows[model][w["train_start"]] = (m["auc"], m["ap"], m["cp@100"])
starts = sorted({s for r in rows.values() for s in r})
print("| model | weeks | AUC ROC | AP | CP@100 |")
print("| --- | --- | --- | --- | --- |")
for model, by_week in rows.items():
    vals = [by_week[s] for s in starts if s in by_week]
    mean = [statistics.mean(v[i] for v in vals) for i in range(3)]
    print(f"| {model} | {len(vals)} | {mean[0]:.3f} | {mean[1]:.3f} | {mean[2]:.3f} |")
if len(starts) > 1:
    print()
    print("| train start | " + " | ".join(rows) + " |")
    print("| --- |" + " --- |" * len(rows))
    for s in starts:
        cells = [f"{rows[m][s][1]:.3f} / {rows[m][s][2]:.3f}" if s in rows[m] else "" for m in rows]
        print(f"| {s} | " + " | ".join(cells) + " |")
    print("(cells: AP / CP@100)")
PY
