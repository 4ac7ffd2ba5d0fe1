#!/usr/bin/env bash
# Streaming benchmarks against a local broker (scripts/broker.sh; Tansu here):
#  1. throughput: one consumer scores a backlog of N messages (4 partitions) to the end, with
#     its score records written; median of R runs (fresh group each); broker CPU per run;
#  2. latency: a caught-up consumer while `fraud produce --rate 5000` offers 5,000 messages/s;
#     p50/p99 from message timestamp to score delivered, split at the consumer's receipt (the
#     wait before: producer batching, broker, fetch; the output leg after), and the broker's CPU;
#  3. the consumer's peak resident memory in each.
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

cpu_seconds() { # utime+stime of a pid, in seconds
    [ -n "$1" ] && [ -r "/proc/$1/stat" ] || { echo 0; return; }
    awk -v hz="$(getconf CLK_TCK)" '{print ($14+$15)/hz}' "/proc/$1/stat"
}

# Runs a command, polling its peak RSS; prints "<stdout> <peak_rss_kib>".
with_peak_rss() {
    local out; out=$(mktemp)
    "$@" > "$out" &
    local pid=$! peak=0 rss
    while kill -0 "$pid" 2>/dev/null; do
        rss=$(awk '/VmHWM/{print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
        [ -n "$rss" ] && [ "$rss" -gt "$peak" ] && peak=$rss
        sleep 0.1
    done
    wait "$pid"
    echo "$(cat "$out") $peak"
    rm -f "$out"
}

$fraud train --csv data/sample.csv --model-dir .cache/bench-model --json > /dev/null
# Latency at 5,000 messages/s offered, first, while the broker is fresh (Tansu's memory storage
# slows as it fills: after the backlog runs the wait before receipt grew tenfold). The consumer
# joins first, then the producer paces.
ltopic=latency-$RANDOM$RANDOM
count=$((5000 * 20))
$fraud produce --topic "$ltopic" --count 1 --quiet > /dev/null
lat_out=$(mktemp)
( with_peak_rss $fraud consume --topic "$ltopic" --group "lat-$RANDOM" --model-dir .cache/bench-model \
    --max-messages $((count + 1)) --json --quiet -X session.timeout.ms=6000 > "$lat_out" ) &
sleep 8
lat_before=$(cpu_seconds "$broker_pid"); lat_start=$(date +%s.%N)
$fraud produce --topic "$ltopic" --count "$count" --rate 5000 --quiet > /dev/null
wait
lat_broker=$(python3 -c "import sys; print(round((float(sys.argv[1]) - float(sys.argv[2])) / (float(sys.argv[3]) - float(sys.argv[4])), 2))" \
    "$(cpu_seconds "$broker_pid")" "$lat_before" "$(date +%s.%N)" "$lat_start")
latency=$(cat "$lat_out"); rm -f "$lat_out"

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

python3 - "$n" "$runs" "${latency% *}" "${latency##* }" "$lat_broker" "${summaries[@]}" <<'PY'
import json, statistics, sys
n, runs, lat, lat_rss = int(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3]), int(sys.argv[4])
lat_broker = float(sys.argv[5])
runs_ = [json.loads(s) for s in sys.argv[6:]]
med = lambda k: statistics.median(r[k] for r in runs_)
print(json.dumps({
    "messages": n,
    "runs": runs,
    "throughput_median_msgs_per_s": med("messages_per_second"),
    "throughput_runs": [round(r["messages_per_second"]) for r in runs_],
    "broker_cpu_seconds_median": med("broker_cpu_seconds"),
    "consumer_peak_rss_mib_median": med("peak_rss_mib"),
    "latency_at_5000_per_s": {k: lat[k] for k in ("inputs", "latency_p50_ms", "latency_p99_ms", "latency_max_ms",
                                                  "wait_p50_ms", "wait_p99_ms", "output_p50_ms", "output_p99_ms")},
    "latency_run_broker_cpu_cores": lat_broker,
    "latency_run_peak_rss_mib": lat_rss / 1024,
}, indent=2))
PY
