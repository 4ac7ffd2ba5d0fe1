# shellcheck shell=bash
# Helpers shared by the streaming benchmarks (scripts/bench/); sourced.

broker_pid() { # the pid of the broker scripts/broker.sh started (empty for none, or Docker's)
    cat "${FRAUD_BROKER_STATE:-.cache/broker}/pid" 2>/dev/null || true
}

cpu_seconds() { # utime+stime of a pid, in seconds (0 for no pid)
    if [ -z "$1" ] || [ ! -r "/proc/$1/stat" ]; then echo 0; return; fi
    awk -v hz="$(getconf CLK_TCK)" '{print ($14+$15)/hz}' "/proc/$1/stat"
}

# Runs a command, polling its peak RSS; prints "<stdout> <peak_rss_kib>".
with_peak_rss() {
    local out; out=$(mktemp)
    "$@" > "$out" &
    local pid=$! peak=0 rss
    while kill -0 "$pid" 2>/dev/null; do
        rss=$(awk '/VmHWM/{print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
        [ -n "$rss" ] && [ "$rss" -gt "$peak" ] && peak=$rss
        sleep 0.1
    done
    wait "$pid"
    echo "$(cat "$out") $peak"
    rm -f "$out"
}
