#!/usr/bin/env bash
# Checks the deployment files: the Kubernetes manifests against the Kubernetes API schemas
# (kubernetes-validate, installed with pip if missing), the compose file with `docker compose
# config` where Docker is installed (else parsed and checked with python3-yaml). What cannot
# run here is said, not failed.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v kubernetes-validate >/dev/null 2>&1; then
    if command -v pip >/dev/null 2>&1 || command -v pip3 >/dev/null 2>&1; then
        "$(command -v pip || command -v pip3)" install --quiet kubernetes-validate \
            || echo "could not install kubernetes-validate"
    fi
fi
if command -v kubernetes-validate >/dev/null 2>&1; then
    kubernetes-validate --strict kubernetes/*.yaml
else
    echo "kubernetes manifests: skipped (no kubernetes-validate and no pip to install it)"
fi

if command -v docker >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then
    mkdir -p secrets
    [ -f secrets/cluster ] || head -c 32 /dev/urandom | base64 > secrets/cluster
    [ -f secrets/token ] || head -c 32 /dev/urandom | base64 | tr -d '=+/' > secrets/token
    docker compose -f compose.yaml config --quiet && echo "compose.yaml: valid"
elif python3 -c "import yaml" >/dev/null 2>&1; then
    python3 -c '
import yaml
doc = yaml.safe_load(open("compose.yaml"))
assert set(doc["services"]) == {"n1", "n2", "n3"}, doc["services"].keys()
for name, svc in doc["services"].items():
    env = svc["environment"]
    assert env["CALM_NAME"] == name, (name, env)
    peers = [p.split("=")[0] for p in env["CALM_PEERS"].split(",")]
    assert name not in peers and len(peers) == 2, (name, peers)
print("compose.yaml: parsed and checked (no Docker with the compose plugin here)")
'
else
    echo "compose.yaml: skipped (neither Docker with the compose plugin nor python3-yaml is installed)"
fi
