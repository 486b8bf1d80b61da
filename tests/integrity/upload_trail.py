#!/usr/bin/env python3
"""Uploads a local trail (from make_trail.py) to S3 the way CloudTrail stores it.

Every object under ROOT/AWSLogs/ is put at s3://BUCKET/PREFIX<relative path>; the `metadata`
object of its sidecar `F.meta.json` (digest files: `signature`, `signature-algorithm`) becomes
its S3 user metadata (`x-amz-meta-signature`, …). Sidecars themselves are not uploaded.

    python3 tests/integrity/upload_trail.py ROOT --bucket B [--prefix P/] [--endpoint URL]
"""

import argparse
import json
import os
import sys

import boto3
from botocore.config import Config


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("root")
    ap.add_argument("--bucket", required=True)
    ap.add_argument("--prefix", default="")
    ap.add_argument("--endpoint", default=os.environ.get("AWS_ENDPOINT_URL"))
    ap.add_argument("--region", default="us-east-1")
    args = ap.parse_args(argv)
    kwargs = {"region_name": args.region, "config": Config(s3={"addressing_style": "path"})}
    if args.endpoint:
        kwargs.update(endpoint_url=args.endpoint, aws_access_key_id="testing", aws_secret_access_key="testing")
    s3 = boto3.client("s3", **kwargs)
    try:
        s3.head_bucket(Bucket=args.bucket)
    except Exception:
        s3.create_bucket(Bucket=args.bucket)
    count = 0
    base = os.path.join(args.root, "AWSLogs")
    for dirpath, _, files in os.walk(base):
        for name in sorted(files):
            if name.endswith(".meta.json") or name.startswith("."):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, args.root).replace(os.sep, "/")
            metadata = {}
            if os.path.exists(path + ".meta.json"):
                with open(path + ".meta.json") as f:
                    metadata = json.load(f).get("metadata") or {}
            with open(path, "rb") as f:
                s3.put_object(Bucket=args.bucket, Key=args.prefix + rel, Body=f.read(), Metadata=metadata)
            count += 1
    sys.stdout.write(f"{count}\n")


if __name__ == "__main__":
    main()
