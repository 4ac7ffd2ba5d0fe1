#!/usr/bin/env bash
# The consumer's hot path on one core (criterion, benches/hot_path.rs), R rounds, each running
# every bench once, so variants alternate: parse + score; parse + score + decide + write the
# record with reasons for flagged rows, with none and with every row's; reasons for one
# flagged row; for the logistic regression and for the gbdt default trained on the full data.
# Prints each bench's median over the rounds, and every round's.
# Usage: scripts/bench/hot-path.sh [R=3] [FULL=../shared/data/creditcard.csv.gz]
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-3}
full=${2:-../shared/data/creditcard.csv.gz}
# shellcheck source=scripts/lib/build.sh
source scripts/lib/build.sh
build_fraud --benches
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$fraud" train --model gbdt --csv "$full" --model-dir "$work/model" --json > "$work/train.json"
for r in $(seq 1 "$rounds"); do
    FRAUD_BENCH_GBDT_MODEL="$work/model" cargo bench --bench hot_path -- --noplot 2>/dev/null \
        | awk '/^hot_path\// {name=$1} /time:/ && name {print name, $4, $5; name=""}' > "$work/round.$r"
    echo "round $r done" >&2
done
python3 - "$work" "$rounds" <<'PY'
import json, statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])
unit = {"ns": 1e-3, "µs": 1.0, "us": 1.0, "ms": 1e3}
runs = {}
for r in range(1, rounds + 1):
    for line in open(f"{work}/round.{r}"):
        name, value, u = line.split()
        runs.setdefault(name, []).append(float(value) * unit[u])
out = {"gbdt_model": json.load(open(f"{work}/train.json"))["model_version"], "rounds": rounds,
       "median_us": {k: round(statistics.median(v), 4) for k, v in runs.items()},
       "runs_us": {k: [round(x, 4) for x in v] for k, v in runs.items()}}
print(json.dumps(out, indent=2))
PY
