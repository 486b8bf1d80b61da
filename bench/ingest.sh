#!/usr/bin/env bash
# Times `kms-audit ingest` against two peers on the same generated trail and the same cores:
# DuckDB (read_json auto-detect → unnest → COPY PARTITION_BY) and a Python+pyarrow converter,
# plus one-core `zcat` of the same files as a floor. Prints wall times, ratios and peak RSS
# (GNU time), then the peak RSS of ingesting one ≥300 MB (decompressed) log file.
#
# Usage: bench/ingest.sh [RECORDS] [FILES]    (defaults 100000 records in 100 files)
# Needs: a release build (built here), the test venv (tests/env.sh), /usr/bin/time.
set -euo pipefail
cd "$(dirname "$0")/.."
source tests/env.sh
RECORDS=${1:-100000}
FILES=${2:-100}
CORES=${BENCH_CORES:-2}
work=${BENCH_DIR:-$KMS_AUDIT_CACHE/bench-ingest}
cargo build --release --workspace --bins >&2  # one release build serves every bench script
bin="$CARGO_TARGET_DIR/release/kms-audit"
mkdir -p "$work"

trail="$work/trail-$RECORDS-$FILES"
if [ ! -d "$trail" ]; then
  "$bin" generate-trail --out "$trail" --records "$RECORDS" --files "$FILES" --seed 1 2>&1 | tail -1
fi
json_bytes=$(find "$trail" -name '*.json.gz' -print0 | xargs -0 cat | zcat | wc -c)
gz_bytes=$(du -sb "$trail" | cut -f1)
echo "trail: $RECORDS records in $FILES files, $json_bytes bytes of JSON ($gz_bytes gzip), $CORES cores"

# run NAME CMD...: wall seconds and peak RSS (KiB) into $NAME_wall / $NAME_rss
run() {
  local name=$1; shift
  rm -rf "$work/out-$name"
  sync
  /usr/bin/time -f "%e %M" -o "$work/time-$name" taskset -c 0-$((CORES - 1)) "$@" >/dev/null 2>"$work/log-$name" || {
    echo "$name failed:"; cat "$work/log-$name"; exit 1; }
  read -r wall rss < "$work/time-$name"
  printf '%-10s %7.2f s  %8.1f MiB peak RSS\n' "$name" "$wall" "$(echo "$rss / 1024" | bc -l)"
  eval "${name}_wall=$wall"
}

run zcat taskset -c 0 sh -c "find '$trail' -name '*.json.gz' -print0 | xargs -0 cat | zcat > /dev/null"
run kmsaudit "$bin" ingest "$trail" --lake "$work/out-kmsaudit"
run duckdb python3 bench/peers/duckdb_ingest.py "$trail" "$work/out-duckdb" "$CORES"
run pyarrow python3 bench/peers/pyarrow_ingest.py "$trail" "$work/out-pyarrow"

ratio() { echo "scale=2; $1 / $2" | bc -l; }
echo "kms-audit: $(ratio "$duckdb_wall" "$kmsaudit_wall")x faster than DuckDB, $(ratio "$pyarrow_wall" "$kmsaudit_wall")x faster than pyarrow, $(ratio "$kmsaudit_wall" "$zcat_wall")x the wall time of one-core zcat"
echo "throughput: $(echo "scale=1; $json_bytes / $kmsaudit_wall / 1000000" | bc -l) MB/s of JSON"

# One large file: memory must stay flat however big a file is.
big="$work/big"
if [ ! -d "$big" ]; then
  "$bin" generate-trail --out "$big" --records 240000 --files 1 --seed 2 2>&1 | tail -1
fi
big_bytes=$(find "$big" -name '*.json.gz' -print0 | xargs -0 cat | zcat | wc -c)
echo "one log file of $big_bytes bytes decompressed:"
run bigfile "$bin" ingest "$big" --lake "$work/out-bigfile"
