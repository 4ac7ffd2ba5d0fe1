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

# The raw flow: transactions with cards, terminals and times, and features from their history.
raw=$(mktemp -d)
trap 'scripts/broker.sh stop; rm -rf "$raw"' EXIT
echo
echo "== fraud simulate: 90 days of 1,000 cards and 2,000 terminals (the Fraud Detection Handbook's generator)"
"$fraud" simulate --customers 1000 --terminals 2000 --days 90 --out "$raw/transactions.csv.gz"
echo
echo "== fraud train --model gbdt --spec examples/handbook.toml --from 2018-05-20 --to 2018-06-10"
"$fraud" train --model gbdt --data "$raw/transactions.csv.gz" --spec examples/handbook.toml \
    --from 2018-05-20 --to 2018-06-10 --model-dir fraud_model_raw
echo
echo "== fraud evaluate --from 2018-06-17 --to 2018-06-24 (the week after the labels' 7-day delay)"
"$fraud" evaluate --data "$raw/transactions.csv.gz" --model-dir fraud_model_raw --from 2018-06-17 --to 2018-06-24
echo
echo "== fraud explain --flagged --from 2018-06-17 --to 2018-06-18 (reasons name the cards' and terminals' history)"
"$fraud" explain --flagged --data "$raw/transactions.csv.gz" --model-dir fraud_model_raw \
    --from 2018-06-17 --to 2018-06-18 > "$raw/explained.txt"
head -n 6 "$raw/explained.txt"
echo
echo "== fraud produce --spec examples/handbook.toml --topic raw --count 30000 (events in time order; labels to raw-labels a week later)"
"$fraud" produce --topic raw --data "$raw/transactions.csv.gz" --spec examples/handbook.toml --count 30000
echo
echo "== fraud read --topic raw-labels --exit-at-end (the first labels)"
"$fraud" read --topic raw-labels --exit-at-end > "$raw/labels.txt"
head -n 3 "$raw/labels.txt"
echo
echo "== fraud consume --topic raw --model-dir fraud_model_raw --exactly-once --exit-at-end (each card's history and the terminals' labels kept in the stream)"
"$fraud" consume --topic raw --model-dir fraud_model_raw --exactly-once --exit-at-end --quiet
echo
echo "== fraud read --topic raw-scores --exit-at-end (the last score records: reasons name behavioural features)"
"$fraud" read --topic raw-scores --exit-at-end > "$raw/scores.txt"
grep '"decline"' "$raw/scores.txt" | tail -n 3 || tail -n 3 "$raw/scores.txt"
