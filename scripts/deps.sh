#!/usr/bin/env bash
# Installs the system packages the build needs, where missing (Debian/Ubuntu); with `test`, also
# what the tests need. Usage: scripts/deps.sh [test]
# For the build:
# - build-essential, cmake, pkg-config: the bundled librdkafka is built with CMake;
# - libssl-dev, libsasl2-dev, zlib1g-dev: librdkafka's TLS, SASL and compression;
# - libcurl4-openssl-dev: only curl's *header*. librdkafka 2.12's CMake writes
#   `#define WITH_OAUTHBEARER_OIDC 0` (a cmakedefine01) and rdkafka_conf.c tests it with #ifdef,
#   so with TLS on it includes <curl/curl.h> even though the build passes -DWITH_CURL=0 and
#   links no curl. Without the header a fresh machine stops in rdkafka-sys;
# - libblis-dev: the BLAS behind ndarray's matrix products (see Cargo.toml);
# - python3-venv: the local broker (Tansu) and the benchmark tools install into one venv
#   (scripts/lib/python.sh).
# For the tests:
# - chromium: renders the HTML reports headless (tests/report.rs);
# - npm, if absent: fetches the compose-spec schema for scripts/lint-compose.sh;
# - rustfmt and clippy (rustup components), if absent: scripts/test.sh checks the format and the
#   lints before the tests.
set -euo pipefail
packages=(build-essential cmake pkg-config libssl-dev libsasl2-dev zlib1g-dev libcurl4-openssl-dev libblis-dev
          python3-venv)
[ "${1:-}" = test ] && packages+=(chromium)
missing=()
for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${1:-}" = test ]; then
    command -v npm >/dev/null 2>&1 || missing+=(npm)
fi
if [ ${#missing[@]} -gt 0 ]; then
    echo "deps: installing ${missing[*]}" >&2
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >&2
fi
command -v cargo >/dev/null || { echo "deps: cargo not found; install Rust (rustup) first" >&2; exit 1; }
if [ "${1:-}" = test ]; then
    for component in rustfmt clippy; do
        subcommand=${component/rustfmt/fmt}
        if ! cargo "$subcommand" --version >/dev/null 2>&1; then
            echo "deps: installing $component" >&2
            rustup component add "$component" >&2
        fi
    done
fi
