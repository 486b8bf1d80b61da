"""Every query in queries/ is valid Athena/Trino SQL (parsed by sqlglot) and, run in DuckDB on a
lake the CLI wrote, returns what this file computes independently from the raw CloudTrail JSON."""
import collections
import datetime as dt
import gzip
import json
import re
from pathlib import Path

import duckdb
import pytest
import sqlglot

from conftest import REPO

QUERIES = REPO / "queries"
PERIODS = [("2025-03-01 00:00:00.000", "2025-04-01 00:00:00.000"), ("2025-03-11 00:00:00.000", "2025-03-12 12:00:00.000")]
PRICE = 0.03
VPC_PATTERN = "%:role/service-role/AmazonSageMaker-ExecutionRole-%"


def ts(text):
    return dt.datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S" if "T" in text else "%Y-%m-%d %H:%M:%S")


def principal_of(ui):
    kind = ui.get("type")
    if kind == "AssumedRole":
        return ui["sessionContext"]["sessionIssuer"]["arn"]
    if kind == "AWSService":
        return "service:" + ui["invokedBy"]
    if kind:
        return ui["arn"]
    return "aws-internal"


def raw_rows(paths):
    """One dict per (KMS record, key), deduplicated on (event id, key) like the lake."""
    seen, rows = set(), []
    for path in paths:
        opener = gzip.open if str(path).endswith(".gz") else open
        for r in json.load(opener(path))["Records"]:
            if r.get("eventSource") != "kms.amazonaws.com":
                continue
            ui = r.get("userIdentity") or {}
            keys = []
            for res in r.get("resources") or []:
                if res["ARN"] not in keys:
                    keys.append(res["ARN"])
            for key in keys or [None]:
                if (r["eventID"], key) in seen:
                    continue
                seen.add((r["eventID"], key))
                rows.append({
                    "event_id": r["eventID"], "event_time": ts(r["eventTime"]), "event_name": r["eventName"],
                    "key_arn": key, "principal_arn": principal_of(ui), "principal_type": ui.get("type"),
                    "access_key_id": ui.get("accessKeyId"), "invoked_by": ui.get("invokedBy"),
                    "error_code": r.get("errorCode"), "error_message": r.get("errorMessage"),
                    "source_ip": r.get("sourceIPAddress"), "vpc_endpoint_id": r.get("vpcEndpointId"),
                    "tls_version": (r.get("tlsDetails") or {}).get("tlsVersion"),
                    "grantee_principal": (r.get("requestParameters") or {}).get("granteePrincipal")
                    if isinstance(r.get("requestParameters"), dict) else None,
                })
    return rows


@pytest.fixture(scope="module")
def world(kms_audit, tmp_path_factory):
    work = tmp_path_factory.mktemp("queries")
    trail, lake = work / "trail", work / "lake"
    kms_audit("generate-trail", "--out", trail, "--records", 5000, "--files", 10, "--seed", 5)
    fixtures = REPO / "tests/data/cloudtrail/kms-examples.json"
    kms_audit("ingest", trail, fixtures, "--lake", lake)
    rows = raw_rows(sorted(trail.rglob("*.json.gz")) + [fixtures])
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        f"CREATE VIEW kms_events AS SELECT * FROM read_parquet('{lake}/kms_events/**/*.parquet', "
        "hive_partitioning = true, hive_types_autocast = false)"
    )
    # Two jobs sharing a role with overlapping windows, one with an open window.
    roles = sorted({r["principal_arn"] for r in rows if "AmazonSageMaker" in r["principal_arn"]})
    jobs = [
        ("arn:aws:sagemaker:us-east-1:111122223333:training-job/a", roles[0], dt.datetime(2025, 3, 10), dt.datetime(2025, 3, 11, 12)),
        ("arn:aws:sagemaker:us-east-1:111122223333:training-job/b", roles[0], dt.datetime(2025, 3, 11), None),
        ("arn:aws:sagemaker:us-east-1:111122223333:endpoint/c", roles[1], dt.datetime(2025, 3, 9), None),
    ]
    con.execute("CREATE TABLE expectations (job_arn VARCHAR, role_arn VARCHAR, window_start TIMESTAMP, window_end TIMESTAMP)")
    con.executemany("INSERT INTO expectations VALUES (?, ?, ?, ?)", jobs)
    return {"con": con, "rows": rows, "jobs": jobs, "lake": lake}


