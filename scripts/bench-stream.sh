#!/usr/bin/env bash
# Streaming throughput against a local broker (scripts/broker.sh; Tansu here): one consumer
# scores a backlog of N messages (4 partitions) to the end, with its score records written;
# median of R runs (fresh group each); the broker's CPU and the consumer's peak resident memory
# per run. Latency has its own script, scripts/bench-latency.sh.
# Usage: scripts/bench-stream.sh [N=500000] [R=5]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-500000}
runs=${2:-5}
scripts/deps.sh
cargo build --release
fraud=target/release/fraud
brokers=$(scripts/broker.sh start)
trap 'scripts/broker.sh stop' EXIT
broker_pid=$(cat .cache/broker/pid 2>/dev/null || echo "")
export FRAUD_BROKERS=$brokers

source scripts/bench-lib.sh

$fraud train --csv data/sample.csv --model-dir .cache/bench-model --json > /dev/null
topic=bench-$RANDOM$RANDOM
echo "producing $n messages to $topic" >&2
$fraud produce --topic "$topic" --count "$n" --quiet > /dev/null

summaries=()
for i in $(seq 1 "$runs"); do
    before=$(cpu_seconds "$broker_pid")
    line=$(with_peak_rss $fraud consume --topic "$topic" --group "bench-$i-$RANDOM" --model-dir .cache/bench-model \
        --exit-at-end --json --quiet -X session.timeout.ms=6000)
    after=$(cpu_seconds "$broker_pid")
    summary=${line% *}; rss=${line##* }
    summaries+=("$(python3 -c "import json,sys; d=json.loads(sys.argv[1]); d['peak_rss_mib']=int(sys.argv[2])/1024; d['broker_cpu_seconds']=float(sys.argv[3])-float(sys.argv[4]); print(json.dumps(d))" "$summary" "$rss" "$after" "$before")")
    echo "run $i: ${summaries[-1]}" >&2
done

python3 - "$n" "$runs" "${summaries[@]}" <<'PY'
import json, statistics, sys
n, runs = int(sys.argv[1]), int(sys.argv[2])
runs_ = [json.loads(s) for s in sys.argv[3:]]
med = lambda k: statistics.median(r[k] for r in runs_)
print(json.dumps({
    "messages": n,
    "runs": runs,
    "throughput_median_msgs_per_s": med("messages_per_second"),
    "throughput_runs": [round(r["messages_per_second"]) for r in runs_],
    "broker_cpu_seconds_median": med("broker_cpu_seconds"),
    "consumer_peak_rss_mib_median": med("peak_rss_mib"),
}, indent=2))
PY
