#!/usr/bin/env bash
# Streaming throughput against a local broker (scripts/broker.sh; Tansu here): one consumer
# scores a backlog of N messages (4 partitions) to the end, with its score records written,
# in each of these configurations, alternating, R rounds (fresh group each run):
#   alo       at least once, logistic regression (the default)
#   eos       --exactly-once, logistic regression
#   alo-gbdt  at least once, gradient-boosted trees (the gbdt defaults)
#   eos-gbdt  --exactly-once, gradient-boosted trees
#   alo-no-reasons / alo-gbdt-no-reasons  as alo / alo-gbdt with --reasons none (the baseline
#             for what reasons for the flagged rows cost)
# The messages are the full data set's rows when it is here (0.17 % frauds, so about as many
# rows are flagged and explained as in real traffic), else the shipped sample's (5 % frauds).
# Medians per configuration, ratios against `alo` from the same run, the broker's CPU and the
# consumer's peak resident memory per run. Latency has its own script, scripts/bench/latency.sh.
# Usage: scripts/bench/stream.sh [N=500000] [R=5] [CONFIGS="alo eos alo-gbdt eos-gbdt"] [CSV]
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-500000}
runs=${2:-5}
configs=${3:-alo eos alo-gbdt eos-gbdt}
csv=${4:-../shared/data/creditcard.csv.gz}
[ -f "$csv" ] || csv=data/sample.csv
# shellcheck source=scripts/lib/build.sh
source scripts/lib/build.sh
build_fraud
brokers=$(scripts/broker.sh start)
trap 'scripts/broker.sh stop' EXIT
export FRAUD_BROKERS=$brokers
# shellcheck source=scripts/lib/bench.sh
source scripts/lib/bench.sh
broker_pid=$(broker_pid)

# Both models are trained on the messages' own file: on the full data that is the gbdt default
# a user gets (160 trees there; fewer on the sample).
"$fraud" train --csv "$csv" --model-dir .cache/bench-model --json > /dev/null
"$fraud" train --model gbdt --csv "$csv" --model-dir .cache/bench-gbdt --json > /dev/null
topic=bench-$RANDOM$RANDOM
echo "producing $n messages to $topic" >&2
"$fraud" produce --topic "$topic" --count "$n" --csv "$csv" --quiet > /dev/null

results=()
for i in $(seq 1 "$runs"); do
    for config in $configs; do
        model=.cache/bench-model; flags=()
        case "$config" in *gbdt*) model=.cache/bench-gbdt ;; esac
        case "$config" in eos*) flags=(--exactly-once --instance-id "bench-$i-$config") ;; esac
        case "$config" in *no-reasons) flags+=(--reasons none) ;; esac
        before=$(cpu_seconds "$broker_pid")
        line=$(with_peak_rss "$fraud" consume --topic "$topic" --group "bench-$i-$config-$RANDOM" --model-dir "$model" \
            --output-topic "$topic-$config-$i" --exit-at-end --json --quiet "${flags[@]}")
        after=$(cpu_seconds "$broker_pid")
        summary=${line% *}; rss=${line##* }
        results+=("$(python3 -c "import json,sys; d=json.loads(sys.argv[1]); d.update(config=sys.argv[5], peak_rss_mib=int(sys.argv[2])/1024, broker_cpu_seconds=float(sys.argv[3])-float(sys.argv[4])); print(json.dumps(d))" "$summary" "$rss" "$after" "$before" "$config")")
        echo "run $i $config: $(python3 -c "import json,sys; d=json.loads(sys.argv[1]); print(round(d['messages_per_second']), 'msgs/s', d['inputs'], 'inputs', d['transactions_committed'], 'transactions', round(d['peak_rss_mib'],1), 'MiB')" "${results[-1]}")" >&2
    done
done

python3 - "$n" "$runs" "${results[@]}" <<'PY'
import json, statistics, sys
n, runs = int(sys.argv[1]), int(sys.argv[2])
rows = [json.loads(s) for s in sys.argv[3:]]
out = {"messages": n, "rounds": runs, "by_config": {}}
for config in dict.fromkeys(r["config"] for r in rows):
    rs = [r for r in rows if r["config"] == config]
    med = lambda k: statistics.median(r[k] for r in rs)
    out["by_config"][config] = {
        "throughput_median_msgs_per_s": med("messages_per_second"),
        "throughput_runs": [round(r["messages_per_second"]) for r in rs],
        "inputs": [r["inputs"] for r in rs],
        "transactions_committed_median": med("transactions_committed"),
        "broker_cpu_seconds_median": med("broker_cpu_seconds"),
        "consumer_peak_rss_mib_median": med("peak_rss_mib"),
        "consumer_peak_rss_mib_max": max(r["peak_rss_mib"] for r in rs),
    }
base = out["by_config"].get("alo", {}).get("throughput_median_msgs_per_s")
if base:
    for config, v in out["by_config"].items():
        v["ratio_to_alo"] = v["throughput_median_msgs_per_s"] / base
        # Each round's ratio, from runs made side by side.
        alo_runs = out["by_config"]["alo"]["throughput_runs"]
        v["ratio_to_alo_by_round"] = [round(a / b, 3) for a, b in zip(v["throughput_runs"], alo_runs)]
print(json.dumps(out, indent=2))
PY
