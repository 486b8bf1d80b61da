"""The moto server (the local AWS stand-in, ../shared/LOCAL-PARTS.md) for the Python test suites:
one place that starts it on a free loopback port, waits until it answers, and stops it."""
import contextlib
import os
import socket
import subprocess
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def moto_process(timeout=60):
    """Yields (endpoint URL, process) of a fresh moto server — the process for callers that measure
    it; stops it on exit."""
    port = free_port()
    proc = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.time() + timeout
    try:
        while True:
            try:
                urllib.request.urlopen(endpoint + "/moto-api/data.json", timeout=2)
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"moto_server did not start on {endpoint}")
                time.sleep(0.2)
        yield endpoint, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextlib.contextmanager
def running_moto(timeout=60):
    """Yields the endpoint URL of a fresh moto server; stops it on exit."""
    with moto_process(timeout) as (endpoint, _):
        yield endpoint


def aws_env(endpoint, region="us-east-1"):
    """The environment a child process (kms-audit, a Lambda binary) needs to use the moto server
    at `endpoint`: this process's environment with the endpoint, path-style S3, dummy credentials
    and the region, and without the local AWS profile or retry settings that would steer it away."""
    env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, KMS_AUDIT_S3_FORCE_PATH_STYLE="true",
               AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_SESSION_TOKEN="testing",
               AWS_REGION=region, AWS_DEFAULT_REGION=region, AWS_EC2_METADATA_DISABLED="true",
               NO_COLOR="1")
    for k in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE"):
        env.pop(k, None)
    return env
