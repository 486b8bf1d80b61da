#!/usr/bin/env bash
# Files and partitions per day for a stated workload, before and after compaction.
# Workload: one account and region delivering a CloudTrail log file every 5 minutes (288 files
# a day), RECORDS records a day of which 60% are KMS calls (synth: 8 keys, 12 roles plus AWS
# services), each file arriving alone in its SQS batch (the worst case for file count: a 120 s
# batching window rarely holds two files of one trail). Each file is ingested by its own
# `kms-audit ingest` run — one `Ingestor::ingest` call, as the Lambda makes per batch — then
# `kms-audit compact` runs once. Prints one JSON line.
# Usage: bench/lambda-files-per-day.sh [RECORDS=300000] [FILES=288]
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
source tests/env.sh
records=${1:-300000}
files=${2:-288}
cargo build --release --workspace --bins >&2  # one release build serves every bench script
bin="$CARGO_TARGET_DIR/release/kms-audit"
python3 - "$bin" "$records" "$files" <<'PY'
import collections, json, os, shutil, subprocess, sys, tempfile, time
bin, records, files = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
work = tempfile.mkdtemp(prefix="kms-audit-files-per-day-")
try:
    trail, lake = os.path.join(work, "trail"), os.path.join(work, "lake")
    subprocess.run([bin, "generate-trail", "--out", trail, "--records", str(records), "--files", str(files), "--days", "1"],
                   check=True, stderr=subprocess.DEVNULL)
    paths = sorted(os.path.join(r, n) for r, _, ns in os.walk(trail) for n in ns)
    t0 = time.time()
    for p in paths:
        subprocess.run([bin, "ingest", p, "--lake", lake], check=True, stderr=subprocess.DEVNULL)
    ingest_s = time.time() - t0
    def count():
        per_day_files, per_day_parts = collections.Counter(), collections.defaultdict(set)
        for r, _, ns in os.walk(os.path.join(lake, "kms_events")):
            for n in ns:
                if n.endswith(".parquet"):
                    dt = [s for s in r.split(os.sep) if s.startswith("dt=")][0][3:]
                    per_day_files[dt] += 1
                    per_day_parts[dt].add(r)
        main = max(per_day_files, key=per_day_files.get)
        return main, per_day_files[main], len(per_day_parts[main]), dict(per_day_files)
    day, before_files, partitions, all_before = count()
    t0 = time.time()
    out = subprocess.run([bin, "compact", "--json", "--lake", lake], check=True, capture_output=True, text=True)
    compact_s = time.time() - t0
    _, after_files, _, all_after = count()
    summary = json.loads(out.stdout)
    print(json.dumps({
        "log_files_per_day": len(paths), "records_per_day": records, "day": day,
        "partitions_per_day": partitions, "lake_files_per_day_before_compaction": before_files,
        "lake_files_per_day_after_compaction": after_files,
        "files_per_partition_before": round(before_files / partitions, 1),
        "rows": summary["output_rows"], "ingest_seconds_all_runs": round(ingest_s, 1),
        "compact_seconds": round(compact_s, 2), "other_days_before": {k: v for k, v in all_before.items() if k != day},
    }))
finally:
    shutil.rmtree(work, ignore_errors=True)
PY
