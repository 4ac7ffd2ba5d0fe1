#!/usr/bin/env bash
# One consumer draining a backlog, at least once, logistic regression: this build against
# another `fraud` binary (a baseline build of an earlier commit), alternating, R rounds, a fresh
# group each run; each build scores with a model it trained itself on the same file. Prints
# each run's messages/s and the medians.
# Usage: scripts/bench/stream-vs.sh BASELINE_BINARY [N=300000] [R=5] [CSV]
set -euo pipefail
cd "$(dirname "$0")/../.."
baseline=$(realpath "$1")
n=${2:-300000}
rounds=${3:-5}
csv=${4:-../shared/data/creditcard.csv.gz}
[ -f "$csv" ] || csv=data/sample.csv
# shellcheck source=scripts/lib/build.sh
source scripts/lib/build.sh
build_fraud
brokers=$(scripts/broker.sh start)
trap 'scripts/broker.sh stop' EXIT
export FRAUD_BROKERS=$brokers
work=$(mktemp -d)
trap 'rm -rf "$work"; scripts/broker.sh stop' EXIT
# --csv: the flag both builds know.
"$baseline" train --csv "$csv" --model-dir "$work/baseline" --json > /dev/null
"$fraud" train --csv "$csv" --model-dir "$work/this" --json > /dev/null
topic=vs-$RANDOM$RANDOM
"$fraud" produce --topic "$topic" --count "$n" --csv "$csv" --quiet > /dev/null
for r in $(seq 1 "$rounds"); do
    for build in baseline this; do
        bin=$fraud; [ "$build" = baseline ] && bin=$baseline
        "$bin" consume --topic "$topic" --group "vs-$build-$r-$RANDOM" --model-dir "$work/$build" \
            --output-topic "$topic-$build-$r" --exit-at-end --json --quiet \
            | python3 -c "import json,sys; print('$build', $r, round(json.load(sys.stdin)['messages_per_second']))"
    done
done | tee "$work/runs"
python3 - "$work/runs" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    build, _, rate = line.split()
    runs.setdefault(build, []).append(int(rate))
med = {b: statistics.median(v) for b, v in runs.items()}
print({"median_msgs_per_s": med, "ratio": med["this"] / med["baseline"],
       "ratio_by_round": [round(a / b, 3) for a, b in zip(runs["this"], runs["baseline"])]})
PY
