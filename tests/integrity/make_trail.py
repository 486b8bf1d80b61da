#!/usr/bin/env python3
"""Independent producer of a signed CloudTrail trail (log files + digest files), for tests.

Written from the CloudTrail User Guide ("CloudTrail digest file structure", "Custom
implementations of CloudTrail log file integrity validation"), not from the Rust code it checks:

- log files: gzip `{"Records": [...]}` under
  AWSLogs/[o-ID/]<account>/CloudTrail/<region>/YYYY/MM/DD/<account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<unique>.json.gz
- hourly digest files under
  AWSLogs/[o-ID/]<account>/CloudTrail-Digest/<region>/YYYY/MM/DD/
      <account>_CloudTrail-Digest_<region>_<trail>_<home-region>_<YYYYMMDDTHHMMSSZ>.json.gz
  listing the log files delivered in their hour with the SHA-256 of the uncompressed file, and
  the previous digest's key, SHA-256 (of its uncompressed bytes) and signature; a starting
  digest has those five fields null.
- each digest is signed SHA256withRSA (RSA PKCS#1 v1.5, SHA-256) over
      digestEndTime + "\n" + digestS3Bucket + "/" + digestS3Object + "\n"
      + hex(sha256(uncompressed digest)) + "\n" + previousDigestSignature (or "null")
  and the hex signature goes where S3 would keep `x-amz-meta-signature`: the local-object
  sidecar `<object>.meta.json` =
      {"metadata": {"signature": hex, "signature-algorithm": "SHA256withRSA"},
       "server_side_encryption": null, "sse_kms_key_id": null}
- `public-keys.json`: what `aws cloudtrail list-public-keys` prints (Value = base64 DER PKCS#1
  RSAPublicKey, Fingerprint, ValidityStartTime, ValidityEndTime), with the signing key and a
  decoy key.
- `manifest.json`: what was generated (range, digests in time order, log files per digest).

The output folder is the trail root (what `s3://<bucket>/<prefix>/` holds). Everything is
deterministic for a given seed: the RSA keys are derived from the seed, gzip mtime is 0, and
PKCS#1 v1.5 signatures are deterministic.

Tamper options that need the private key:
  --reorder I            link the chain out of time order around digest I (1-based):
                         I+1 names I-1 as previous, I names I+1, I+2 names I.
  --foreign-signature I  sign digest I with another RSA key (not in public-keys.json); the
                         chain stays consistent (the next digest records that signature).

Requires python3 and the `cryptography` package.
"""

import argparse
import base64
import gzip
import hashlib
import json
import os
import random
import sys
import uuid
from datetime import datetime, timedelta, timezone

try:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
except ImportError:  # pragma: no cover - reported to the caller
    sys.stderr.write("make_trail.py needs the `cryptography` package (pip install cryptography)\n")
    sys.exit(3)

SIGNATURE_ALGORITHM = "SHA256withRSA"
DIGEST_OFFSET = timedelta(seconds=91)  # CloudTrail digests end at an arbitrary second of the hour


# ---------------------------------------------------------------------------------------------
# Deterministic RSA keys


def _is_probable_prime(n, rng, rounds=40):
    if n < 2:
        return False
    for p in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47):
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d //= 2
        s += 1
    for _ in range(rounds):
        a = rng.randrange(2, n - 2)
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _prime(bits, rng, e):
    while True:
        candidate = rng.getrandbits(bits) | (1 << (bits - 1)) | (1 << (bits - 2)) | 1
        if candidate % e != 1 and _is_probable_prime(candidate, rng):
            return candidate


