#!/usr/bin/env python3
"""Generate the envelope crate's test vectors with an implementation independent of it.

Uses only the Python standard library and `cryptography` (AESGCM). Everything is derived
deterministically from labels, so re-running produces identical files:

    python3 tests/envelope/gen_vectors.py crates/envelope/tests/vectors

Writes simple.json, s3ec-v2.json and local-keyring.json. The formats are documented in
crates/envelope/README.md; this script is a second, independent reading of that document.
"""

import base64
import hashlib
import json
import os
import sys

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KCV_DOMAIN = b"kms-audit/local-keyring/v1/key-check"
KMS_ARN = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def det(label: str, n: int) -> bytes:
    """n deterministic pseudo-random bytes named by label."""
    out = b""
    i = 0
    while len(out) < n:
        out += hashlib.sha256(f"{label}/{i}".encode()).digest()
        i += 1
    return out[:n]


def canonical(ctx: dict) -> str:
    """The canonical encryption-context JSON (sorted, compact, ASCII-only)."""
    return json.dumps(ctx, sort_keys=True, separators=(",", ":"))


def local_wrap(wrapping_key: bytes, data_key: bytes, ctx: dict, nonce: bytes) -> bytes:
    kcv = hashlib.sha256(KCV_DOMAIN + wrapping_key).digest()[:8]
    ct = AESGCM(wrapping_key).encrypt(nonce, data_key, canonical(ctx).encode())
    return bytes([1]) + kcv + nonce + ct


def fake_kms_blob(label: str) -> bytes:
    # Shaped like a KMS CiphertextBlob (version prefix, ~184 bytes); only a test keyring reads it.
    return bytes([1, 2, 2, 0]) + det("kms-blob/" + label, 180)


def local_material(label: str):
    return {
        "key_id": "local:vectors",
        "wrapping_key": det("wrapping-key/vectors", 32),
        "wrap_nonce": det("wrap-nonce/" + label, 12),
    }


def make_case(fmt, name, ctx, plaintext, wrapping):
    data_key = det("data-key/" + name, 32)
    iv = det("iv/" + name, 12)
    kms_ctx = dict(ctx)
    if fmt == "s3ec-v2":
        kms_ctx["aws:x-amz-cek-alg"] = "AES/GCM/NoPadding"
    if wrapping == "local":
        loc = local_material(name)
        wrapped = local_wrap(loc["wrapping_key"], data_key, kms_ctx, loc["wrap_nonce"])
        key_arn = loc["key_id"]
        wrap_alg = "kms-audit-local+context"
        local = {
            "key_id": loc["key_id"],
            "wrapping_key_hex": loc["wrapping_key"].hex(),
            "wrap_nonce_hex": loc["wrap_nonce"].hex(),
        }
    else:
        wrapped = fake_kms_blob(name)
        key_arn = KMS_ARN
        wrap_alg = "kms+context"
        local = None

    sealed = AESGCM(data_key).encrypt(iv, plaintext, None)  # ciphertext || tag
    if fmt == "simple":
        body = iv + sealed
        metadata = {"x-amz-key": wrapped.hex()}
        if kms_ctx:
            metadata["x-amz-context"] = canonical(kms_ctx)
    else:
        body = sealed
        metadata = {
            "x-amz-key-v2": base64.b64encode(wrapped).decode(),
            "x-amz-iv": base64.b64encode(iv).decode(),
            "x-amz-cek-alg": "AES/GCM/NoPadding",
            "x-amz-wrap-alg": wrap_alg,
            "x-amz-matdesc": canonical(kms_ctx),
            "x-amz-tag-len": "128",
            "x-amz-unencrypted-content-length": str(len(plaintext)),
        }
    return {
        "name": name,
        "format": fmt,
        "data_key_hex": data_key.hex(),
        "iv_hex": iv.hex(),
        "context": ctx,
        "kms_context": kms_ctx,
        "wrapped_key_hex": wrapped.hex(),
        "key_arn": key_arn,
        "wrap_algorithm": wrap_alg,
        "local": local,
        "plaintext_hex": plaintext.hex(),
        "body_hex": body.hex(),
        "metadata": metadata,
    }


TRICKY_CTX = {
    "purpose": "training-data",
    "aws:s3:arn": "arn:aws:s3:::ml-data/train/part-0000.parquet",
    "note": 'na\u00efve \u2603 "quoted" \\ back \U0001f600 del\x7f nl\n tab\t',
}


def main(out_dir: str) -> None:
    os.makedirs(out_dir, exist_ok=True)
    hello = b"hello, kms-audit\n"
    kib = det("plaintext/1k", 1000)

    simple = [
        make_case("simple", "simple-kms-no-context", {}, hello, "kms"),
        make_case("simple", "simple-kms-context", {"purpose": "training-data"}, kib, "kms"),
        make_case("simple", "simple-local-tricky-context", TRICKY_CTX, kib, "local"),
        make_case("simple", "simple-local-empty-plaintext", {"k": "v"}, b"", "local"),
    ]
    v2 = [
        make_case("s3ec-v2", "v2-kms-context", {"job": "train-42"}, hello, "kms"),
        make_case("s3ec-v2", "v2-kms-no-user-context", {}, kib, "kms"),
        make_case("s3ec-v2", "v2-local-tricky-context", TRICKY_CTX, kib, "local"),
        make_case("s3ec-v2", "v2-local-empty-plaintext", {}, b"", "local"),
    ]

    wrapping_key = det("wrapping-key/vectors", 32)
    local_cases = []
    for i, ctx in enumerate([{}, {"a": "1"}, TRICKY_CTX]):
        data_key = det(f"local-data-key/{i}", 32)
        nonce = det(f"local-nonce/{i}", 12)
        local_cases.append(
            {
                "context": ctx,
                "canonical_context": canonical(ctx),
                "data_key_hex": data_key.hex(),
                "wrap_nonce_hex": nonce.hex(),
                "wrapped_hex": local_wrap(wrapping_key, data_key, ctx, nonce).hex(),
            }
        )
    key_file = {
        "type": "kms-audit-local-key",
        "version": 1,
        "key_id": "local:vectors",
        "key_hex": wrapping_key.hex(),
    }
    local = {
        "description": "Local keyring wrapping (see crates/envelope/README.md)",
        "key_file": json.dumps(key_file, indent=2) + "\n",
        "key_id": "local:vectors",
        "wrapping_key_hex": wrapping_key.hex(),
        "key_check_hex": hashlib.sha256(KCV_DOMAIN + wrapping_key).digest()[:8].hex(),
        "cases": local_cases,
    }

    files = {
        "simple.json": {"description": "simple format vectors", "cases": simple},
        "s3ec-v2.json": {"description": "S3 Encryption Client v2 format vectors", "cases": v2},
        "local-keyring.json": local,
    }
    for name, doc in files.items():
        with open(os.path.join(out_dir, name), "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=2, sort_keys=True)
            f.write("\n")
    print(f"wrote {', '.join(files)} to {out_dir}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "crates/envelope/tests/vectors")
