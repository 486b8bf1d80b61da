#!/usr/bin/env bash
# Benchmark: `kms-audit reconcile` (release) against DuckDB running queries/reconcile/*.sql
# (sqlglot trino -> duckdb) on the same lake, on the same cores, with peak RSS.
#
#   bench/reconcile.sh [EVENTS] [JOBS] [DAYS]        defaults: 10000000 10000 14
#
# Environment: BENCH_CPUS (taskset list, default 0,1), BENCH_RUNS (timed runs per engine,
# default 3; one untimed warm-up run each first), BENCH_DIR (where the lake is generated,
# default $CARGO_TARGET_DIR/bench-reconcile; reused while EVENTS/JOBS/DAYS are unchanged).
#
# The lake is written straight from synthetic Arrow batches through the lake's own Parquet
# writer (crates/reconcile/examples/bench_lake.rs): every kms_events column, the real
# key_id/principal/dt layout, one file per partition-day. Both engines then read the same
# files from a warm page cache: reconcile with --threads 2, DuckDB with SET threads = 2, both
# pinned with taskset to BENCH_CPUS. The DuckDB process reads the expectations tables the
# reconcile run wrote (LAKE/expectations*/), as Athena would. Findings are compared per rule.
set -euo pipefail
cd "$(dirname "$0")/.."
source tests/env.sh

EVENTS=${1:-10000000}
JOBS=${2:-10000}
DAYS=${3:-14}
CPUS=${BENCH_CPUS:-0,1}
RUNS=${BENCH_RUNS:-3}
WORK=${BENCH_DIR:-$CARGO_TARGET_DIR/bench-reconcile}
NCPU=$(awk -F, '{print NF}' <<<"$CPUS")

echo "== building (release)" >&2
nice cargo build --release -q --workspace --bins  # one release build serves every bench script
nice cargo build --release -q -p reconcile --example bench_lake
BIN=$CARGO_TARGET_DIR/release/kms-audit

if [ ! -f "$WORK/bench.json" ] || ! python3 -c "import json,sys; m=json.load(open('$WORK/bench.json')); sys.exit(0 if (m['events'],m['jobs'],m['days'])==($EVENTS,$JOBS,$DAYS) else 1)"; then
  echo "== generating $EVENTS events x $JOBS jobs over $DAYS days into $WORK" >&2
  rm -rf "$WORK"
  mkdir -p "$WORK"
  /usr/bin/time -f "generate: %e s, peak RSS %M KiB" "$CARGO_TARGET_DIR/release/examples/bench_lake" "$WORK" "$EVENTS" "$JOBS" "$DAYS"
fi
LAKE=$WORK/lake
FROM=$(python3 -c "import json; print(json.load(open('$WORK/bench.json'))['from'])")
TO=$(python3 -c "import json; print(json.load(open('$WORK/bench.json'))['to'])")
echo "== lake: $(cat "$WORK/bench.json")" >&2
echo "== lake size: $(du -sh "$LAKE/kms_events" | cut -f1)" >&2

cat > "$WORK/duckdb_reconcile.py" <<'PY'
import json, os, sys, time
sys.path.insert(0, os.path.join(os.getcwd(), "tests", "reconcile"))
import duckdb, sqlglot
import sql_equivalence as se

lake, frm, to, threads, out = sys.argv[1:6]
t_start = time.perf_counter()
params = {"from": se.sql_time(se.parse_time(frm)), "to": se.sql_time(se.parse_time(to)),
          "watermark": se.sql_time(se.parse_time(to)), "slack_seconds": 900, "run_id": "bench"}
queries = [(os.path.basename(f), sqlglot.transpile(se.substitute(open(f).read(), params), read="trino", write="duckdb")[0])
           for f in se.rule_files()]
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
con.execute(f"SET threads = {int(threads)}")
# Spill beside the lake, not into the working directory (at 10M events x 10k jobs DuckDB's
# range joins spilled over 50 GB here and filled the disk).
con.execute(f"SET temp_directory = '{os.path.dirname(os.path.abspath(lake))}/duckdb-spill'")
con.execute(f"CREATE VIEW kms_events AS SELECT * FROM read_parquet('{lake}/kms_events/**/*.parquet', hive_partitioning = true)")
for t in ("expectations", "expectations_allow", "expectations_keys"):
    con.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{lake}/{t}/*.parquet')")
t_q = time.perf_counter()
counts = {}
for name, q in queries:
    tbl = con.sql(q).to_arrow_table()
    for r in tbl.column("rule").to_pylist():
        counts[r] = counts.get(r, 0) + 1
t_end = time.perf_counter()
json.dump({"counts": counts, "query_seconds": t_end - t_q, "total_seconds": t_end - t_start}, open(out, "w"))
PY

measure() { # label outfile cmd...
  local label=$1 log=$2
  shift 2
  /usr/bin/time -v taskset -c "$CPUS" "$@" >"$log.out" 2>"$log.err" || { cat "$log.err" >&2; return 1; }
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/{print $2}' "$log.err" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
  rss=$(awk -F': ' '/Maximum resident set size/{print $2}' "$log.err")
  echo "$label $wall $rss"
}

run_reconcile() {
  measure reconcile "$WORK/reconcile" "$BIN" reconcile --lake "$LAKE" --expectations "$WORK/expectations.json" \
    --from "$FROM" --to "$TO" --watermark "$TO" --slack 15m --threads "$NCPU" --fail-on none \
    --out "$WORK/findings.json" --run-id bench --max-rows 0
}
run_duckdb() {
  measure duckdb "$WORK/duckdb" python3 "$WORK/duckdb_reconcile.py" "$LAKE" "$FROM" "$TO" "$NCPU" "$WORK/duckdb.json"
}

echo "== warm-up (page cache; also writes the expectations tables DuckDB reads)" >&2
run_reconcile >/dev/null
run_duckdb >/dev/null
RESULTS=$WORK/results.txt
: >"$RESULTS"
for i in $(seq "$RUNS"); do
  run_reconcile | tee -a "$RESULTS" >&2
  run_duckdb | tee -a "$RESULTS" >&2
done
grep '^reconcile:' "$WORK/reconcile.err" >&2 || true

python3 - "$RESULTS" "$WORK" <<'PY'
import json, statistics, sys, collections
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    label, wall, rss = line.split()
    rows[label].append((float(wall), int(rss)))
work = sys.argv[2]
rust = collections.Counter(f["rule"] for f in json.load(open(f"{work}/findings.json")))
duck = json.load(open(f"{work}/duckdb.json"))
print("| engine | median wall (s) | runs (s) | peak RSS (MiB) |")
print("|---|---|---|---|")
med = {}
for label in ("reconcile", "duckdb"):
    walls = [w for w, _ in rows[label]]
    med[label] = statistics.median(walls)
    rss = max(r for _, r in rows[label]) / 1024
    print(f"| {label} | {med[label]:.2f} | {', '.join(f'{w:.2f}' for w in walls)} | {rss:.0f} |")
print(f"\nreconcile is {med['duckdb'] / med['reconcile']:.2f}x faster than DuckDB "
      f"(DuckDB query time alone, last run: {duck['query_seconds']:.2f} s)")
print("\nfindings per rule (reconcile / DuckDB):")
for r in sorted(set(rust) | set(duck["counts"])):
    mark = "" if rust.get(r, 0) == duck["counts"].get(r, 0) else "   <-- differs"
    print(f"  {r:22} {rust.get(r, 0):8} {duck['counts'].get(r, 0):8}{mark}")
PY
