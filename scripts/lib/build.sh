# shellcheck shell=bash
# The scripts' one build step; sourced.
#
#   build_fraud [FLAG...]  installs what the build needs (scripts/deps.sh), then builds the
#                          release profile once, `cargo build --release FLAG...` (--all-targets
#                          for scripts that run cargo test, --benches for those that run cargo
#                          bench, which build the binary as well); then $fraud is the binary.
#
# Every script builds through this, with the release profile, so they share one build: the
# bundled librdkafka and the rest of the dependencies are compiled once for all of them (and
# `cargo clippy --release` in scripts/test.sh reuses the build scripts' output, librdkafka's
# CMake build above all).

build_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# Its arguments are cargo's, not the calling script's (SC2120); $fraud is for the caller (SC2034).
# shellcheck disable=SC2120,SC2034
build_fraud() {
    "$build_root/scripts/deps.sh"
    cargo build --release --manifest-path "$build_root/Cargo.toml" "$@"
    fraud=$build_root/target/release/fraud
}