def run(con, name, params):
    text = (QUERIES / "analysis" / f"{name}.sql").read_text()
    for k, v in params.items():
        text = text.replace("{{" + k + "}}", str(v))
    assert "{{" not in text, f"{name}: unreplaced parameter"
    duck = sqlglot.transpile(text, read="trino", write="duckdb")[0]
    cur = con.execute(duck)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def in_period(rows, period):
    lo, hi = (dt.datetime.strptime(p[:19], "%Y-%m-%d %H:%M:%S") for p in period)
    return [r for r in rows if lo <= r["event_time"] < hi]


def naive(t):
    return t.replace(tzinfo=None) if t is not None and getattr(t, "tzinfo", None) else t


def test_every_query_parses_as_trino_and_ddl_as_athena():
    files = sorted(QUERIES.rglob("*.sql"))
    assert len(files) >= 12
    for f in files:
        text = re.sub(r"\{\{(\w+)\}\}", r"\1", f.read_text()) if "ddl" in f.parts else f.read_text()
        dialect = "athena" if "CREATE EXTERNAL TABLE" in text else "trino"
        for stmt in sqlglot.parse(text, read=dialect):
            assert stmt is not None, f


def test_ddl_columns_match_the_files_we_write(world):
    ddl = sqlglot.parse_one((QUERIES / "ddl/kms_events.sql").read_text().replace("{{location}}", "s3://b/p/"), read="athena")
    cols = [(c.name, c.args["kind"].sql("hive").lower()) for c in ddl.find_all(sqlglot.exp.ColumnDef)]
    partition = [n for n, _ in cols[-3:]]
    assert partition == ["key_id", "principal", "dt"]
    described = world["con"].execute("DESCRIBE kms_events").fetchall()
    duck = {name: typ for name, typ, *_ in described}
    as_athena = {"VARCHAR": "string", "TIMESTAMP WITH TIME ZONE": "timestamp", "BOOLEAN": "boolean",
                 "MAP(VARCHAR, VARCHAR)": "map<string, string>", "VARCHAR[]": "array<string>"}
    for name, typ in cols:
        assert name in duck, f"DDL column {name} not in the files"
        assert as_athena[duck[name]] == typ.replace("map<string,string>", "map<string, string>"), name
    assert set(duck) == {n for n, _ in cols}, "files and DDL have the same columns"


@pytest.mark.parametrize("period", PERIODS)
def test_daily_calls(world, period):
    want = collections.Counter()
    errors = collections.Counter()
    for r in in_period(world["rows"], period):
        k = (r["key_arn"], r["principal_arn"], r["event_time"].date())
        want[k] += 1
        errors[k] += r["error_code"] is not None
    got = run(world["con"], "daily_calls", {"from": period[0], "to": period[1]})
    assert {(g["key_arn"], g["principal_arn"], g["day"]): (g["calls"], g["errors"]) for g in got} == {
        k: (v, errors[k]) for k, v in want.items()}


@pytest.mark.parametrize("period", PERIODS)
def test_principals_per_key(world, period):
    want = collections.defaultdict(set)
    calls = collections.Counter()
    for r in in_period(world["rows"], period):
        if r["key_arn"]:
            want[r["key_arn"]].add(r["principal_arn"])
            calls[r["key_arn"]] += 1
    got = run(world["con"], "principals_per_key", {"from": period[0], "to": period[1]})
    assert {g["key_arn"]: (g["principals"], list(g["principal_arns"]), g["calls"]) for g in got} == {
        k: (len(v), sorted(v), calls[k]) for k, v in want.items()}


def test_denied_calls(world):
    period = PERIODS[0]
    want = sorted((r["event_id"], r["key_arn"]) for r in in_period(world["rows"], period)
                  if (r["error_code"] or "").startswith("AccessDenied"))
    got = run(world["con"], "denied_calls", {"from": period[0], "to": period[1]})
    assert sorted((g["event_id"], g["key_arn"]) for g in got) == want
    assert len(want) > 10


