#!/usr/bin/env python3
"""Independent producer of local objects in the *simple* envelope format.

Written from the documentation only (crates/envelope/README.md), the way a user would encrypt
objects by hand with Python's `cryptography`, so that the Rust verifier is tested against bytes
it did not make. Usage:

    python3 tests/envelope/produce_local.py --out DIR [--count N] [--seed S]

Writes into DIR:
  local-key.json          local keyring key file, key id local:producer
  other-key.json          a second key (local:other) used for a wrong-key object
  objects/<name>          object bodies, each with a sidecar objects/<name>.meta.json
  sha256sums.txt          plaintext SHA-256 per object name, in `sha256sum` format
  expected.json           {name: {"verdict", "format", "error_kind"}} the verifier must report

Expected keys for verification: local:producer and SSE_KMS_ARN below.
"""

import argparse
import base64
import hashlib
import json
import os
import random

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KCV_DOMAIN = b"kms-audit/local-keyring/v1/key-check"
SSE_KMS_ARN = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
OTHER_ARN = "arn:aws:kms:us-east-1:111122223333:key/99999999-0000-0000-0000-000000000000"


def canonical(ctx):
    # Sorted keys, no whitespace, ASCII-only: the documented canonical encryption context.
    return json.dumps(ctx, sort_keys=True, separators=(",", ":"))


class LocalKey:
    def __init__(self, key_id):
        self.key_id = key_id
        self.key = AESGCM.generate_key(bit_length=256)
        self.kcv = hashlib.sha256(KCV_DOMAIN + self.key).digest()[:8]

    def write(self, path):
        doc = {
            "type": "kms-audit-local-key",
            "version": 1,
            "key_id": self.key_id,
            "key_hex": self.key.hex(),
        }
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")

    def wrap(self, data_key, ctx):
        nonce = os.urandom(12)
        sealed = AESGCM(self.key).encrypt(nonce, data_key, canonical(ctx).encode("utf-8"))
        return bytes([1]) + self.kcv + nonce + sealed


def encrypt_simple(key, plaintext, ctx):
    """Returns (body, user metadata) of a simple-format object."""
    data_key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(12)
    body = nonce + AESGCM(data_key).encrypt(nonce, plaintext, None)
    metadata = {"x-amz-key": key.wrap(data_key, ctx).hex()}
    if ctx:
        metadata["x-amz-context"] = canonical(ctx)
    return body, metadata


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--count", type=int, default=6)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    rng = random.Random(args.seed)
    out = args.out
    objects = os.path.join(out, "objects")
    os.makedirs(objects, exist_ok=True)

    key = LocalKey("local:producer")
    other = LocalKey("local:other")
    key.write(os.path.join(out, "local-key.json"))
    other.write(os.path.join(out, "other-key.json"))

    sums = {}
    expected = {}

    def put(name, body, metadata=None, sse=None, sse_key=None, plaintext=None,
            verdict="ok", fmt="simple", error_kind=None, in_manifest=True):
        path = os.path.join(objects, *name.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(body)
        with open(path + ".meta.json", "w", encoding="utf-8") as f:
            json.dump(
                {
                    "metadata": metadata or {},
                    "server_side_encryption": sse,
                    "sse_kms_key_id": sse_key,
                },
                f,
                indent=2,
            )
            f.write("\n")
        if in_manifest and plaintext is not None:
            sums[name] = hashlib.sha256(plaintext).hexdigest()
        expected[name] = {"verdict": verdict, "format": fmt, "error_kind": error_kind}

    def rand_bytes(n):
        return bytes(rng.getrandbits(8) for _ in range(n))

    # Good client-side objects, sizes from empty to a few blocks past 64 KiB.
    sizes = [0, 1, 15, 16, 17, 4096, 70_000]
    for i in range(args.count):
        name = f"train/part-{i:04d}.bin"
        pt = rand_bytes(sizes[i % len(sizes)])
        ctx = {"purpose": "training-data", "object": name}
        if i % 3 == 2:
            ctx["team"] = "ml-platform \u00e9quipe"  # non-ASCII survives the canonical form
        body, md = encrypt_simple(key, pt, ctx)
        put(name, body, md, plaintext=pt)
    # No context at all: x-amz-context omitted.
    pt = b"no context here\n"
    body, md = encrypt_simple(key, pt, {})
    put("train/no-context.bin", body, md, plaintext=pt)

    # Server-side only.
    pt = b"sse-kms object body\n"
    put("sse/kms-expected.bin", pt, sse="aws:kms", sse_key=SSE_KMS_ARN, plaintext=pt,
        fmt="sse-kms")
    put("sse/kms-other.bin", pt, sse="aws:kms", sse_key=OTHER_ARN, plaintext=pt,
        verdict="fail", fmt="sse-kms", error_kind="wrong-key")
    put("sse/sse-s3.bin", pt, sse="AES256", plaintext=pt, verdict="fail", fmt="sse-s3")
    put("plain/unencrypted.bin", pt, plaintext=pt, verdict="fail", fmt="none")

    # Client-side objects that must fail, each for its own reason.
    pt = b"tamper target\n" * 10
    ctx = {"purpose": "training-data"}
    body, md = encrypt_simple(key, pt, ctx)
    tampered = bytearray(body)
    tampered[20] ^= 0x01
    put("bad/tampered.bin", bytes(tampered), md, plaintext=pt, verdict="fail",
        error_kind="authentication")

    body, md = encrypt_simple(key, pt, ctx)
    md["x-amz-context"] = canonical({"purpose": "inference"})
    put("bad/context-changed.bin", body, md, plaintext=pt, verdict="fail",
        error_kind="context-mismatch")

    body, md = encrypt_simple(other, pt, ctx)
    put("bad/other-key.bin", body, md, plaintext=pt, verdict="fail", error_kind="wrong-key")

    body, md = encrypt_simple(key, pt, ctx)
    put("bad/not-in-manifest.bin", body, md, plaintext=pt, verdict="fail", in_manifest=False)

    body, md = encrypt_simple(key, pt, ctx)
    put("bad/manifest-mismatch.bin", body, md, plaintext=b"something else", verdict="fail")

    put("bad/legacy-v1.bin", os.urandom(48),
        {"x-amz-key": base64.b64encode(os.urandom(40)).decode(),
         "x-amz-iv": base64.b64encode(os.urandom(16)).decode(),
         "x-amz-matdesc": "{}"},
        verdict="fail", fmt="none", error_kind="unsupported-format")

    with open(os.path.join(out, "sha256sums.txt"), "w", encoding="utf-8") as f:
        for name in sorted(sums):
            f.write(f"{sums[name]}  {name}\n")
    with open(os.path.join(out, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(expected, f, indent=2, sort_keys=True)
        f.write("\n")
    print(f"wrote {len(expected)} objects to {objects}")


if __name__ == "__main__":
    main()
