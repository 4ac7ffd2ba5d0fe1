#!/usr/bin/env bash
# The tutorial's pipeline, end to end, on a fresh machine: build, start a local broker, train on
# the sample, produce 6 transactions, score them with the consumer, show the score records.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/build.sh
source scripts/lib/build.sh
build_fraud
brokers=$(scripts/broker.sh start)
trap 'scripts/broker.sh stop' EXIT
export FRAUD_BROKERS=$brokers

echo "== fraud train --data data/sample.csv"
"$fraud" train --data data/sample.csv --model-dir fraud_model
echo
echo "== fraud produce --count 6"
"$fraud" produce --count 6 --topic test
echo
echo "== fraud consume --topic test --exit-at-end"
"$fraud" consume --topic test --model-dir fraud_model --exit-at-end
echo
echo "== fraud read --topic test-scores --exit-at-end"
"$fraud" read --topic test-scores --exit-at-end
