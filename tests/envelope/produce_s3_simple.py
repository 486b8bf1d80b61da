#!/usr/bin/env python3
"""Independent producer of S3 objects in the *simple* envelope format, through real KMS calls.

Written from the documentation only (crates/envelope/README.md, "simple"), the way a user would
encrypt objects by hand with boto3 and Python's `cryptography`, so that `kms-audit verify` is
tested against objects it did not make:

  1. KMS GenerateDataKey(KeyId, KeySpec=AES_256, EncryptionContext=ctx)
  2. body = 12-byte random nonce || AESGCM(plaintext key).encrypt(nonce, plaintext, None)
  3. put_object(Body=body, Metadata={"x-amz-key": CiphertextBlob.hex(),
                                     "x-amz-context": json.dumps(ctx, sort_keys=True,
                                                                 separators=(",", ":"))})

Other modes write the server-side cases the verifier must classify:
  --mode sse-kms   plaintext bodies put with ServerSideEncryption=aws:kms, SSEKMSKeyId=KEY
  --mode sse-s3    plaintext bodies put with ServerSideEncryption=AES256
  --mode plain     plaintext bodies, no encryption

Usage (the endpoint is a moto server, or AWS when omitted):

    python3 tests/envelope/produce_s3_simple.py --endpoint URL --bucket B --prefix P/ \
        --key-id KEY [--mode simple] [--count N] [--size BYTES] [--seed S] [--manifest FILE]

Creates the bucket when missing. Object names: <prefix>obj-<i:05d>.bin. The plaintext of
object i is deterministic per seed. With --manifest, appends `sha256sum` lines
(`<hex>  <key>`) of the plaintexts. Prints a JSON summary on stdout.
"""

import argparse
import hashlib
import json
import os
import random
import sys

try:
    import boto3
    from botocore.config import Config
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
except ImportError as e:  # pragma: no cover - reported to the caller
    sys.stderr.write(f"produce_s3_simple.py needs boto3 and cryptography: {e}\n")
    sys.exit(3)


def canonical(ctx):
    return json.dumps(ctx, sort_keys=True, separators=(",", ":"))


def client(service, endpoint, region):
    kwargs = {"region_name": region, "config": Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2})}
    if endpoint:
        kwargs.update(endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing",
                      aws_session_token="testing")
    return boto3.client(service, **kwargs)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoint", default=os.environ.get("AWS_ENDPOINT_URL"))
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--bucket", required=True)
    ap.add_argument("--prefix", default="")
    ap.add_argument("--key-id", help="KMS key id, ARN or alias (simple, sse-kms)")
    ap.add_argument("--mode", choices=["simple", "sse-kms", "sse-s3", "plain"], default="simple")
    ap.add_argument("--count", type=int, default=5)
    ap.add_argument("--start", type=int, default=0, help="index of the first object")
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--seed", default="1")
    ap.add_argument("--manifest", help="append sha256sum lines here")
    args = ap.parse_args(argv)

    s3 = client("s3", args.endpoint, args.region)
    kms = client("kms", args.endpoint, args.region)
    try:
        s3.head_bucket(Bucket=args.bucket)
    except Exception:
        s3.create_bucket(Bucket=args.bucket)

    written = []
    manifest = []
    for i in range(args.start, args.start + args.count):
        key = f"{args.prefix}obj-{i:05d}.bin"
        rng = random.Random(f"{args.seed}/{key}")
        plaintext = rng.randbytes(args.size)
        manifest.append(f"{hashlib.sha256(plaintext).hexdigest()}  {key}\n")
        item = {"key": key, "mode": args.mode}
        if args.mode == "simple":
            ctx = {"bucket": args.bucket, "key": key, "purpose": "training-data"}
            dk = kms.generate_data_key(KeyId=args.key_id, KeySpec="AES_256", EncryptionContext=ctx)
            nonce = os.urandom(12)
            body = nonce + AESGCM(dk["Plaintext"]).encrypt(nonce, plaintext, None)
            s3.put_object(Bucket=args.bucket, Key=key, Body=body,
                          Metadata={"x-amz-key": dk["CiphertextBlob"].hex(), "x-amz-context": canonical(ctx)})
            item.update(key_arn=dk["KeyId"], context=ctx)
        elif args.mode == "sse-kms":
            s3.put_object(Bucket=args.bucket, Key=key, Body=plaintext, ServerSideEncryption="aws:kms",
                          SSEKMSKeyId=args.key_id)
            item.update(key_arn=args.key_id)
        elif args.mode == "sse-s3":
            s3.put_object(Bucket=args.bucket, Key=key, Body=plaintext, ServerSideEncryption="AES256")
        else:
            s3.put_object(Bucket=args.bucket, Key=key, Body=plaintext)
        written.append(item)

    if args.manifest:
        with open(args.manifest, "a") as f:
            f.writelines(manifest)
    json.dump({"bucket": args.bucket, "objects": written}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
