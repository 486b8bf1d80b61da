"""Peer for bench/ingest.sh: a plain Python + pyarrow converter doing the same job (KMS records
only, partitioned by key, principal and day, ZSTD Parquet). Usage: pyarrow_ingest.py TRAIL OUT"""
import gzip
import json
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

trail, out = Path(sys.argv[1]), sys.argv[2]
cols = {k: [] for k in ("event_id", "event_time", "event_name", "account_id", "key_arn", "principal_arn",
                        "source_ip", "user_agent", "error_code", "request_parameters", "key_id", "principal", "dt")}
for path in sorted(trail.rglob("*.json.gz")):
    for r in json.load(gzip.open(path))["Records"]:
        if r.get("eventSource") != "kms.amazonaws.com":
            continue
        ui = r.get("userIdentity") or {}
        t = ui.get("type")
        if t == "AssumedRole":
            principal = ((ui.get("sessionContext") or {}).get("sessionIssuer") or {}).get("arn")
        elif t == "AWSService":
            principal = "service:" + ui.get("invokedBy", "")
        elif t is None:
            principal = "aws-internal"
        else:
            principal = ui.get("arn")
        keys = [x["ARN"] for x in r.get("resources") or []] or [None]
        for key in keys:
            cols["event_id"].append(r["eventID"])
            cols["event_time"].append(r["eventTime"])
            cols["event_name"].append(r.get("eventName"))
            cols["account_id"].append(r.get("recipientAccountId"))
            cols["key_arn"].append(key)
            cols["principal_arn"].append(principal)
            cols["source_ip"].append(r.get("sourceIPAddress"))
            cols["user_agent"].append(r.get("userAgent"))
            cols["error_code"].append(r.get("errorCode"))
            cols["request_parameters"].append(json.dumps(r.get("requestParameters")))
            cols["key_id"].append(key.rsplit("/", 1)[1] if key else "_none")
            cols["principal"].append(principal)
            cols["dt"].append(r["eventTime"][:10])
table = pa.table(cols)
pq.write_to_dataset(table, out, partition_cols=["key_id", "principal", "dt"], compression="zstd")
