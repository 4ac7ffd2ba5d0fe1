#!/usr/bin/env bash
# What the local broker (Tansu 0.6) does with transactions and group sessions, against what
# Apache Kafka does: the measured reasons behind the exactly-once tests' broker notes and the
# README's guarantees table. One JSON line per check.
#
#   transactions  a transaction commits at all (on SQLite storage it does not: no EndTxn)
#   aborted  an aborted transaction's records reach a read_committed client
#   open     an open transaction's records reach a read_committed client
#   zombie   a transactional offset commit from an old group generation is accepted (KIP-447)
#   epoch    a new producer with the same transactional.id does not fence the old one's
#            open transaction (KIP-98)
#   timeout  a transaction open past transaction.timeout.ms still commits
#            (with zombie and epoch: no broker-side fence for a frozen consumer's late commit)
#   ghost    after a member's session expires, a member joining later gets no assignment
#   leave    after two members leave at once (SIGTERM), a member joining later gets no assignment
#
# Usage: scripts/broker-limits.sh        (needs the durable Tansu for the SQLite checks:
#                                        scripts/broker.sh durable-bin builds it once)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/build.sh
source scripts/lib/build.sh
build_fraud
# shellcheck source=scripts/lib/python.sh
source scripts/lib/python.sh
py_venv confluent-kafka
check() { "$py" scripts/broker-limits.py "$@"; }

brokers=$(scripts/broker.sh start)
trap 'scripts/broker.sh stop; [ -n "${durable_pid:-}" ] && kill "$durable_pid" 2>/dev/null; rm -rf "${tmp:-}"' EXIT
echo "memory storage ($brokers):" >&2
check "$brokers" transactions
check "$brokers" aborted
check "$brokers" open
check "$brokers" zombie
check "$brokers" epoch
check "$brokers" timeout

# Two consumers of a group share a 2-partition topic while a stream flows; then, $1 of the
# members ("freeze": one frozen past its session and thawed, then both stopped; "leave": both
# stopped at once with SIGTERM). A member joining the group afterwards should get every partition.
group_check() {
    local topic=limits-group-$RANDOM$RANDOM
    "$py" -c "
from confluent_kafka.admin import AdminClient, NewTopic
a = AdminClient({'bootstrap.servers': '$brokers'})
[f.result() for f in a.create_topics([NewTopic('$topic', 2, 1)]).values()]"
    local pids=()
    for _ in a b; do
        "$fraud" consume -b "$brokers" --topic "$topic" --group "g-$topic" --model-dir "$tmp/model" --quiet \
            -X session.timeout.ms=4000 -X heartbeat.interval.ms=1000 > /dev/null 2>&1 &
        pids+=($!)
    done
    "$fraud" produce -b "$brokers" --topic "$topic" --count 3000 --rate 250 --quiet > /dev/null &
    local producer=$!
    sleep 8
    if [ "$1" = freeze ]; then
        kill -STOP "${pids[0]}"; sleep 7; kill -CONT "${pids[0]}"; sleep 3
    fi
    kill -TERM "${pids[@]}"; wait "${pids[@]}" 2>/dev/null || true
    kill "$producer" 2>/dev/null || true
    local what="a member's session expired and both left"
    [ "$1" = leave ] && what="two members left at once"
    check "$brokers" join "$topic" "g-$topic" "$what"
}
tmp=$(mktemp -d)
"$fraud" train --csv data/sample.csv --model-dir "$tmp/model" --json > /dev/null
group_check freeze   # ghost
for _ in 1 2 3; do group_check leave; done

bin=$(scripts/broker.sh durable-bin)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(cd "$tmp" && exec "$bin" broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
    --storage-engine sqlite://tansu.db > tansu.log 2>&1) &
durable_pid=$!
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.2; done
echo "SQLite storage (127.0.0.1:$port):" >&2
# Tansu 0.6.0 as published has no EndTxn: no transaction can commit or abort there, so the
# other transaction checks have nothing to measure on this storage.
line=$(check "127.0.0.1:$port" transactions)
echo "$line"
if [[ $line == *'"conforms": true'* ]]; then
    check "127.0.0.1:$port" aborted
    check "127.0.0.1:$port" open
fi
