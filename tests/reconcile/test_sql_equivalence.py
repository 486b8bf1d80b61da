"""Self-test of sql_equivalence.py on a tiny lake built here with pyarrow (pytest)."""

import datetime as dt
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sql_equivalence as se  # noqa: E402

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
pytest.importorskip("duckdb")
pytest.importorskip("sqlglot")

A = "111122223333"
KOUT = f"arn:aws:kms:us-east-1:{A}:key/0000-out"
KVOL = f"arn:aws:kms:us-east-1:{A}:key/0000-vol"
ROLE = f"arn:aws:iam::{A}:role/service-role/Exec"
JOB = f"arn:aws:sagemaker:us-east-1:{A}:training-job/j1"
T0 = dt.datetime(2025, 3, 10, 12, 0, tzinfo=dt.timezone.utc)


def t(minutes):
    return T0 + dt.timedelta(minutes=minutes)


def iso(x):
    return x.strftime("%Y-%m-%dT%H:%M:%S.") + f"{x.microsecond // 1000:03d}Z"


EXPECTATIONS = {
    "version": 1,
    "jobs": [{
        "kind": "training", "name": "j1", "arn": JOB, "role_arn": f"arn:aws:iam::{A}:role/Exec",
        "keys": {"volume": KVOL, "output": KOUT},
        "window": {"start": iso(t(0)), "end": iso(t(60))}, "status": "Completed",
    }],
    "allow": [{"principal": f"arn:aws:iam::{A}:role/KeyAdmin", "keys": ["*"], "operations": ["*"], "reason": "admins"}],
}

# (event_id, minute, name, principal, key, invoked_by, error, tls, ctx)
EVENTS = [
    ("grant", -2, "CreateGrant", ROLE, KVOL, "sagemaker.amazonaws.com", None, None, None),
    ("read", 10, "Decrypt", ROLE, KOUT, "fas.s3.amazonaws.com", None, None, {"aws:s3:arn": "arn:aws:s3:::b/o"}),
    ("late", 200, "GenerateDataKey", ROLE, KOUT, "s3.amazonaws.com", None, None, None),
    ("analyst", 20, "Decrypt", f"arn:aws:iam::{A}:role/Analyst", KOUT, "fas.s3.amazonaws.com", None, None, None),
    ("denied", 21, "Decrypt", f"arn:aws:iam::{A}:role/Analyst", KOUT, None, "AccessDenied", "TLSv1.3", None),
    ("dry", 22, "Decrypt", f"arn:aws:iam::{A}:role/Analyst", KOUT, None, "DryRunOperationException", "TLSv1", None),
    ("trail", 23, "Decrypt", f"arn:aws:iam::{A}:role/Analyst", KOUT, "s3.amazonaws.com", None, None,
     {"aws:cloudtrail:arn": "arn:aws:cloudtrail:us-east-1:1:trail/t"}),
    ("direct", 30, "Decrypt", ROLE, KOUT, None, None, "TLSv1.1", None),
    ("delete", 40, "ScheduleKeyDeletion", f"arn:aws:iam::{A}:role/KeyAdmin", KOUT, None, None, "TLSv1.3", None),
]


def finding(rule, sev, eid, minute, principal, key, name, job=None):
    return {"rule": rule, "severity": sev, "event_id": eid, "event_time": iso(t(minute)), "key_arn": key,
            "principal_arn": principal, "job_arn": job, "event_name": name, "account_id": A}


EXPECTED = [
    finding("outside-job-window", "medium", "late", 200, ROLE, KOUT, "GenerateDataKey", JOB),
    finding("unexpected-principal", "high", "analyst", 20, f"arn:aws:iam::{A}:role/Analyst", KOUT, "Decrypt"),
    finding("access-denied", "medium", "denied", 21, f"arn:aws:iam::{A}:role/Analyst", KOUT, "Decrypt"),
    finding("direct-use", "medium", "direct", 30, ROLE, KOUT, "Decrypt", JOB),
    finding("weak-tls", "low", "direct", 30, ROLE, KOUT, "Decrypt"),
    finding("key-lifecycle", "high", "delete", 40, f"arn:aws:iam::{A}:role/KeyAdmin", KOUT, "ScheduleKeyDeletion"),
    # The job's own output write never happened (the read is not a write, but any use counts): none.
]


def write_lake(root):
    ctx_type = pa.map_(pa.string(), pa.string())
    cols = {
        "event_id": [e[0] for e in EVENTS],
        "event_time": pa.array([t(e[1]) for e in EVENTS], pa.timestamp("ms", tz="UTC")),
        "event_name": [e[2] for e in EVENTS],
        "account_id": [A] * len(EVENTS),
        "key_arn": [e[4] for e in EVENTS],
        "key_alias": pa.array([None] * len(EVENTS), pa.string()),
        "principal_arn": [e[3] for e in EVENTS],
        "principal_type": ["AssumedRole"] * len(EVENTS),
        "access_key_id": ["ASIAEXAMPLE"] * len(EVENTS),
        "invoked_by": pa.array([e[5] for e in EVENTS], pa.string()),
        "source_ip": [e[5] or "10.0.0.1" for e in EVENTS],
        "encryption_context": pa.array([list(e[8].items()) if e[8] else None for e in EVENTS], ctx_type),
        "error_code": pa.array([e[6] for e in EVENTS], pa.string()),
        "tls_version": pa.array([e[7] for e in EVENTS], pa.string()),
        "grantee_principal": pa.array(["sagemaker.amazonaws.com" if e[2] == "CreateGrant" else None for e in EVENTS],
                                      pa.string()),
    }
    path = os.path.join(root, "kms_events", "dt=2025-03-10")
    os.makedirs(path)
    pq.write_table(pa.table(cols), os.path.join(path, "part-0.parquet"))


def run(tmp_path, findings):
    write_lake(str(tmp_path / "lake"))
    (tmp_path / "exp.json").write_text(json.dumps(EXPECTATIONS))
    (tmp_path / "findings.json").write_text(json.dumps(findings))
    return se.main([
        "--lake", str(tmp_path / "lake"), "--expectations", str(tmp_path / "exp.json"),
        "--findings", str(tmp_path / "findings.json"),
        "--from", "2025-03-10T00:00:00Z", "--to", "2025-03-11T00:00:00Z",
        "--watermark", "2025-03-10T23:00:00Z", "--slack-seconds", "900",
    ])


def test_queries_parse_and_share_the_common_block():
    se.check_queries()


def test_sql_matches_expected_findings(tmp_path):
    assert run(tmp_path, EXPECTED) == 0


def test_a_difference_is_reported(tmp_path, capsys):
    assert run(tmp_path, EXPECTED[:-1]) == 1
    assert "only in SQL" in capsys.readouterr().out
