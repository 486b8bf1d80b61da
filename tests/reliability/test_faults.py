"""Fault injection on the AWS side (issue 8, item 2): the real `kms-audit ingest s3://… --lake
s3://…` (and `encrypt`/`decrypt` for KMS) through `fault_proxy.py` in front of the moto server.

What must hold: transient faults (503 SlowDown, 500, throttling, a reset connection, a server
that answers late or not at all, a body cut mid-way) are retried and the lake equals the lake of
a clean run, byte for byte; faults that are not transient are reported on stderr naming the
bucket and key and reflected in the exit status; and no partial Parquet file is ever visible
under kms_events/. Results are tabled in README.md beside this file."""
import json
import re

import pytest

from conftest import Lake, assert_same_lake, aws_env, generate_trail, run, s3_client, upload_tree

TRAIL_BUCKET = "trail"
LAKE_BUCKET = "lake"
SOURCE = f"s3://{TRAIL_BUCKET}/AWSLogs/"
OBJECT = r"^/trail/AWSLogs/.+\.json\.gz(\?|$)"


@pytest.fixture(scope="module")
def world(moto, proxy, kms_audit, tmp_path_factory):
    """A generated trail uploaded to moto (directly), and the lake of a clean run through the proxy."""
    proxy.clear()
    s3 = s3_client(moto)
    for b in (TRAIL_BUCKET, LAKE_BUCKET):
        s3.create_bucket(Bucket=b)
    out = tmp_path_factory.mktemp("trail")
    generate_trail(kms_audit, out, records=400, files=10, seed=8, days=1)
    keys = upload_tree(s3, out, TRAIL_BUCKET)
    p = ingest(kms_audit, proxy, "clean")
    assert p.returncode == 0, p.stderr
    clean = Lake.s3(s3, LAKE_BUCKET, "clean")
    assert len(clean.parquet_keys()) >= 3 and len(clean.rows()) > 100
    clean.assert_complete()
    return {"s3": s3, "keys": keys, "clean": clean, "clean_seconds": p.elapsed}


def ingest(kms_audit, proxy, lake, extra=(), timeout=120, env_extra=None):
    return run([kms_audit, "ingest", SOURCE, "--lake", f"s3://{LAKE_BUCKET}/{lake}", "--json", *extra],
               env=dict(aws_env(proxy.endpoint), **(env_extra or {})), timeout=timeout)


def lake_of(world, name):
    return Lake.s3(world["s3"], LAKE_BUCKET, name)


def key_path(key):
    return r"^/%s/%s(\?|$)" % (TRAIL_BUCKET, re.escape(key))


# --- the injected faults look like AWS's ------------------------------------------------------

