"""DuckDB — an engine independent of ours — reads the lake the CLI wrote and agrees with a
count made here from the raw JSON, per (key, principal, day, event)."""
import collections
import gzip
import json
from pathlib import Path

import duckdb

from conftest import REPO


def independent_counts(trail: Path):
    seen, counts = set(), collections.Counter()
    for path in sorted(trail.rglob("*.json.gz")):
        for r in json.load(gzip.open(path))["Records"]:
            if r.get("eventSource") != "kms.amazonaws.com":
                continue
            ui = r.get("userIdentity") or {}
            kind = ui.get("type")
            if kind == "AssumedRole":
                principal = ui["sessionContext"]["sessionIssuer"]["arn"]
            elif kind == "AWSService":
                principal = "service:" + ui["invokedBy"]
            elif kind:
                principal = ui["arn"]
            else:
                principal = "aws-internal"
            keys = []
            for res in r.get("resources") or []:
                k = res["ARN"].rsplit("/", 1)[1]
                if k not in keys:
                    keys.append(k)
            for key in keys or ["_none"]:
                if (r["eventID"], key) in seen:
                    continue
                seen.add((r["eventID"], key))
                counts[(key, principal, r["eventTime"][:10], r["eventName"])] += 1
    return counts


def lake_counts(lake: Path):
    rows = duckdb.sql(
        f"""SELECT key_id, principal, CAST(dt AS VARCHAR), event_name, count(*)
            FROM read_parquet('{lake}/kms_events/**/*.parquet', hive_partitioning=true)
            GROUP BY ALL"""
    ).fetchall()
    return collections.Counter({tuple(r[:4]): r[4] for r in rows})


def test_generated_trail_counts_agree_with_duckdb(kms_audit, work):
    trail, lake = work / "trail", work / "lake"
    kms_audit("generate-trail", "--out", trail, "--records", 8000, "--files", 16, "--seed", 3)
    out = kms_audit("ingest", trail, "--lake", lake, "--json")
    summary = json.loads(out.stdout)
    want = independent_counts(trail)
    assert lake_counts(lake) == want
    assert summary["rows"] == sum(want.values())
    assert summary["duplicates"] > 0 and summary["quarantined"] == 0
    for field in ("files", "skipped", "records", "kms_events", "duplicates", "quarantined"):
        assert isinstance(summary[field], int)


def test_published_shapes_read_back_typed(kms_audit, work):
    lake = work / "lake"
    kms_audit("ingest", REPO / "tests/data/cloudtrail/kms-examples.json", "--lake", lake)
    con = duckdb.connect()
    con.sql(f"CREATE VIEW e AS SELECT * FROM read_parquet('{lake}/kms_events/**/*.parquet', hive_partitioning=true)")
    types = dict(con.sql("SELECT column_name, column_type FROM (DESCRIBE e)").fetchall())
    assert types["event_time"] == "TIMESTAMP WITH TIME ZONE"
    assert types["encryption_context"] == "MAP(VARCHAR, VARCHAR)"
    assert types["grant_operations"] == "VARCHAR[]"
    assert types["read_only"] == "BOOLEAN"
    s3_arn = con.execute(
        "SELECT encryption_context['aws:s3:arn'] FROM e WHERE event_name = 'Decrypt' AND error_code IS NULL"
    ).fetchall()[0][0]
    assert s3_arn.startswith("arn:aws:s3:::ml-data-")
    ops = con.execute("SELECT grant_operations FROM e WHERE event_name = 'CreateGrant'").fetchall()[0][0]
    assert "Decrypt" in ops
    assert con.execute("SELECT count(*) FROM e WHERE event_name = 'ReEncrypt'").fetchall()[0][0] == 2
    # event_time sorted within each file
    for (f,) in con.sql(f"SELECT DISTINCT filename FROM read_parquet('{lake}/kms_events/**/*.parquet', filename=true)").fetchall():
        times = [t for (t,) in con.sql(f"SELECT event_time FROM read_parquet('{f}')").fetchall()]
        assert times == sorted(times)


def test_exit_status_3_when_something_is_quarantined(kms_audit, work):
    bad = REPO / "crates/lake/tests/data/bad"
    lake = work / "lake"
    proc = kms_audit("ingest", bad, REPO / "tests/data/cloudtrail", "--lake", lake, "--json", check=False)
    assert proc.returncode == 3, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["quarantined"] == summary["quarantined_files"] + summary["quarantined_records"] > 0
    assert "truncated.json.gz" in proc.stderr
    n = duckdb.execute(f"SELECT count(*) FROM read_parquet('{lake}/kms_events/**/*.parquet', hive_partitioning=true)").fetchall()[0][0]
    assert n == 13 + 14
    proc = kms_audit("ingest", "--lake", lake, check=False)
    assert proc.returncode == 2, "usage error"
