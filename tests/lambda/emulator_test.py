#!/usr/bin/env python3
"""The BUILT ingest Lambda binary under the Lambda runtime API emulator, writing to moto S3.

Starts `moto_server` (S3 + Glue) and `cargo lambda watch --only-lambda-apis` (the runtime API
emulator), runs the prebuilt `kms-audit-ingest` binary against the emulator the way the
`provided.al2023` runtime does (AWS_LAMBDA_RUNTIME_API, …), and invokes it with
`cargo lambda invoke` and an SQS event carrying S3 notifications. Checks the response
(`batchItemFailures`), the lake objects in S3, the Glue partitions, the quarantine entry, the
JSON logs, and that replaying the batch changes nothing.

With --bench it instead measures the peak RSS (VmHWM) of the binary for one batch of large
log files and prints one JSON line; see bench/lambda-rss.sh.

Usage: emulator_test.py --binary PATH --cli PATH [--bench --files N --records-per-file R]
"""

import argparse
import contextlib
import gzip
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

import boto3
from botocore.config import Config

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from moto_server import aws_env, free_port, running_moto  # noqa: E402  (tests/ is not a package)

TRAIL = "trail-bucket"
LAKE = "lake-bucket"
REGION = "us-east-1"


def wait_http(url, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except urllib.error.HTTPError:
            return  # it answers
        except Exception:
            time.sleep(0.2)
    raise RuntimeError("%s did not answer within %ss" % (url, timeout))


def wait_port(port, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError("port %d not listening within %ss" % (port, timeout))


class Procs:
    def __init__(self):
        self.procs = []
        self.contexts = contextlib.ExitStack()

    def enter(self, context):
        """Enters a context (a server) that stop_all leaves."""
        return self.contexts.enter_context(context)

    def start(self, args, **kw):
        p = subprocess.Popen(args, start_new_session=True, **kw)
        self.procs.append(p)
        return p

    def stop(self, p):
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()

    def stop_all(self):
        for p in reversed(self.procs):
            self.stop(p)
        self.contexts.close()


def s3_notification(key, size, etag, message_id):
    encoded = urllib.parse.quote_plus(key, safe="/")
    body = {"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": REGION,
        "eventTime": "2025-03-10T12:05:00.000Z", "eventName": "ObjectCreated:Put",
        "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": TRAIL, "arn": "arn:aws:s3:::" + TRAIL},
               "object": {"key": encoded, "size": size, "eTag": etag}},
    }]}
    return sqs_message(message_id, json.dumps(body))


def sqs_message(message_id, body):
    return {
        "messageId": message_id, "receiptHandle": "rh-" + message_id, "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1741608300000",
                       "SenderId": "AIDAEXAMPLE", "ApproximateFirstReceiveTimestamp": "1741608300001"},
        "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:%s:111122223333:kms-audit-ingest" % REGION, "awsRegion": REGION,
    }


def glue_table(glue, location):
    cols = [("event_id", "string"), ("event_time", "timestamp"), ("event_name", "string"),
            ("source_object", "string")]  # enough for partition registration (descriptor copy)
    glue.create_database(DatabaseInput={"Name": "kms_audit"})
    glue.create_table(DatabaseName="kms_audit", TableInput={
        "Name": "kms_events", "TableType": "EXTERNAL_TABLE",
        "PartitionKeys": [{"Name": k, "Type": "string"} for k in ("key_id", "principal", "dt")],
        "StorageDescriptor": {
            "Columns": [{"Name": n, "Type": t} for n, t in cols], "Location": location,
            "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
            "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"}},
    })


def lake_snapshot(s3):
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=LAKE):
        for o in page.get("Contents", []):
            out[o["Key"]] = s3.get_object(Bucket=LAKE, Key=o["Key"])["Body"].read()
    return out


