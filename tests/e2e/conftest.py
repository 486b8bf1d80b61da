"""Shared fixtures of the end-to-end tests: the built kms-audit binary and scratch folders.

tests/run builds the workspace binaries first and exports KMS_AUDIT_BIN; run through it."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

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
    """A moto server on a free loopback port (the AWS stand-in; see ../shared/LOCAL-PARTS.md), with the
    environment a kms-audit child process needs to use it: endpoint, path-style S3, dummy credentials."""
    import socket
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            urllib.request.urlopen(endpoint + "/moto-api/data.json", timeout=2)
            break
        except OSError:
            if time.time() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError(f"moto_server did not start on {endpoint}")
            time.sleep(0.2)
    env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, KMS_AUDIT_S3_FORCE_PATH_STYLE="true",
               AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_REGION="us-east-1",
               AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true")
    env.pop("AWS_PROFILE", None)
    yield {"endpoint": endpoint, "env": env}
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
