"""Fixtures and helpers of the reliability suite (issue 8): the prebuilt binaries, a moto server,
the fault-injecting proxy in front of it, generated trails, and lake comparison.

Binaries are taken from $KMS_AUDIT_BIN_DIR (default ~/.cache/kms-audit/target/debug, i.e.
$CARGO_TARGET_DIR/debug as tests/env.sh sets it); this suite never builds them."""
import collections
import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

sys.path.insert(0, str(HERE.parent))

from fault_proxy import FaultProxy  # noqa: E402
from moto_server import aws_env, running_moto  # noqa: E402,F401  (aws_env: for the tests)

REGION = "us-east-1"


def bin_dir():
    default = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/kms-audit/target")) / "debug"
    return Path(os.environ.get("KMS_AUDIT_BIN_DIR", default))


def binary(name):
    path = bin_dir() / name
    assert path.exists(), f"{path} missing: build it (tests/run does) or set KMS_AUDIT_BIN_DIR"
    return path


@pytest.fixture(scope="session")
def kms_audit():
    return binary("kms-audit")


@pytest.fixture(scope="session")
def moto():
    with running_moto() as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def proxy(moto):
    p = FaultProxy(moto).start()
    yield p
    p.stop()


@pytest.fixture()
def faults(proxy):
    """The proxy, with no rule at the start and the end of the test."""
    proxy.clear()
    yield proxy
    proxy.clear()


def s3_client(endpoint):
    import boto3
    from botocore.config import Config
    return boto3.client("s3", endpoint_url=endpoint, region_name=REGION, aws_access_key_id="testing",
                        aws_secret_access_key="testing",
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))


def generate_trail(kms_audit, out, records, files, seed, days=3):
    subprocess.run([str(kms_audit), "generate-trail", "--out", str(out), "--records", str(records),
                    "--files", str(files), "--seed", str(seed), "--days", str(days)], check=True, capture_output=True)
    return sorted(p.relative_to(out).as_posix() for p in Path(out).rglob("*") if p.is_file())


def upload_tree(s3, root, bucket, prefix=""):
    keys = []
    for p in sorted(Path(root).rglob("*")):
        if p.is_file():
            key = prefix + p.relative_to(root).as_posix()
            s3.put_object(Bucket=bucket, Key=key, Body=p.read_bytes())
            keys.append(key)
    return keys


def run(cmd, env=None, timeout=120):
    """Runs a command; returns the CompletedProcess (text), with `.elapsed` seconds."""
    start = time.time()
    try:
        p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"{' '.join(map(str, cmd))} did not finish within {timeout}s "
                             f"(stderr so far: {e.stderr!r})") from None
    p.elapsed = time.time() - start
    return p


# --- lakes --------------------------------------------------------------------------------------

class Lake:
    """A lake's objects (relative key → bytes), from a local folder or an S3 prefix."""

    def __init__(self, objects):
        self.objects = dict(objects)

    @classmethod
    def local(cls, root):
        root = Path(root)
        return cls({p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()})

    @classmethod
    def s3(cls, s3, bucket, prefix):
        prefix = prefix.rstrip("/") + "/"
        out = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for o in page.get("Contents", []):
                out[o["Key"][len(prefix):]] = s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
        return cls(out)

    def events(self):
        return {k: v for k, v in self.objects.items() if k.startswith("kms_events/")}

    def parquet_keys(self):
        return sorted(k for k in self.events() if k.endswith(".parquet"))

    def digests(self, part="kms_events/"):
        return {k: hashlib.sha256(v).hexdigest() for k, v in self.objects.items() if k.startswith(part)}

    def hidden(self):
        """Objects under kms_events/ that readers skip: Athena/Hive ignore names starting with
        `.` or `_`, and none of them ends in .parquet (the local store's `.NAME.PID.N.tmp`)."""
        return sorted(k for k in self.events() if k.rsplit("/", 1)[-1][:1] in (".", "_")
                      and not k.endswith(".parquet"))

    def assert_complete(self):
        """Every object under kms_events/ that a reader can see is a complete, readable Parquet file."""
        import pyarrow.parquet as pq
        hidden = set(self.hidden())
        for key, body in self.events().items():
            if key in hidden:
                continue
            assert key.endswith(".parquet"), f"non-Parquet object visible in the lake: {key}"
            assert body[:4] == b"PAR1" and body[-4:] == b"PAR1", f"partial Parquet file visible: {key}"
            meta = pq.ParquetFile(io.BytesIO(body)).metadata  # the footer parses (rows are read by rows())
            assert meta.num_rows > 0, f"empty Parquet file: {key}"

    def rows(self):
        """Every row (partition columns added from the key) as a canonical JSON string."""
        import pyarrow.parquet as pq
        out = []
        for key in self.parquet_keys():
            parts = dict(seg.split("=", 1) for seg in key.split("/")[1:-1])
            parts = {k: urllib.parse.unquote(v) for k, v in parts.items()}
            for row in pq.read_table(io.BytesIO(self.objects[key])).to_pylist():
                row.update(parts)
                out.append(json.dumps(row, sort_keys=True, default=str))
        return out

    def row_counter(self):
        return collections.Counter(self.rows())

    def identities(self):
        """(account_id, event_id, key_id) of every row."""
        return [(json.loads(r)["account_id"], json.loads(r)["event_id"], json.loads(r)["key_id"]) for r in self.rows()]


def assert_same_lake(got, want, bytes_too=True):
    """Same rows (as a multiset) and the same Parquet files; `bytes_too` also compares contents."""
    got.assert_complete()
    assert got.parquet_keys() == want.parquet_keys(), "different Parquet file sets"
    g, w = got.row_counter(), want.row_counter()
    missing, extra = w - g, g - w
    assert not missing and not extra, f"{sum(missing.values())} rows missing, {sum(extra.values())} extra"
    if bytes_too:
        assert got.digests() == want.digests(), "same names and rows but different bytes"


def copytree(src, dst):
    shutil.copytree(src, dst, dirs_exist_ok=True)
