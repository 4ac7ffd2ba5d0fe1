#!/usr/bin/env bash
# The stream with behavioural features against a local broker (scripts/broker.sh; Tansu here):
# simulated transactions (`fraud simulate`, 5,000 cards and 10,000 terminals, DAYS days)
# replayed with their labels (`fraud produce --spec`), then scored to the end by one consumer
# with a gbdt model on the handbook's 15 features (two entities, labels from the labels topic),
# in each configuration, alternating, R rounds (fresh group each run):
#   spec-eos   --exactly-once, the spec model
#   spec-alo   at least once, the spec model
#   plain-alo  at least once, a logistic regression on the Kaggle sample's tutorial messages, as
#              many messages: the baseline, the stream without state
# Then the cost of taking over partitions: a group scores half the events and stops; a second
# run of the group rebuilds every partition's state from the input (events read per second, from
# its log). Reports medians, ratios against plain-alo, the consumer's peak RSS and the state it
# held at the end (bytes of RSS above the baseline's per live event and label).
# Usage: scripts/bench/stream-features.sh [DAYS=21] [R=3]
set -euo pipefail
cd "$(dirname "$0")/../.."
days=${1:-21}
runs=${2:-3}
# shellcheck source=scripts/lib/build.sh
source scripts/lib/build.sh
build_fraud
brokers=$(scripts/broker.sh start)
work=$(mktemp -d)
trap 'scripts/broker.sh stop; rm -rf "$work"' EXIT
export FRAUD_BROKERS=$brokers
# shellcheck source=scripts/lib/bench.sh
source scripts/lib/bench.sh

"$fraud" simulate --days "$days" --out "$work/tx.csv" 2> /dev/null
n=$(($(wc -l < "$work/tx.csv") - 1))
"$fraud" train -q --model gbdt --data "$work/tx.csv" --spec examples/handbook.toml --test-size 0 \
    --model-dir "$work/spec" > /dev/null
"$fraud" train -q --csv data/sample.csv --model-dir "$work/plain" > /dev/null
topic=feat-$RANDOM$RANDOM
echo "replaying $n events and their labels to $topic" >&2
"$fraud" produce -q --topic "$topic" --data "$work/tx.csv" --spec examples/handbook.toml > /dev/null
plain=plain-$RANDOM$RANDOM
"$fraud" produce -q --topic "$plain" --count "$n" --csv data/sample.csv > /dev/null

run() { # CONFIG ROUND: prints "config messages_per_second peak_rss_kib"
    local config=$1 round=$2 out
    case $config in
        spec-eos) out=$(with_peak_rss "$fraud" consume --topic "$topic" --model-dir "$work/spec" --group "g-$config-$round-$RANDOM" \
            --exactly-once --instance-id "b$round" -e --json --log warn,fraud::stream::stateful=info 2> "$work/$config.$round.log") ;;
        spec-alo) out=$(with_peak_rss "$fraud" consume --topic "$topic" --model-dir "$work/spec" --group "g-$config-$round-$RANDOM" \
            -e --json --log warn,fraud::stream::stateful=info 2> "$work/$config.$round.log") ;;
        plain-alo) out=$(with_peak_rss "$fraud" consume --topic "$plain" --model-dir "$work/plain" --group "g-$config-$round-$RANDOM" \
            -e --json --quiet 2> "$work/$config.$round.log") ;;
    esac
    python3 -c 'import json, sys; s, rss = sys.argv[1].rsplit(" ", 1); print(sys.argv[2], json.loads(s)["messages_per_second"], rss)' "$out" "$config"
}
for r in $(seq 1 "$runs"); do
    for c in plain-alo spec-eos spec-alo; do
        run "$c" "$r" | tee -a "$work/runs"
    done
done
# The state at the end of the last exactly-once run.
state=$(grep -h "the state held at the end" "$work/spec-eos.$runs.log" | tail -n 1 | sed 's/\x1b\[[0-9;]*m//g')
# Taking over: half the events, then the rest by a new process of the group.
group=g-rebuild-$RANDOM
"$fraud" consume -q --topic "$topic" --model-dir "$work/spec" --group "$group" --max-messages $((n / 2)) > /dev/null
"$fraud" consume --topic "$topic" --model-dir "$work/spec" --group "$group" -e --log warn,fraud::stream::stateful=info \
    > /dev/null 2> "$work/rebuild.log"
python3 - "$work/runs" "$state" "$work/rebuild.log" "$n" <<'PY'
import json, re, statistics, sys
runs, state, rebuild_log, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
by = {}
for line in open(runs):
    c, rate, rss = line.split()
    by.setdefault(c, []).append((float(rate), int(rss)))
med = {c: statistics.median(r for r, _ in v) for c, v in by.items()}
rss = {c: statistics.median(m for _, m in v) for c, v in by.items()}
events = int(re.search(r"events=(\d+)", state).group(1)) if "events=" in state else 0
labels = int(re.search(r"labels=(\d+)", state).group(1)) if "labels=" in state else 0
rebuilt = [(int(m.group(1)), float(m.group(2))) for m in re.finditer(r"events=(\d+) entries=\d+ seconds=([0-9.e-]+)", open(rebuild_log).read())]
read, seconds = sum(e for e, _ in rebuilt), sum(s for _, s in rebuilt)
extra_kib = rss["spec-eos"] - rss["plain-alo"]
print(json.dumps({
    "events": n,
    "messages_per_second": med,
    "over_plain_alo": {c: med[c] / med["plain-alo"] for c in med},
    "peak_rss_kib": rss,
    "state_at_end": {"events": events, "labels": labels},
    "bytes_per_live_entry_above_plain": extra_kib * 1024 / max(events + labels, 1),
    "rebuild": {"partitions": len(rebuilt), "events_read": read, "seconds": seconds,
                "events_per_second": read / seconds if seconds else None},
    "rounds": {c: [r for r, _ in v] for c, v in by.items()},
}, indent=2))
PY
