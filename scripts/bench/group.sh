#!/usr/bin/env bash
# How fast a consumer group starts and fails over against the local broker, with fraud's group
# defaults (6 s session) beside Kafka's old default (10 s) and librdkafka's (45 s), alternating,
# R runs each: the first committed score after a start, and the first score of a killed member's
# partitions after a kill -9 (scripts/bench/group.py says how each is measured).
# Usage: scripts/bench/group.sh [R=3]
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-3}
# shellcheck source=scripts/lib/build.sh
source scripts/lib/build.sh
build_fraud
# shellcheck source=scripts/lib/python.sh
source scripts/lib/python.sh
py_venv confluent-kafka
brokers=$(scripts/broker.sh start)
trap 'scripts/broker.sh stop' EXIT
"$fraud" train --csv data/sample.csv --model-dir .cache/bench-model --json > /dev/null
"$py" scripts/bench/group.py "$fraud" "$brokers" .cache/bench-model "$runs"