def peak_rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except FileNotFoundError:
        return None
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True, help="kms-audit-ingest binary (built)")
    ap.add_argument("--cli", required=True, help="kms-audit binary (generates the trail)")
    ap.add_argument("--bench", action="store_true")
    ap.add_argument("--files", type=int, default=6)
    ap.add_argument("--records-per-file", type=int, default=800)
    ap.add_argument("--memory-mb", type=int, default=256)
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="kms-audit-lambda-")
    procs = Procs()
    try:
        return run(args, work, procs)
    finally:
        procs.stop_all()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def run(args, work, procs):
    log = lambda *a: print("lambda-emulator:", *a, file=sys.stderr, flush=True)
    # moto
    endpoint = procs.enter(running_moto())
    env = aws_env(endpoint, REGION)
    boto = dict(endpoint_url=endpoint, region_name=REGION, aws_access_key_id="testing",
                aws_secret_access_key="testing", config=Config(s3={"addressing_style": "path"}))
    s3 = boto3.client("s3", **boto)
    glue = boto3.client("glue", **boto)
    for b in (TRAIL, LAKE):
        s3.create_bucket(Bucket=b)
    glue_table(glue, "s3://%s/audit/kms_events/" % LAKE)

    # the trail: generated log files uploaded under their delivery keys
    trail_dir = os.path.join(work, "trail")
    records = args.files * args.records_per_file
    subprocess.run([args.cli, "generate-trail", "--out", trail_dir, "--records", str(records),
                    "--files", str(args.files), "--kms-fraction", "0.9" if args.bench else "0.6"],
                   check=True, env=env, stderr=subprocess.DEVNULL if args.bench else None)
    messages = []
    sizes = []
    for root, _, files in os.walk(trail_dir):
        for name in sorted(files):
            path = os.path.join(root, name)
            key = os.path.relpath(path, trail_dir)
            with open(path, "rb") as f:
                s3.put_object(Bucket=TRAIL, Key=key, Body=f.read())
            head = s3.head_object(Bucket=TRAIL, Key=key)
            sizes.append(head["ContentLength"])
            messages.append(s3_notification(key, head["ContentLength"], head["ETag"].strip('"'), "m%02d" % len(messages)))
    poison_key = None
    if not args.bench:
        # a poison file (truncated gzip) with a space in its key, and a test event
        any_file = os.path.join(root, sorted(files)[0])
        with open(any_file, "rb") as f:
            data = f.read()
        poison_key = "AWSLogs/111122223333/CloudTrail/us-east-1/2025/03/10/poison file.json.gz"
        s3.put_object(Bucket=TRAIL, Key=poison_key, Body=data[: len(data) // 2])
        head = s3.head_object(Bucket=TRAIL, Key=poison_key)
        messages.append(s3_notification(poison_key, head["ContentLength"], head["ETag"].strip('"'), "m-poison"))
        messages.append(sqs_message("m-test", json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent"})))
    event_file = os.path.join(work, "event.json")
    with open(event_file, "w") as f:
        json.dump({"Records": messages}, f)
    log("%d messages, objects of %.1f MB compressed in total" % (len(messages), sum(sizes) / 1e6))

    # the runtime API emulator, then the built binary against it
    rt_port = free_port()
    emulator = procs.start(["cargo", "lambda", "watch", "--only-lambda-apis", "-P", str(rt_port), "-A", "127.0.0.1"],
                           stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "emulator.log"), "w"),
                           # it reads the workspace's metadata, so it runs at the repository root
                           cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), env=env)
    wait_port(rt_port)
    fn_env = dict(env, AWS_LAMBDA_RUNTIME_API="http://127.0.0.1:%d/.rt" % rt_port, AWS_LAMBDA_FUNCTION_NAME="_",
                  AWS_LAMBDA_FUNCTION_VERSION="$LATEST", AWS_LAMBDA_FUNCTION_MEMORY_SIZE=str(args.memory_mb),
                  LAKE_URL="s3://%s/audit" % LAKE, GLUE_DATABASE="kms_audit", GLUE_TABLE="kms_events",
                  RUST_LOG="info")
    fn_log_path = os.path.join(work, "function.log")
    fn_log = open(fn_log_path, "w")
    function = procs.start([args.binary], stdout=fn_log, stderr=subprocess.STDOUT, env=fn_env)

    def invoke():
        started = time.time()
        out = subprocess.run(["cargo", "lambda", "invoke", "_", "--data-file", event_file, "--invoke-port", str(rt_port),
                              "--invoke-address", "127.0.0.1", "--output-format", "json"],
                             capture_output=True, text=True, env=env, timeout=900)
        if out.returncode != 0:
            raise RuntimeError("invoke failed: %s %s" % (out.stdout, out.stderr))
        return json.loads(out.stdout), time.time() - started

    response, seconds = invoke()
    rss_kb = peak_rss_kb(function.pid)
    log("response %s in %.2fs, peak RSS %s kB" % (json.dumps(response)[:200], seconds, rss_kb))

    if args.bench:
        lines = [json.loads(l) for l in open(fn_log_path) if l.startswith("{")]
        batch = [l for l in lines if l.get("message") == "batch ingested"]
        print(json.dumps({
            "messages": len(messages), "compressed_bytes": sum(sizes), "max_object_bytes": max(sizes),
            "seconds": round(seconds, 2), "peak_rss_kb": rss_kb, "memory_mb": args.memory_mb,
            "failures": len(response.get("batchItemFailures", [])),
            "batch": batch[-1] if batch else None,
        }))
        return 0

    failed = sorted(f["itemIdentifier"] for f in response["batchItemFailures"])
    assert failed == ["m-poison"], failed
    snap = lake_snapshot(s3)
    files = [k for k in snap if k.startswith("audit/kms_events/")]
    quarantine = [k for k in snap if k.startswith("audit/_quarantine/")]
    assert files, "lake files written"
    assert len(quarantine) == 1, quarantine
    entry = json.loads(snap[quarantine[0]])
    assert entry["object"] == "s3://%s/%s" % (TRAIL, poison_key), entry
    partitions = {k.rsplit("/", 1)[0] + "/" for k in files}
    assert len(partitions) == len(files), "one file per partition for the batch"
    registered = []
    for page in glue.get_paginator("get_partitions").paginate(DatabaseName="kms_audit", TableName="kms_events"):
        registered += [p["StorageDescriptor"]["Location"] for p in page["Partitions"]]
    assert sorted(registered) == sorted("s3://%s/%s" % (LAKE, p) for p in partitions), (registered[:3], list(partitions)[:3])

    # structured logs: JSON lines with bucket, key and the batch counts
    lines = [json.loads(l) for l in open(fn_log_path) if l.startswith("{")]
    assert any(l.get("message") == "object announced" and l.get("bucket") == TRAIL and "key" in l for l in lines)
    batch = [l for l in lines if l.get("message") == "batch ingested"]
    assert batch and batch[-1]["failed_messages"] == 1 and batch[-1]["kms_events"] > 0 and "duration_ms" in batch[-1], batch
    assert any(l.get("message", "").startswith("object not ingested") and "poison" in l.get("key", "") for l in lines)

    # replay: same response, not a byte changed
    response2, _ = invoke()
    assert sorted(f["itemIdentifier"] for f in response2["batchItemFailures"]) == failed
    assert lake_snapshot(s3) == snap, "replay changed the lake"
    log("ok: %d lake files in %d partitions, poison quarantined, replay idempotent" % (len(files), len(partitions)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
