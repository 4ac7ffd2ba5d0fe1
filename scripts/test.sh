#!/usr/bin/env bash
# Runs every check: installs what the build and the tests need, checks the format (cargo fmt) and
# the lints (clippy, warnings are errors), lints docker-compose.yml, builds, starts a local broker
# (scripts/broker.sh), runs the unit and integration tests against it, stops it. Extra arguments
# go to cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/build.sh
source scripts/lib/build.sh
scripts/deps.sh test
cargo fmt --check
# --release, as the build below: the two share the dependencies' build scripts (librdkafka).
cargo clippy --release --all-targets -- -D warnings
scripts/lint-compose.sh
build_fraud --all-targets
FRAUD_DURABLE_TANSU=$(scripts/broker.sh durable-bin)
FRAUD_NISSHI=$(scripts/broker.sh secure-bin)
export FRAUD_DURABLE_TANSU FRAUD_NISSHI
brokers=$(scripts/broker.sh start)
trap 'scripts/broker.sh stop' EXIT
echo "test: broker at $brokers" >&2
# --include-ignored: the slow fault-tolerance tests (kill -9 rounds, soak) run here too.
FRAUD_TEST_BROKERS=$brokers cargo test --release "$@" -- --include-ignored
