#!/usr/bin/env bash
# What a crash repeats: the kill -9 tests (10 random kills while 50,000 messages flow at 600/s,
# then a run to the end) for at least once with offsets committed every 100 ms and every 1 s,
# and for --exactly-once; R repetitions each. Prints the duplicate score records each left.
# Usage: scripts/bench/crash.sh [R=2]
set -euo pipefail
cd "$(dirname "$0")/../.."
reps=${1:-2}
# shellcheck source=scripts/lib/build.sh
source scripts/lib/build.sh
build_fraud --all-targets
brokers=$(scripts/broker.sh start)
trap 'scripts/broker.sh stop' EXIT
export FRAUD_TEST_BROKERS=$brokers
for r in $(seq 1 "$reps"); do
    for ms in 100 1000; do
        FRAUD_TEST_COMMIT_INTERVAL_MS=$ms cargo test --release --test crash kill_9_at_random_points_loses_nothing -- --include-ignored --nocapture 2>&1 \
            | grep -E "^kill -9" | sed "s/^/at least once, round $r: /"
    done
    cargo test --release --test crash kill_9_at_random_points_gives_each_input_one_output -- --include-ignored --nocapture 2>&1 \
        | grep -E "by the log's markers" | sed "s/^/exactly once, round $r: /"
done
