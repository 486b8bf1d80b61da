"""Shared fixtures of the end-to-end tests: the built kms-audit binary and scratch folders.

tests/run builds the workspace binaries first and exports KMS_AUDIT_BIN; run through it."""
import os
import shutil
import sys
import subprocess
from pathlib import Path

import pytest

REPO_TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_TESTS))
from moto_server import aws_env, running_moto  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def _bin(name):
    target = os.environ.get("CARGO_TARGET_DIR", str(REPO / "target"))
    path = Path(os.environ.get("KMS_AUDIT_BIN_DIR", Path(target) / "debug")) / name
    assert path.exists(), f"{path} missing: run the tests through tests/run, which builds it"
    return path


@pytest.fixture(scope="session")
def kms_audit():
    path = _bin("kms-audit")

    def run(*args, check=True, **kw):
        proc = subprocess.run([str(path), *map(str, args)], capture_output=True, text=True, **kw)
        if check and proc.returncode not in (0,):
            raise AssertionError(f"kms-audit {' '.join(map(str, args))} → {proc.returncode}\n{proc.stderr}")
        return proc

    return run


@pytest.fixture()
def work(tmp_path):
    yield tmp_path
    shutil.rmtree(tmp_path, ignore_errors=True)


@pytest.fixture(scope="session")
def moto():
    """A moto server with the environment a kms-audit child process needs to use it: endpoint,
    path-style S3, dummy credentials."""
    with running_moto() as endpoint:
        yield {"endpoint": endpoint, "env": aws_env(endpoint)}
