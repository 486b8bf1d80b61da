#!/usr/bin/env bash
# End-to-end test of the deployed artefact: the built kms-audit-ingest binary under the Lambda
# runtime API emulator (cargo-lambda), invoked with an SQS event, writing to moto S3 and Glue.
# Slow (starts moto, the emulator and the binary): tests/run calls it once.
# Usage: tests/lambda/run-emulator-test.sh   (uses the debug build; PROFILE=release for release)
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
source tests/env.sh
profile=${PROFILE:-debug}
flag=(); [ "$profile" = release ] && flag=(--release)
cargo build "${flag[@]}" -p lambda --bin kms-audit-ingest -p kms-audit --bin kms-audit >&2
python3 tests/lambda/emulator_test.py \
  --binary "$CARGO_TARGET_DIR/$profile/kms-audit-ingest" --cli "$CARGO_TARGET_DIR/$profile/kms-audit" "$@"