def deterministic_rsa_key(seed, bits=2048):
    """An RSA private key derived from `seed` (test use only)."""
    rng = random.Random(f"rsa-key-{seed}")
    e = 65537
    while True:
        p = _prime(bits // 2, rng, e)
        q = _prime(bits // 2, rng, e)
        if p == q:
            continue
        n = p * q
        if n.bit_length() != bits:
            continue
        phi = (p - 1) * (q - 1)
        d = pow(e, -1, phi)
        numbers = rsa.RSAPrivateNumbers(
            p=p,
            q=q,
            d=d,
            dmp1=rsa.rsa_crt_dmp1(d, p),
            dmq1=rsa.rsa_crt_dmq1(d, q),
            iqmp=rsa.rsa_crt_iqmp(p, q),
            public_numbers=rsa.RSAPublicNumbers(e, n),
        )
        return numbers.private_key()


def public_der_pkcs1(key):
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)


def fingerprint(key):
    # CloudTrail does not document how it computes fingerprints; its fingerprints are 32 hex
    # digits. MD5 of the DER key is used here; validators must match, not recompute, them.
    return hashlib.md5(public_der_pkcs1(key)).hexdigest()


def sign(key, text):
    return key.sign(text.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256()).hex()


# ---------------------------------------------------------------------------------------------
# Formatting helpers


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def gz(data):
    return gzip.compress(data, compresslevel=6, mtime=0)


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def write_sidecar(path, signature):
    sidecar = {
        "metadata": {"signature": signature, "signature-algorithm": SIGNATURE_ALGORITHM},
        "server_side_encryption": None,
        "sse_kms_key_id": None,
    }
    write(path + ".meta.json", json.dumps(sidecar, indent=2).encode())


def string_to_sign(digest, digest_bytes):
    previous = digest["previousDigestSignature"]
    return "{}\n{}/{}\n{}\n{}".format(
        digest["digestEndTime"],
        digest["digestS3Bucket"],
        digest["digestS3Object"],
        hashlib.sha256(digest_bytes).hexdigest(),
        "null" if previous is None else previous,
    )


# ---------------------------------------------------------------------------------------------
# Records


def kms_record(rng, t, account, region, key_id):
    role = f"arn:aws:iam::{account}:role/SageMakerExecution"
    name = rng.choice(["Decrypt", "GenerateDataKey", "Encrypt", "DescribeKey"])
    return {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": f"AROAEXAMPLE:{rng.randrange(10**6)}",
            "arn": f"arn:aws:sts::{account}:assumed-role/SageMakerExecution/job-{rng.randrange(100)}",
            "accountId": account,
            "accessKeyId": "ASIAEXAMPLE",
            "sessionContext": {
                "sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLE", "arn": role,
                                  "accountId": account, "userName": "SageMakerExecution"},
                "attributes": {"creationDate": iso(t - timedelta(minutes=30)), "mfaAuthenticated": "false"},
            },
            "invokedBy": "sagemaker.amazonaws.com",
        },
        "eventTime": iso(t),
        "eventSource": "kms.amazonaws.com",
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": "sagemaker.amazonaws.com",
        "userAgent": "sagemaker.amazonaws.com",
        "requestParameters": {
            "keyId": f"arn:aws:kms:{region}:{account}:key/{key_id}",
            "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
            "encryptionContext": {"aws:s3:arn": f"arn:aws:s3:::training-data/part-{rng.randrange(1000)}"},
        },
        "responseElements": None,
        "requestID": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "eventID": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "readOnly": name in ("Decrypt", "DescribeKey"),
        "resources": [{"accountId": account, "type": "AWS::KMS::Key",
                       "ARN": f"arn:aws:kms:{region}:{account}:key/{key_id}"}],
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account,
        "eventCategory": "Management",
    }


# ---------------------------------------------------------------------------------------------
# The trail


