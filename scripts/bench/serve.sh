#!/usr/bin/env bash
# Single-row scoring requests against `fraud serve` and `mlflow models serve` (same model type:
# StandardScaler + LogisticRegression on data/sample.csv), and against `fraud serve` with
# gradient-boosted trees (the gbdt defaults, on the full data set when it is beside the repo, else
# data/sample.csv), with wrk on the same machine.
# Alternating runs, medians. Installs wrk (Debian) and MLflow (PyPI, into the scripts' cached
# venv) on first use.
# Usage: scripts/bench/serve.sh [runs=3] [seconds=15] [connections=16]
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-3}; secs=${2:-15}; conns=${3:-16}
# shellcheck source=scripts/lib/build.sh
source scripts/lib/build.sh
build_fraud
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; } >&2
# shellcheck source=scripts/lib/python.sh
source scripts/lib/python.sh
py_venv mlflow scikit-learn pandas
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

"$fraud" train --csv data/sample.csv --model-dir "$work/fraud_model" --json > /dev/null
# The gbdt default as a user gets it: trained on the full data when it is here (160 trees).
gbdt_csv=../shared/data/creditcard.csv.gz
[ -f "$gbdt_csv" ] || gbdt_csv=data/sample.csv
"$fraud" train --model gbdt --csv "$gbdt_csv" --model-dir "$work/fraud_gbdt" --json > /dev/null
"$py" scripts/bench/serve.py data/sample.csv "$work/mlflow_model"

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
fport=$(port); mport=$(port); gport=$(port)
"$fraud" serve --model-dir "$work/fraud_model" --port "$fport" --quiet &
pids+=($!)
"$fraud" serve --model-dir "$work/fraud_gbdt" --port "$gport" --quiet &
pids+=($!)
(cd "$work" && PATH="$PY_VENV/bin:$PATH" exec "$PY_VENV/bin/mlflow" models serve -m "$work/mlflow_model" --env-manager local -h 127.0.0.1 -p "$mport" > "$work/mlflow.log" 2>&1) &
pids+=($!)
for p in "$fport" "$mport" "$gport"; do
    for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$p/ping" > /dev/null && break; sleep 0.5; done
done

# The first row of creditcard.csv, as the tutorial sent it, and in MLflow's current layout.
row='[-1.3598071336738,-0.0727811733098497,2.53634673796914,1.37815522427443,-0.338320769942518,0.462387777762292,0.239598554061257,0.0986979012610507,0.363786969611213,0.0907941719789316,-0.551599533260813,-0.617800855762348,-0.991389847235408,-0.311169353699879,1.46817697209427,-0.470400525259478,0.207971241929242,0.0257905801985591,0.403992960255733,0.251412098239705,-0.018306777944153,0.277837575558899,-0.110473910188767,0.0669280749146731,0.128539358273528,-0.189114843888824,0.133558376740387,-0.0210530534538215,149.62]'
cols='["V1","V2","V3","V4","V5","V6","V7","V8","V9","V10","V11","V12","V13","V14","V15","V16","V17","V18","V19","V20","V21","V22","V23","V24","V25","V26","V27","V28","Amount"]'
legacy="{\"columns\":$cols,\"data\":[$row]}"
split="{\"dataframe_split\":{\"columns\":$cols,\"data\":[$row]}}"
echo "tutorial body -> fraud:  $(curl -s -w ' (HTTP %{http_code})' -H 'Content-Type: application/json' -d "$legacy" "http://127.0.0.1:$fport/invocations")" >&2
echo "tutorial body -> mlflow: $(curl -s -w ' (HTTP %{http_code})' -H 'Content-Type: application/json' -d "$legacy" "http://127.0.0.1:$mport/invocations" | cut -c1-160)" >&2
echo "split body    -> mlflow: $(curl -s -w ' (HTTP %{http_code})' -H 'Content-Type: application/json' -d "$split" "http://127.0.0.1:$mport/invocations")" >&2

cat > "$work/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '$split'
LUA
bench() { # port -> "requests_per_s p99_ms non2xx"
    wrk -t2 -c"$conns" -d"${secs}s" --latency -s "$work/post.lua" "http://127.0.0.1:$1/invocations" > "$work/wrk.txt"
    python3 - "$work/wrk.txt" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
m = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", t)
p99 = float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
print(rps, p99, int(bad.group(1)) if bad else 0)
PY
}
results=()
for i in $(seq 1 "$runs"); do
    f=$(bench "$fport"); m=$(bench "$mport"); g=$(bench "$gport")
    echo "run $i: fraud $f | mlflow $m | fraud gbdt $g" >&2
    results+=("$f|$m|$g")
done
python3 - "$conns" "$secs" "${results[@]}" <<'PY'
import json, statistics, sys
conns, secs = int(sys.argv[1]), int(sys.argv[2])
runs = [[list(map(float, side.split())) for side in r.split("|")] for r in sys.argv[3:]]
med = lambda side, i: statistics.median(r[side][i] for r in runs)
out = {
    "connections": conns, "seconds_per_run": secs, "runs": len(runs),
    "fraud_serve": {"requests_per_s": med(0, 0), "p99_ms": med(0, 1), "non_2xx": sum(r[0][2] for r in runs)},
    "mlflow_serve": {"requests_per_s": med(1, 0), "p99_ms": med(1, 1), "non_2xx": sum(r[1][2] for r in runs)},
    "fraud_serve_gbdt": {"requests_per_s": med(2, 0), "p99_ms": med(2, 1), "non_2xx": sum(r[2][2] for r in runs)},
    "runs_requests_per_s": {"fraud": [r[0][0] for r in runs], "mlflow": [r[1][0] for r in runs], "fraud_gbdt": [r[2][0] for r in runs]},
}
out["ratio_requests_per_s"] = out["fraud_serve"]["requests_per_s"] / out["mlflow_serve"]["requests_per_s"]
out["gbdt_over_logistic_requests_per_s"] = out["fraud_serve_gbdt"]["requests_per_s"] / out["fraud_serve"]["requests_per_s"]
print(json.dumps(out, indent=2))
PY
