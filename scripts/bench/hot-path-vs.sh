#!/usr/bin/env bash
# The hot-path benches (benches/hot_path.rs) of this checkout against another checkout of the
# project (a git worktree of an earlier commit), alternating, R rounds; the Kaggle schema's
# logistic and gbdt benches that both have. Prints every run; compare medians.
# Usage: scripts/bench/hot-path-vs.sh BASELINE_CHECKOUT [R=3]
set -euo pipefail
cd "$(dirname "$0")/../.."
baseline=$(realpath "$1")
rounds=${2:-3}
filter='hot_path/(logistic|gbdt)/(parse_and_score_one_message|parse_score_and_write_record$|score_one_row)'
for r in $(seq 1 "$rounds"); do
    for build in baseline this; do
        dir=$PWD; [ "$build" = baseline ] && dir=$baseline
        (cd "$dir" && cargo bench --bench hot_path -- --noplot --warm-up-time 1 --measurement-time 3 "$filter" 2>/dev/null) \
            | awk -v b="$build" -v r="$r" '/^hot_path\// {name=$1} /time:/ && name {print b, r, name, $4, $5; name=""}'
    done
done
