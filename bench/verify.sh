#!/usr/bin/env bash
# Benchmark of `kms-audit verify` against the moto server (S3 + KMS): N sampled objects of
# SIZE bytes in the simple envelope format, written by the independent Python producer, verified
# with a concurrency bound; reports objects/s and the largest number of objects in flight.
#
#   bench/verify.sh [N=1000] [SIZE=65536] [CONCURRENCY=8]
#
# CONCURRENCY may be a comma-separated list (e.g. 1,8,32): one verify run each, same objects.
# Uses $KMS_AUDIT_BIN when set, else builds `kms-audit` in release mode (CARGO_TARGET_DIR is
# honoured). Needs the test venv (tests/env.sh: moto_server, boto3, cryptography).
set -euo pipefail
N=${1:-1000}
SIZE=${2:-65536}
CONCURRENCY=${3:-8}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
_target=${CARGO_TARGET_DIR:-}
# shellcheck source=/dev/null
source "$repo/tests/env.sh"
[ -n "$_target" ] && export CARGO_TARGET_DIR=$_target

if [ -z "${KMS_AUDIT_BIN:-}" ]; then
  (cd "$repo" && cargo build --release --workspace --bins >&2)
  KMS_AUDIT_BIN=$CARGO_TARGET_DIR/release/kms-audit
fi

work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
moto_server -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
moto_pid=$!
trap 'kill $moto_pid 2>/dev/null || true; rm -rf "$work"' EXIT
export AWS_ENDPOINT_URL=http://127.0.0.1:$port AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
  AWS_SESSION_TOKEN=testing AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true \
  KMS_AUDIT_S3_FORCE_PATH_STYLE=true
python3 - <<'EOF'
import os, time, urllib.request
for _ in range(300):
    try:
        urllib.request.urlopen(os.environ["AWS_ENDPOINT_URL"] + "/moto-api/data.json", timeout=2)
        break
    except Exception:
        time.sleep(0.1)
EOF

key=$(python3 - <<'EOF'
import boto3
print(boto3.client("kms").create_key(Description="verify bench")["KeyMetadata"]["Arn"])
EOF
)
echo "producing $N objects of $SIZE bytes under s3://bench/data/ ..." >&2
t0=$(date +%s)
python3 "$repo/tests/envelope/produce_s3_simple.py" --bucket bench --prefix data/ --key-id "$key" \
  --count "$N" --size "$SIZE" >/dev/null
echo "produced in $(( $(date +%s) - t0 )) s" >&2

for c in ${CONCURRENCY//,/ }; do
  "$KMS_AUDIT_BIN" verify s3://bench/data/ --sample "$N" --seed 1 --expect-key "$key" \
    --concurrency "$c" --json --out "$work/report.json" >/dev/null 2>"$work/verify.err" || { cat "$work/verify.err" >&2; exit 1; }
  python3 - "$work/report.json" "$N" "$SIZE" "$c" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
run, s = r["run"], r["summary"]
assert s["total"] == int(sys.argv[2]) and s["ok"] == s["total"], s
assert run["max_in_flight"] <= int(sys.argv[4]), run
mib = s["total"] * int(sys.argv[3]) / 2**20
print(f"verify: {s['total']} objects of {sys.argv[3]} B, concurrency {run['concurrency']} "
      f"(max in flight {run['max_in_flight']}): {run['elapsed_ms']/1000:.2f} s, "
      f"{run['objects_per_sec']:.1f} objects/s, {mib / (run['elapsed_ms']/1000):.1f} MiB/s, all ok")
EOF
done
