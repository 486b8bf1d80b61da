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
# The whole workspace, as tests/run builds it: building single packages unifies features
# differently and would rebuild the AWS SDK crates.
cargo build "${flag[@]}" --workspace --bins >&2
python3 tests/lambda/emulator_test.py \
  --binary "$CARGO_TARGET_DIR/$profile/kms-audit-ingest" --cli "$CARGO_TARGET_DIR/$profile/kms-audit" "$@"