def make_trail(args):
    rng = random.Random(f"trail-{args.seed}")
    start = datetime.strptime(args.start, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    key = deterministic_rsa_key(args.seed, args.key_bits)
    decoy = deterministic_rsa_key(f"{args.seed}-decoy", args.key_bits)
    foreign = deterministic_rsa_key(f"{args.seed}-foreign", args.key_bits) if args.foreign_signature else None

    prefix = args.prefix.strip("/")
    s3_prefix = prefix + "/" if prefix else ""
    root = "AWSLogs/" + (args.org_id + "/" if args.org_id else "") + args.account + "/"
    key_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))

    # Hourly windows and the log files delivered in each.
    hours = []
    all_logs = []
    for i in range(args.hours):
        d_start = start + DIGEST_OFFSET + timedelta(hours=i)
        d_end = d_start + timedelta(hours=1)
        count = 0 if (args.hours >= 4 and i == 2) else rng.randint(1, 3)  # hour 3 is quiet
        logs = []
        for _ in range(count):
            # A log file is written at a 5-minute mark and delivered a few minutes later,
            # inside this digest's window.
            written = d_start + timedelta(seconds=rng.randrange(0, 3600 - 600))
            written = written.replace(minute=written.minute - written.minute % 5, second=0)
            if written < d_start:
                written += timedelta(minutes=5)
            unique = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
                             for _ in range(16))
            name = f"{args.account}_CloudTrail_{args.region}_{written.strftime('%Y%m%dT%H%MZ')}_{unique}.json.gz"
            rel = f"{root}CloudTrail/{args.region}/{written.strftime('%Y/%m/%d')}/{name}"
            times = sorted(written - timedelta(seconds=rng.randrange(1, 290)) for _ in range(rng.randint(1, 5)))
            records = [kms_record(rng, t, args.account, args.region, key_id) for t in times]
            raw = json.dumps({"Records": records}, separators=(",", ":")).encode()
            write(os.path.join(args.out, rel), gz(raw))
            logs.append({
                "s3Bucket": args.bucket,
                "s3Object": s3_prefix + rel,
                "hashValue": hashlib.sha256(raw).hexdigest(),
                "hashAlgorithm": "SHA-256",
                "newestEventTime": iso(times[-1]),
                "oldestEventTime": iso(times[0]),
            })
            all_logs.append(rel)
        name = (f"{args.account}_CloudTrail-Digest_{args.region}_{args.trail_name}_{args.home_region}_"
                f"{d_end.strftime('%Y%m%dT%H%M%SZ')}.json.gz")
        rel = f"{root}CloudTrail-Digest/{args.region}/{d_end.strftime('%Y/%m/%d')}/{name}"
        hours.append({"start": d_start, "end": d_end, "rel": rel, "logs": logs})

    # Chain order (normally time order) and each digest's predecessor.
    n = len(hours)
    order = list(range(n))
    previous = {i: (i - 1 if i > 0 else None) for i in range(n)}
    if args.reorder:
        r = args.reorder - 1  # 0-based digest I
        if not 1 <= r <= n - 2:
            raise SystemExit(f"--reorder needs 2 <= I <= {n - 1}")
        previous[r + 1] = r - 1
        previous[r] = r + 1
        if r + 2 < n:
            previous[r + 2] = r
        order = list(range(r)) + [r + 1, r] + list(range(r + 2, n))

    signed = {}
    for i in order:
        h = hours[i]
        p = previous[i]
        logs = h["logs"]
        newest = max((l["newestEventTime"] for l in logs), default=None)
        oldest = min((l["oldestEventTime"] for l in logs), default=None)
        digest = {
            "awsAccountId": args.account,
            "digestStartTime": iso(h["start"]),
            "digestEndTime": iso(h["end"]),
            "digestS3Bucket": args.bucket,
            "digestS3Object": s3_prefix + h["rel"],
            "digestPublicKeyFingerprint": fingerprint(key),
            "digestSignatureAlgorithm": SIGNATURE_ALGORITHM,
            "newestEventTime": newest,
            "oldestEventTime": oldest,
            "previousDigestS3Bucket": None if p is None else args.bucket,
            "previousDigestS3Object": None if p is None else s3_prefix + hours[p]["rel"],
            "previousDigestHashValue": None if p is None else signed[p]["sha256"],
            "previousDigestHashAlgorithm": None if p is None else "SHA-256",
            "previousDigestSignature": None if p is None else signed[p]["signature"],
            "logFiles": logs,
        }
        raw = json.dumps(digest, separators=(",", ":")).encode()
        text = string_to_sign(digest, raw)
        signer = foreign if args.foreign_signature == i + 1 else key
        signature = sign(signer, text)
        path = os.path.join(args.out, h["rel"])
        write(path, gz(raw))
        write_sidecar(path, signature)
        signed[i] = {"sha256": hashlib.sha256(raw).hexdigest(), "signature": signature, "string_to_sign": text}

    def key_entry(k, valid_from):
        start_t, end_t = valid_from, valid_from + timedelta(days=30)
        if args.time_format == "epoch":
            times = (start_t.timestamp(), end_t.timestamp())
        else:
            times = (start_t.isoformat(), end_t.isoformat())
        return {
            "Value": base64.b64encode(public_der_pkcs1(k)).decode(),
            "ValidityStartTime": times[0],
            "ValidityEndTime": times[1],
            "Fingerprint": fingerprint(k),
        }

    keys = {"PublicKeyList": [key_entry(decoy, start - timedelta(days=40)), key_entry(key, start - timedelta(days=1))]}
    write(os.path.join(args.out, "public-keys.json"), json.dumps(keys, indent=4).encode())

    manifest = {
        "bucket": args.bucket,
        "prefix": prefix,
        "account": args.account,
        "region": args.region,
        "trail_name": args.trail_name,
        "fingerprint": fingerprint(key),
        "start": iso(start),
        "end": iso(hours[-1]["end"]),
        "digests": [
            {
                "key": h["rel"],
                "log_files": [l["s3Object"][len(s3_prefix):] for l in h["logs"]],
                "sha256": signed[i]["sha256"],
                "signature": signed[i]["signature"],
                "string_to_sign": signed[i]["string_to_sign"],
            }
            for i, h in enumerate(hours)
        ],
        "log_files": all_logs,
    }
    write(os.path.join(args.out, "manifest.json"), json.dumps(manifest, indent=2).encode())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", help="output folder (the trail root)")
    ap.add_argument("--seed", required=True)
    ap.add_argument("--hours", type=int, default=6, help="number of hourly digests (default 6)")
    ap.add_argument("--start", default="2024-03-01T00:00:00Z", help="start, UTC (default 2024-03-01T00:00:00Z)")
    ap.add_argument("--account", default="111122223333")
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--home-region", default="us-east-1")
    ap.add_argument("--bucket", default="kms-audit-trail")
    ap.add_argument("--prefix", default="", help="S3 key prefix the trail root stands for")
    ap.add_argument("--org-id", default="", help="organization trail: o-… folder above the account")
    ap.add_argument("--trail-name", default="kms-audit")
    ap.add_argument("--key-bits", type=int, default=2048)
    ap.add_argument("--time-format", choices=["iso", "epoch"], default="iso",
                    help="list-public-keys time format: iso (AWS CLI v2) or epoch (AWS CLI v1)")
    ap.add_argument("--reorder", type=int, default=0, metavar="I")
    ap.add_argument("--foreign-signature", type=int, default=0, metavar="I")
    args = ap.parse_args(argv)
    if args.hours < 1:
        ap.error("--hours must be at least 1")
    if args.foreign_signature and not 1 <= args.foreign_signature <= args.hours:
        ap.error("--foreign-signature must name a digest 1..hours")
    make_trail(args)


if __name__ == "__main__":
    main()
