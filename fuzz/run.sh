#!/usr/bin/env bash
# Runs each cargo-fuzz target for SECONDS (default 60) on the stable toolchain
# (RUSTC_BOOTSTRAP=1 unlocks the nightly-only flags cargo-fuzz passes; no sanitizer, whose
# runtime stable does not ship for -Zsanitizer). Seeds come from the repository's real inputs.
# Usage: fuzz/run.sh [SECONDS] [TARGET...]     (needs `cargo fuzz`: see tests/reliability/README.md)
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(cloudtrail_record digest envelope_metadata)
cache=${KMS_AUDIT_CACHE:-$HOME/.cache/kms-audit}
export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-$cache/target-fuzz}
export RUSTC_BOOTSTRAP=1
export PATH="$cache/tools/bin:$PATH"
corpus=$cache/fuzz-corpus
mkdir -p "$corpus"/{cloudtrail_record,digest,envelope_metadata}
cp ../tests/data/cloudtrail/kms-examples.json "$corpus/cloudtrail_record/"
gzip -c ../tests/data/cloudtrail/kms-examples.json > "$corpus/cloudtrail_record/kms-examples.json.gz"
cp ../crates/trail/tests/data/digest/digest-*.json ../crates/trail/tests/data/digest/public-keys.json "$corpus/digest/"
for f in ../crates/trail/tests/data/digest/digest-*.json; do gzip -c "$f" > "$corpus/digest/$(basename "$f").gz"; done
python3 - "$corpus/envelope_metadata" <<'PY'
import json, sys, pathlib
out = pathlib.Path(sys.argv[1])
for name in ("simple", "s3ec-v2"):
    for i, case in enumerate(json.load(open(f"../crates/envelope/tests/vectors/{name}.json"))["cases"]):
        (out / f"{name}-{i}.json").write_text(json.dumps({"metadata": case["metadata"]}))
        (out / f"{name}-{i}.txt").write_text("".join(f"{k}={v}\n" for k, v in case["metadata"].items()))
PY
for t in "${targets[@]}"; do
  echo "== $t: ${secs}s" >&2
  cargo fuzz run --sanitizer none "$t" "$corpus/$t" -- -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 -print_final_stats=1 2>&1 \
    | grep -E "^(#[0-9]+ +(DONE|INITED)|Done|==[0-9]+== ERROR|SUMMARY|.*panicked|artifact_prefix|Test unit written|stat::)" || true
  [ "${PIPESTATUS[0]}" = 0 ] || { echo "fuzz/run.sh: $t FAILED" >&2; exit 1; }
done
