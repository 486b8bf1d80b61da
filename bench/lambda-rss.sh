#!/usr/bin/env bash
# Peak RSS of the ingest Lambda binary (release) under the Lambda runtime API emulator for one
# SQS batch of 10 messages, each announcing a ~5 MB (compressed) CloudTrail log file in moto S3.
# Prints one JSON line (peak_rss_kb is the process's VmHWM).
# Usage: bench/lambda-rss.sh [FILES=10] [RECORDS_PER_FILE=40000] [MEMORY_MB=256]
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
source tests/env.sh
files=${1:-10}
per_file=${2:-40000}
memory=${3:-256}
cargo build --release --workspace --bins >&2  # one release build serves every bench script
python3 tests/lambda/emulator_test.py --bench --files "$files" --records-per-file "$per_file" --memory-mb "$memory" \
  --binary "$CARGO_TARGET_DIR/release/kms-audit-ingest" --cli "$CARGO_TARGET_DIR/release/kms-audit"