def test_weak_tls(world):
    period = PERIODS[0]
    want = collections.Counter((r["principal_arn"], r["key_arn"], r["tls_version"]) for r in in_period(world["rows"], period)
                               if r["tls_version"] in ("TLSv1", "TLSv1.0", "TLSv1.1", "SSLv3"))
    got = run(world["con"], "weak_tls", {"from": period[0], "to": period[1]})
    assert {(g["principal_arn"], g["key_arn"], g["tls_version"]): g["calls"] for g in got} == dict(want)
    assert want


def test_no_vpc_endpoint(world):
    period = PERIODS[0]
    like = re.compile("^" + re.escape(VPC_PATTERN).replace("%", ".*") + "$")
    want = collections.Counter((r["principal_arn"], r["key_arn"], r["source_ip"]) for r in in_period(world["rows"], period)
                               if r["vpc_endpoint_id"] is None and r["invoked_by"] is None and like.match(r["principal_arn"]))
    got = run(world["con"], "no_vpc_endpoint", {"from": period[0], "to": period[1], "vpc_principal_pattern": VPC_PATTERN})
    assert {(g["principal_arn"], g["key_arn"], g["source_ip"]): g["calls"] for g in got} == dict(want)
    assert want


def test_key_lifecycle(world):
    names = set(re.findall(r"'(\w+)'", (QUERIES / "analysis/key_lifecycle.sql").read_text().split("IN (")[1].split(")")[0]))
    assert {"PutKeyPolicy", "CreateGrant", "ScheduleKeyDeletion", "DisableKey", "DisableKeyRotation"} <= names
    period = PERIODS[0]
    want = sorted((r["event_id"], r["key_arn"], r["event_name"]) for r in in_period(world["rows"], period) if r["event_name"] in names)
    got = run(world["con"], "key_lifecycle", {"from": period[0], "to": period[1]})
    assert sorted((g["event_id"], g["key_arn"], g["event_name"]) for g in got) == want
    assert {"ScheduleKeyDeletion", "PutKeyPolicy", "CreateGrant"} <= {w[2] for w in want}


def test_cross_account(world):
    period = PERIODS[0]
    want = collections.Counter()
    for r in in_period(world["rows"], period):
        if not r["key_arn"]:
            continue
        p = r["principal_arn"]
        caller = p.split(":")[4] if p.startswith("arn:") else p[8:] if p.startswith("account:") else None
        if caller and caller != r["key_arn"].split(":")[4]:
            want[(r["key_arn"], p)] += 1
    got = run(world["con"], "cross_account", {"from": period[0], "to": period[1]})
    assert {(g["key_arn"], g["principal_arn"]): g["calls"] for g in got} == dict(want)
    assert any("444455556666" in k for k, _ in want), "the published cross-account GenerateDataKey is found"


def test_iam_user_access_keys(world):
    period = PERIODS[0]
    want = collections.Counter((r["principal_arn"], r["access_key_id"]) for r in in_period(world["rows"], period)
                               if (r["access_key_id"] or "").startswith("AKIA") or r["principal_type"] == "IAMUser")
    got = run(world["con"], "iam_user_access_keys", {"from": period[0], "to": period[1]})
    assert {(g["principal_arn"], g["access_key_id"]): g["calls"] for g in got} == dict(want)
    assert want


def test_request_cost(world):
    period = PERIODS[0]
    want = collections.Counter()
    for r in in_period(world["rows"], period):
        matching = [j for j in world["jobs"] if j[1] == r["principal_arn"] and j[2] <= r["event_time"]
                    and (j[3] is None or r["event_time"] <= j[3])]
        matching.sort(key=lambda j: (-j[2].timestamp(), j[0]))
        want[(r["key_arn"], r["principal_arn"], matching[0][0] if matching else None)] += 1
    got = run(world["con"], "request_cost", {"from": period[0], "to": period[1], "price_per_10k": PRICE})
    assert {(g["key_arn"], g["principal_arn"], g["job_arn"]): g["requests"] for g in got} == dict(want)
    for g in got:
        assert g["cost"] == pytest.approx(g["requests"] * PRICE / 10000)
    assert {j[0] for j in world["jobs"]} <= {k[2] for k in want}, "every job is attributed some calls"
