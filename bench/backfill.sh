#!/usr/bin/env bash
# Backfill benchmark: N CloudTrail log files in moto S3 → `kms-audit ingest s3://… --lake s3://…`
# (release build). Reports events/s and how busy the cores were (kms-audit's CPU time / wall
# time / cores, and moto's, which serves the objects on the same machine).
# Usage: bench/backfill.sh [FILES=1000] [RECORDS_PER_FILE=2000] [CONCURRENCY=32]
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
source tests/env.sh
files=${1:-1000}
per_file=${2:-2000}
concurrency=${3:-32}
cargo build --release --workspace --bins >&2  # one release build serves every bench script
bin="$CARGO_TARGET_DIR/release/kms-audit"
python3 - "$bin" "$files" "$per_file" "$concurrency" <<'PY'
import atexit, json, os, resource, shutil, subprocess, sys, tempfile, time
from concurrent.futures import ThreadPoolExecutor
import boto3
from botocore.config import Config

bin, files, per_file, concurrency = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
work = tempfile.mkdtemp(prefix="kms-audit-backfill-")
atexit.register(shutil.rmtree, work, ignore_errors=True)
sys.path.insert(0, "tests")
from moto_server import aws_env, moto_process
with moto_process() as (endpoint, moto):
    env = aws_env(endpoint)
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                      aws_secret_access_key="testing", config=Config(s3={"addressing_style": "path"}, max_pool_connections=16))
    for b in ("trail", "lake"):
        s3.create_bucket(Bucket=b)
    trail = os.path.join(work, "trail")
    subprocess.run([bin, "generate-trail", "--out", trail, "--files", str(files), "--records", str(files * per_file), "--days", "7"],
                   check=True, env=env)
    paths = [os.path.join(r, n) for r, _, ns in os.walk(trail) for n in ns]
    def put(p):
        with open(p, "rb") as f:
            s3.put_object(Bucket="trail", Key=os.path.relpath(p, trail), Body=f.read())
    with ThreadPoolExecutor(16) as ex:
        list(ex.map(put, paths))
    compressed = sum(os.path.getsize(p) for p in paths)
    def cpu_of(pid):
        with open("/proc/%d/stat" % pid) as f:
            parts = f.read().rsplit(")", 1)[1].split()
        return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")
    m0 = cpu_of(moto.pid)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.time()
    out = subprocess.run([bin, "ingest", "--json", "s3://trail/AWSLogs/", "--lake", "s3://lake/bench",
                          "--concurrency", str(concurrency)], capture_output=True, text=True, env=env)
    wall = time.time() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    m1 = cpu_of(moto.pid)
    if out.returncode != 0:
        sys.exit("ingest failed: " + out.stderr)
    summary = json.loads(out.stdout)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    cores = os.cpu_count()
    result = {
        "files": len(paths), "compressed_mb": round(compressed / 1e6, 1), "records": summary["records"],
        "kms_events": summary["kms_events"], "rows": summary["rows"], "output_files": summary["output_files"],
        "seconds": round(wall, 2), "events_per_s": round(summary["kms_events"] / wall),
        "records_per_s": round(summary["records"] / wall), "files_per_s": round(len(paths) / wall, 1),
        "kms_audit_cpu_s": round(cpu, 2), "moto_cpu_s": round(m1 - m0, 2), "cores": cores,
        "kms_audit_core_utilisation": round(cpu / wall / cores, 2),
        "total_core_utilisation": round((cpu + m1 - m0) / wall / cores, 2),
        "concurrency": concurrency, "peak_rss_mb": round(after.ru_maxrss / 1024),
    }
    print(json.dumps(result))
PY
