#!/usr/bin/env bash
# Tree scoring speed, one thread, on one model: fraud's scorer (criterion, cargo bench --bench
# hot_path) against lleaves (LightGBM trees compiled with LLVM) and LightGBM's own single-row and
# batch calls (scripts/bench/trees.py). The model is the gbdt default trained on the full data
# set, exported with `fraud export --lightgbm` so that every tool scores the same trees.
# Alternating rounds; each tool's median per round, and the medians over rounds.
# Usage: scripts/bench/trees.sh [ROUNDS=3] [FULL=../shared/data/creditcard.csv.gz]
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-3}
full=${2:-../shared/data/creditcard.csv.gz}
# shellcheck source=scripts/lib/build.sh
source scripts/lib/build.sh
build_fraud --benches
# shellcheck source=scripts/lib/python.sh
source scripts/lib/python.sh
# llvmlite: lleaves 1.3 needs one older than 0.45 (scripts/lib/requirements.txt).
py_venv lightgbm lleaves llvmlite pandas
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$fraud" train --model gbdt --csv "$full" --model-dir "$work/model" --json > "$work/train.json"
"$fraud" export --model-dir "$work/model" --lightgbm "$work/model.txt"
echo "model: $(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["model_version"], "AUPRC", round(d["auprc"], 4))' "$work/train.json"), $(grep -c '^Tree=' "$work/model.txt") trees" >&2

for r in $(seq 1 "$rounds"); do
    FRAUD_BENCH_GBDT_MODEL="$work/model" cargo bench --bench hot_path -- --noplot "gbdt/(parse_and_score_one_message|score_one_row)" 2>/dev/null \
        | awk '/^hot_path\/gbdt/ {name=$1} /time:/ && name {print name, $4, $5; name=""}' > "$work/criterion.$r"
    "$py" scripts/bench/trees.py "$work/model.txt" "$full" --runs 5 > "$work/others.$r.json"
    echo "round $r: $(tr '\n' ' ' < "$work/criterion.$r")" >&2
done
python3 - "$work" "$rounds" <<'PY'
import json, statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])
def micros(value, unit):
    return float(value) * {"ns": 1e-3, "µs": 1.0, "us": 1.0, "ms": 1e3}[unit]
ours = {"parse_and_score_one_message": [], "score_one_row": []}
others = []
for r in range(1, rounds + 1):
    for line in open(f"{work}/criterion.{r}"):
        name, value, unit = line.split()
        ours[name.split("/")[-1]].append(micros(value, unit))
    others.append(json.load(open(f"{work}/others.{r}.json")))
med = lambda xs: statistics.median(xs)
out = {
    "rounds": rounds,
    "model": json.load(open(f"{work}/train.json"))["model_version"],
    "fraud_score_one_row_us": med(ours["score_one_row"]),
    "fraud_parse_and_score_one_message_us": med(ours["parse_and_score_one_message"]),
    "fraud_messages_per_s_one_core": 1e6 / med(ours["parse_and_score_one_message"]),
    "lleaves_batch_us_per_row": med([o["lleaves_batch_us_per_row"] for o in others]),
    "lightgbm_single_row_fast_us_per_row": med([o["lightgbm_single_row_fast_us_per_row"] for o in others]),
    "ctypes_call_overhead_us": med([o["ctypes_call_overhead_us"] for o in others]),
    "lightgbm_batch_us_per_row": med([o["lightgbm_batch_us_per_row"] for o in others]),
    "lleaves_max_abs_diff_from_lightgbm": max(o["lleaves_max_abs_diff_from_lightgbm"] for o in others),
    "per_round": {"fraud_score_one_row_us": ours["score_one_row"], "lleaves_us": [o["lleaves_batch_us_per_row"] for o in others],
                  "lightgbm_single_row_fast_us": [o["lightgbm_single_row_fast_us_per_row"] for o in others]},
}
out["single_row_fast_over_fraud"] = out["lightgbm_single_row_fast_us_per_row"] / out["fraud_score_one_row_us"]
out["lleaves_over_fraud"] = out["lleaves_batch_us_per_row"] / out["fraud_score_one_row_us"]
print(json.dumps(out, indent=2))
PY
