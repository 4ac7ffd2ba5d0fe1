#!/usr/bin/env bash
# Latency at 5,000 messages/s offered: a caught-up consumer while `fraud produce --rate 5000`
# paces messages into its topic for S seconds. Reports p50/p99 from the message timestamp (set
# when the producer is handed the message) to the score record acknowledged (at least once) or
# committed (exactly once), split at the consumer's receipt (the wait before it: producer
# batching, broker, fetch; the output leg after it); and, measured by a separate read_committed
# reader of the score topic (scripts/bench/latency.py), from the timestamp to the record being
# visible downstream. Also the broker's CPU and the consumer's peak resident memory.
#
# Swept: the producer's batching window (linger.ms) and the partitions of the input and score
# topics. A Tansu broker spends about a millisecond of CPU on each partition's batch in a
# produce request, so the two decide whether it keeps up. Every run gets a fresh broker (Tansu's
# memory storage slows as it fills); medians of R runs. The topics are created up front with an
# admin client (confluent-kafka, installed into the scripts' cached venv on first use).
# Swept as well: the guarantee (GUARANTEES="alo eos": at least once, --exactly-once).
# Usage: scripts/bench/latency.sh [S=10] [R=3] [LINGERS="5 20"] [PARTITIONS="1 4"] [GUARANTEES="alo eos"]
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-10}
runs=${2:-3}
lingers=${3:-5 20}
partition_counts=${4:-1 4}
guarantees=${5:-alo eos}
# shellcheck source=scripts/lib/build.sh
source scripts/lib/build.sh
build_fraud
# shellcheck source=scripts/lib/bench.sh
source scripts/lib/bench.sh
trap 'scripts/broker.sh stop' EXIT
"$fraud" train --csv data/sample.csv --model-dir .cache/bench-model --json > /dev/null
# shellcheck source=scripts/lib/python.sh
source scripts/lib/python.sh
py_venv confluent-kafka
create_topics() { # brokers partitions topic...
    "$py" - "$@" <<'PY'
import sys
from confluent_kafka.admin import AdminClient, NewTopic
brokers, partitions, topics = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
admin = AdminClient({"bootstrap.servers": brokers})
for future in admin.create_topics([NewTopic(t, partitions, 1) for t in topics]).values():
    future.result()
PY
}

results=()
for partitions in $partition_counts; do
for linger in $lingers; do
    for i in $(seq 1 "$runs"); do
    for guarantee in $guarantees; do
        flags=()
        [ "$guarantee" = eos ] && flags=(--exactly-once --instance-id "lat-$i")
        FRAUD_BROKERS=$(scripts/broker.sh start)
        export FRAUD_BROKERS
        broker_pid=$(broker_pid)
        topic=latency-$RANDOM$RANDOM
        count=$((5000 * secs))
        # The topics exist and the consumer has joined before the producer starts pacing. The
        # broker is started for each run (the reader's process ends with the consumer).
        create_topics "$FRAUD_BROKERS" "$partitions" "$topic" "$topic-scores" "$topic-dlq"
        out=$(mktemp)
        ( with_peak_rss "$fraud" consume --topic "$topic" --group "lat-$RANDOM" --model-dir .cache/bench-model \
            --max-messages "$count" --json --quiet "${flags[@]}" > "$out" ) &
        seen=$(mktemp)
        ( "$py" scripts/bench/latency.py "$FRAUD_BROKERS" "$topic" "$topic-scores" "$count" $((secs + 60)) > "$seen" ) &
        sleep 8
        before=$(cpu_seconds "$broker_pid"); start=$(date +%s.%N)
        "$fraud" produce --topic "$topic" --count "$count" --rate 5000 --quiet -X "linger.ms=$linger" > /dev/null
        wait
        cores=$(python3 -c "import sys; a=[float(x) for x in sys.argv[1:]]; print(round((a[0] - a[1]) / (a[2] - a[3]), 2))" \
            "$(cpu_seconds "$broker_pid")" "$before" "$(date +%s.%N)" "$start")
        scripts/broker.sh stop
        line=$(cat "$out"); rm -f "$out"
        reader=$(cat "$seen"); rm -f "$seen"
        results+=("$(python3 -c "import json,sys; d=json.loads(sys.argv[1]); v=json.loads(sys.argv[6]); d.update(producer_linger_ms=int(sys.argv[2]), peak_rss_mib=int(sys.argv[3])/1024, broker_cpu_cores=float(sys.argv[4]), partitions=int(sys.argv[5]), guarantee=sys.argv[7], visible_p50_ms=v['p50_ms'], visible_p99_ms=v['p99_ms'], visible=v['visible']); print(json.dumps(d))" \
            "${line% *}" "$linger" "${line##* }" "$cores" "$partitions" "$reader" "$guarantee")")
        echo "partitions $partitions linger $linger $guarantee run $i: ${results[-1]}" >&2
    done
    done
done
done

python3 - "$secs" "$runs" "${results[@]}" <<'PY'
import json, statistics, sys
secs, runs = int(sys.argv[1]), int(sys.argv[2])
rows = [json.loads(s) for s in sys.argv[3:]]
keys = ("latency_p50_ms", "latency_p99_ms", "wait_p50_ms", "wait_p99_ms", "output_p50_ms", "output_p99_ms",
        "visible_p50_ms", "visible_p99_ms", "broker_cpu_cores", "peak_rss_mib")
out = {"offered_per_s": 5000, "seconds": secs, "runs": runs, "by_setting": {}}
for partitions, linger, guarantee in sorted({(r["partitions"], r["producer_linger_ms"], r["guarantee"]) for r in rows}):
    rs = [r for r in rows if (r["partitions"], r["producer_linger_ms"], r["guarantee"]) == (partitions, linger, guarantee)]
    out["by_setting"][f"{guarantee}, {partitions} partitions, linger {linger} ms"] = {
        **{k + "_median": round(statistics.median(r[k] for r in rs if r[k] is not None), 2) for k in keys},
        "latency_p99_ms_runs": [r["latency_p99_ms"] for r in rs],
        "visible_p99_ms_runs": [r["visible_p99_ms"] for r in rs],
        "inputs": [r["inputs"] for r in rs],
        "visible": [r["visible"] for r in rs],
    }
print(json.dumps(out, indent=2))
PY
