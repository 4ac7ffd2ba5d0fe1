#!/usr/bin/env bash
# Feature-engineering speed on the Fraud Detection Handbook's data (1.75M transactions): the
# handbook's 15 baseline features (notes: /work/notes/handbook.md, section 2) computed by
# `fraud features --spec examples/handbook.toml` against the handbook's pandas code logic
# (scripts/bench/handbook.py features), each reading the gzipped CSV and writing a CSV of
# TRANSACTION_ID,<15 features>,TX_FRAUD. Alternating rounds, wall-clock time of each whole
# process; prints each round, the medians, the ratio pandas/fraud, and how far apart the two
# feature files are (max absolute difference per column, joined on TRANSACTION_ID).
# Usage: scripts/bench/handbook.sh [ROUNDS=3] [DATA=../shared/data/handbook-transactions.csv.gz]
# Model quality on the same features: scripts/bench/handbook.py baseline (see its --help).
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-3}
data=${2:-../shared/data/handbook-transactions.csv.gz}
spec=examples/handbook.toml
[ -f "$data" ] || { echo "handbook.sh: no data file $data" >&2; exit 1; }
[ -f "$spec" ] || { echo "handbook.sh: no feature spec $spec" >&2; exit 1; }
# shellcheck source=scripts/lib/build.sh
source scripts/lib/build.sh
build_fraud
# shellcheck source=scripts/lib/python.sh
source scripts/lib/python.sh
py_venv pandas numpy
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Runs a command, its stdout to $1; prints the wall-clock seconds it took.
wall() {
    local out=$1 start end
    shift
    start=$EPOCHREALTIME
    "$@" > "$out"
    end=$EPOCHREALTIME
    python3 -c 'import sys; print(float(sys.argv[2]) - float(sys.argv[1]))' "$start" "$end"
}

for r in $(seq 1 "$rounds"); do
    # The feature files are overwritten each round; the last round's are compared.
    fraud_s=$(wall "$work/fraud.$r.out" "$fraud" features --data "$data" --spec "$spec" --out "$work/fraud.csv")
    pandas_s=$(wall "$work/pandas.$r.json" "$py" scripts/bench/handbook.py features "$data" "$work/pandas.csv")
    echo "$r $fraud_s $pandas_s" >> "$work/rounds"
    echo "round $r: fraud ${fraud_s}s, pandas ${pandas_s}s" >&2
done
"$py" scripts/bench/handbook.py compare "$work/fraud.csv" "$work/pandas.csv" > "$work/compare.json"

python3 - "$work" <<'PY'
import json, statistics, sys
work = sys.argv[1]
rounds = [line.split() for line in open(f"{work}/rounds")]
fraud = [float(f) for _, f, _ in rounds]
pandas = [float(p) for _, _, p in rounds]
inside = [json.load(open(f"{work}/pandas.{r}.json")) for r, _, _ in rounds]
compare = json.load(open(f"{work}/compare.json"))
med = statistics.median
out = {
    "rounds": len(rounds),
    "rows": inside[-1]["rows"],
    "fraud_wall_s": med(fraud),
    "pandas_wall_s": med(pandas),
    "pandas_over_fraud": med(pandas) / med(fraud),
    "pandas_over_fraud_by_round": [round(p / f, 3) for f, p in zip(fraud, pandas)],
    # pandas' own split of its time (the wall time adds interpreter start and imports).
    "pandas_inside_s": {k: med([i[k] for i in inside]) for k in ("read_s", "features_s", "write_s", "total_s")},
    "per_round": {"fraud_wall_s": fraud, "pandas_wall_s": pandas},
    "features_agree": compare["agree"],
    "compare": {k: compare[k] for k in ("same_header", "rows_a", "rows_b", "rows_joined", "rows_only_in_a",
                                        "rows_only_in_b", "columns_only_in_a", "columns_only_in_b",
                                        "tolerance", "max_abs_diff", "nan_mismatches", "worst_row")},
}
print(json.dumps(out, indent=2))
if not compare["agree"]:
    sys.exit("handbook.sh: the fraud and pandas features differ (a is fraud, b is pandas; see compare)")
PY
