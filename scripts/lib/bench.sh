# Helpers shared by the streaming benchmarks; sourced.

cpu_seconds() { # utime+stime of a pid, in seconds
    [ -n "$1" ] && [ -r "/proc/$1/stat" ] || { echo 0; return; }
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