def test_injected_errors_parse_as_aws_errors(faults, moto):
    """boto3 (retries off) reads the proxy's faults as the service's own error codes."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError

    faults.set_rules([{"action": "s3_503", "service": "s3"},
                      {"action": "throttle", "service": "kms"},
                      {"action": "throttle", "service": "glue"}])
    cfg = Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"})
    kw = dict(endpoint_url=faults.endpoint, region_name="us-east-1", aws_access_key_id="testing",
              aws_secret_access_key="testing", config=cfg)
    calls = [(lambda: boto3.client("s3", **kw).list_buckets(), "SlowDown", 503),
             (lambda: boto3.client("kms", **kw).list_keys(), "ThrottlingException", 400),
             (lambda: boto3.client("glue", **kw).get_databases(), "ThrottlingException", 400)]
    for call, code, status in calls:
        with pytest.raises(ClientError) as e:
            call()
        assert e.value.response["Error"]["Code"] == code
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == status


# --- transient faults: retried, and the lake equals the clean run's ----------------------------

TRANSIENT = {
    "slowdown-first-get-of-every-object": [{"action": "s3_503", "method": "GET", "path": OBJECT, "per_path": 1}],
    "slowdown-twice-on-one-object": "per-key",
    "slowdown-on-listing": [{"action": "s3_503", "method": "GET", "path": r"^/trail/?\?.*list-type=2", "times": 2}],
    "internal-error-500-on-gets": [{"action": "error", "status": 500, "code": "InternalError", "method": "GET",
                                    "path": OBJECT, "times": 3}],
    "reset-before-answer-first-get": [{"action": "reset", "method": "GET", "path": OBJECT, "per_path": 1}],
    "slowdown-on-first-put-of-6-files": [{"action": "s3_503", "method": "PUT", "path": r"^/lake/.+/kms_events/",
                                          "per_path": 1, "times": 6}],
    "reset-after-put-body-received": [{"action": "reset", "method": "PUT", "path": r"^/lake/.+/kms_events/",
                                       "times": 2}],
    "late-answer-4s-on-one-get": "late",
}


@pytest.mark.parametrize("case", sorted(TRANSIENT))
def test_transient_faults_are_retried_and_the_lake_is_unchanged(case, faults, world, kms_audit):
    rules = TRANSIENT[case]
    one = world["keys"][len(world["keys"]) // 2]
    if rules == "per-key":
        rules = [{"action": "s3_503", "method": "GET", "path": key_path(one), "per_path": 2}]
    elif rules == "late":
        rules = [{"action": "stall", "seconds": 4, "method": "GET", "path": key_path(one), "times": 1}]
    installed = faults.set_rules(rules)
    p = ingest(kms_audit, faults, case)
    assert sum(r.fired for r in installed) > 0, "the fault was never injected"
    assert p.returncode == 0, f"exit {p.returncode}\n{p.stderr}"
    assert_same_lake(lake_of(world, case), world["clean"])
    if case == "slowdown-twice-on-one-object":
        assert len(faults.requests("GET", key_path(one))) == 3, "two failures then one success"


def test_a_body_cut_mid_way_is_retried(faults, world, kms_audit):
    one = world["keys"][0]
    faults.set_rules([{"action": "cut_body", "method": "GET", "path": key_path(one), "times": 1}])
    p = ingest(kms_audit, faults, "cut-retried")
    assert p.returncode == 0, f"exit {p.returncode}\n{p.stderr}"
    assert_same_lake(lake_of(world, "cut-retried"), world["clean"])


def test_a_body_cut_mid_way_is_reported_and_a_rerun_heals(faults, world, kms_audit):
    """What holds today: the cut file is named on stderr as retryable (not quarantined), the exit
    status says so, nothing partial is visible, and a rerun completes the lake exactly."""
    one = world["keys"][0]
    faults.set_rules([{"action": "cut_body", "method": "GET", "path": key_path(one), "times": 1}])
    p = ingest(kms_audit, faults, "cut")
    lake = lake_of(world, "cut")
    lake.assert_complete()
    if p.returncode != 0:
        assert p.returncode == 3, p.stderr
        assert f"s3://{TRAIL_BUCKET}/{one}" in p.stderr and "(retryable)" in p.stderr, p.stderr
        assert not [k for k in lake.objects if k.startswith("_quarantine/")], "a network cut was quarantined"
        source = f"s3://{TRAIL_BUCKET}/{one}"
        want = [r for r in world["clean"].rows() if json.loads(r)["source_object"] != source]
        assert sorted(lake.rows()) == sorted(want), "the other files did not land exactly"
    faults.clear()
    again = ingest(kms_audit, faults, "cut")
    assert again.returncode == 0, again.stderr
    assert_same_lake(lake_of(world, "cut"), world["clean"])


def test_a_server_that_never_answers_is_timed_out_and_retried(faults, world, kms_audit):
    one = world["keys"][1]
    # The proxy stays silent for 20 s and then drops the connection; a clean run takes ~2 s, so
    # an ingest with an attempt timeout of 5 s (KMS_AUDIT_AWS_ATTEMPT_TIMEOUT_SECS; 120 s by
    # default) gives up on the attempt, retries, and finishes within 15 s.
    faults.set_rules([{"action": "stall", "seconds": 20, "then": "close", "method": "GET", "path": key_path(one),
                       "times": 1}])
    p = ingest(kms_audit, faults, "silent", timeout=15, env_extra={"KMS_AUDIT_AWS_ATTEMPT_TIMEOUT_SECS": "5"})
    assert p.returncode == 0, p.stderr
    assert_same_lake(lake_of(world, "silent"), world["clean"])


# --- faults that are not transient: reported, exit status, nothing partial ----------------------

def test_a_denied_get_is_reported_and_the_other_files_land(faults, world, kms_audit):
    one = world["keys"][2]
    faults.set_rules([{"action": "error", "status": 403, "code": "AccessDenied", "method": "GET",
                       "path": key_path(one)}])
    p = ingest(kms_audit, faults, "denied-get")
    assert p.returncode == 3, f"exit {p.returncode}\n{p.stderr}"
    assert f"s3://{TRAIL_BUCKET}/{one}" in p.stderr and "AccessDenied" in p.stderr, p.stderr
    assert "not quarantined" in p.stderr, p.stderr
    summary = json.loads(p.stdout)
    assert summary["files"] == len(world["keys"]) - 1 and summary["quarantined_files"] == 0, summary
    lake = lake_of(world, "denied-get")
    lake.assert_complete()
    assert not [k for k in lake.objects if k.startswith("_quarantine/")], "a denied read is not bad data"
    source = f"s3://{TRAIL_BUCKET}/{one}"
    want = [r for r in world["clean"].rows() if json.loads(r)["source_object"] != source]
    assert sorted(lake.rows()) == sorted(want)
    # Once the permission is fixed, a rerun completes the lake exactly.
    faults.clear()
    assert ingest(kms_audit, faults, "denied-get").returncode == 0
    assert_same_lake(lake_of(world, "denied-get"), world["clean"])


@pytest.mark.parametrize("status,code", [(403, "AccessDenied"), (503, "SlowDown")])
def test_a_failed_put_is_reported_with_exit_1_and_nothing_partial(status, code, faults, world, kms_audit):
    """Every PUT of one Parquet file fails (denied, or throttled past the retry budget)."""
    name = f"put-{status}"
    target = world["clean"].parquet_keys()[len(world["clean"].parquet_keys()) // 2]
    faults.set_rules([{"action": "error" if status != 503 else "s3_503", "status": status, "code": code,
                       "method": "PUT", "path": r"^/lake/%s/%s(\?|$)" % (name, re.escape(target))}])
    p = ingest(kms_audit, faults, name)
    assert p.returncode == 1, f"exit {p.returncode}\n{p.stderr}"
    assert f"s3://{LAKE_BUCKET}/{name}/{target}" in p.stderr, p.stderr
    assert code in p.stderr, p.stderr
    if status == 503:
        put = faults.requests("PUT", r"^/lake/%s/kms_events/" % name, fault="s3_503")
        assert len(put) >= 3, f"a throttled PUT was tried {len(put)} times"
    lake_of(world, name).assert_complete()
    # The rerun converges on the clean lake.
    faults.clear()
    assert ingest(kms_audit, faults, name).returncode == 0
    assert_same_lake(lake_of(world, name), world["clean"])


# --- Glue and KMS throttling ---------------------------------------------------------------------

def test_glue_throttling_is_retried(faults, world, kms_audit, moto):
    import boto3
    glue = boto3.client("glue", endpoint_url=moto, region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing")
    glue.create_database(DatabaseInput={"Name": "audit"})
    cols = [{"Name": "event_id", "Type": "string"}]
    glue.create_table(DatabaseName="audit", TableInput={
        "Name": "kms_events",
        "StorageDescriptor": {"Columns": cols, "Location": f"s3://{LAKE_BUCKET}/glue/kms_events/"},
        "PartitionKeys": [{"Name": n, "Type": "string"} for n in ("key_id", "principal", "dt")]})
    installed = faults.set_rules([{"action": "throttle", "service": "glue", "per_path": 2}])
    p = ingest(kms_audit, faults, "glue", extra=["--glue-database", "audit"])
    assert installed[0].fired == 2
    assert p.returncode == 0, p.stderr
    parts = glue.get_partitions(DatabaseName="audit", TableName="kms_events")["Partitions"]
    want = {tuple(seg.split("=", 1)[1] for seg in k.split("/")[1:4]) for k in world["clean"].parquet_keys()}
    assert {tuple(p["Values"]) for p in parts} == want
    assert_same_lake(lake_of(world, "glue"), world["clean"])


def test_kms_throttling_is_retried_by_encrypt_and_decrypt(faults, kms_audit, moto, tmp_path):
    import boto3
    kms = boto3.client("kms", endpoint_url=moto, region_name="us-east-1", aws_access_key_id="testing",
                       aws_secret_access_key="testing")
    key = kms.create_key()["KeyMetadata"]["Arn"]
    plain = tmp_path / "plain.txt"
    plain.write_bytes(b"model weights, say\n" * 100)
    env = aws_env(faults.endpoint)
    enc = faults.set_rules([{"action": "throttle", "service": "kms", "times": 2}])
    p = run([kms_audit, "encrypt", plain, tmp_path / "enc.bin", "--key", key], env=env)
    assert p.returncode == 0, p.stderr
    assert enc[0].fired == 2
    dec = faults.set_rules([{"action": "throttle", "service": "kms", "times": 2}])
    p = run([kms_audit, "decrypt", tmp_path / "enc.bin", tmp_path / "out.txt", "--expect-key", key], env=env)
    assert p.returncode == 0, p.stderr
    assert dec[0].fired == 2
    assert (tmp_path / "out.txt").read_bytes() == plain.read_bytes()
