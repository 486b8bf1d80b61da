#!/usr/bin/env python3
"""Run queries/reconcile/*.sql on DuckDB and compare with the Rust reconciler's findings.

    python3 tests/reconcile/sql_equivalence.py --lake LAKE --expectations expectations.json \
        --findings findings.json --from 2025-03-10T00:00:00Z --to 2025-03-17T00:00:00Z \
        --watermark 2025-03-16T23:30:00Z --slack-seconds 900 [--run-id R] [--tables DIR]

LAKE holds kms_events Parquet under LAKE/kms_events/ (Hive partitions or not). The expectations
tables are built from expectations.json here (mirroring crates/reconcile/src/tables.rs); with
--tables DIR, the Parquet files DIR/{expectations,expectations_allow,expectations_keys}.parquet the
Rust side wrote are used instead, after checking they equal this script's own flattening
(DIR may also be a lake: DIR/<table>/*.parquet, as `kms-audit reconcile` writes them).
With --lake-findings RUN_ID, the findings Parquet table the reconcile wrote
(LAKE/findings/dt=<day>/<run>.parquet) must hold exactly the --findings JSON rows of that run,
each in the dt partition of its event_time.
Each Trino query is transpiled to DuckDB with sqlglot. Exit 0 when the findings are equal (on
rule, severity, event_id, key_arn, principal_arn, job_arn, event_time, event_name, account_id),
1 when they differ, 2 on errors.

Pinned: duckdb==2.0.1 sqlglot==30.30.0 pyarrow==26.0.1 (pyarrow only for the self-test).
"""

from __future__ import annotations

import argparse
import datetime as dt
import glob
import json
import os
import re
import sys

QUERIES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "queries", "reconcile")
RULE_MARK = "-- rule: "


def parse_time(s: str | None) -> dt.datetime | None:
    if s is None:
        return None
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    t = dt.datetime.fromisoformat(s)
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    return t.astimezone(dt.timezone.utc)


def sql_time(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.") + f"{t.microsecond // 1000:03d}"


def ms(t) -> int | None:
    if t is None:
        return None
    if isinstance(t, str):
        t = parse_time(t)
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    return int(round(t.timestamp() * 1000))


# --- expectations tables (mirror of crates/reconcile/src/tables.rs) ---------------------------

PURPOSES = ["volume", "output", "endpoint", "data_capture", "notebook"]


def alias_map(e: dict) -> dict:
    aliases = dict(e.get("aliases") or {})
    m = dict(aliases)
    for alias in sorted(aliases):
        p = alias.find(":alias/")
        if p >= 0:
            m.setdefault(alias[p + 1:], aliases[alias])
    return m


def expectation_rows(e: dict) -> list[tuple]:
    rows = []
    for j in e.get("jobs") or []:
        buckets = j.get("buckets") or []
        all_bk = bool(buckets) and all(b.get("bucket_key_enabled", False) for b in buckets)
        keys = [(p, (j.get("keys") or {}).get(p)) for p in PURPOSES]
        keys = [(p, k) for p, k in keys if k]
        for b in buckets:
            keys += [("bucket", k) for k in b.get("keys") or []]
        w = j["window"]
        base = (j["arn"], j["name"], j["kind"], j["role_arn"])
        tail = (parse_time(w["start"]), parse_time(w.get("end")), j.get("status"), all_bk)
        if not keys:
            rows.append(base + (None, None) + tail)
        for p, k in keys:
            rows.append(base + (k, p) + tail)
    return rows


def allow_rows(e: dict) -> list[tuple]:
    return [
        (i, a["principal"], k, o, a.get("reason", ""))
        for i, a in enumerate(e.get("allow") or [])
        for k in a["keys"]
        for o in a["operations"]
    ]


def key_rows(e: dict) -> list[tuple]:
    rows = [("scope", k, None) for k in e.get("keys") or []]
    rows += [("alias", k, a) for a, k in sorted(alias_map(e).items())]
    return rows


TABLES = {
    "expectations": (
        "job_arn VARCHAR, job_name VARCHAR, job_kind VARCHAR, role_arn VARCHAR, key_arn VARCHAR, "
        "purpose VARCHAR, window_start TIMESTAMP, window_end TIMESTAMP, status VARCHAR, "
        "all_buckets_bucket_key BOOLEAN",
        expectation_rows,
    ),
    "expectations_allow": ("entry INTEGER, principal VARCHAR, key_arn VARCHAR, operation VARCHAR, reason VARCHAR", allow_rows),
    "expectations_keys": ("kind VARCHAR, key_arn VARCHAR, alias VARCHAR", key_rows),
}


def naive_utc(v):
    if isinstance(v, dt.datetime) and v.tzinfo is not None:
        return v.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return v


def load_tables(con, e: dict, tables_dir: str | None) -> None:
    for name, (cols, rows_fn) in TABLES.items():
        rows = [tuple(naive_utc(v) for v in r) for r in rows_fn(e)]
        con.execute(f"CREATE OR REPLACE TABLE {name} ({cols})")
        if rows:
            marks = ", ".join("?" for _ in rows[0])
            con.executemany(f"INSERT INTO {name} VALUES ({marks})", rows)
        if tables_dir:
            path = os.path.join(tables_dir, f"{name}.parquet")
            if not os.path.exists(path):
                path = os.path.join(tables_dir, name, "*.parquet")
            theirs = con.execute(f"SELECT * FROM read_parquet('{path}')").fetchall()
            theirs = sorted(tuple(naive_utc(v) for v in r) for r in theirs)
            ours = sorted(con.execute(f"SELECT * FROM {name}").fetchall())
            if theirs != ours:
                raise SystemExit(f"table {name}: Rust rows differ from expectations.json flattening:\n"
                                 f"  rust: {theirs[:5]}\n  py:   {ours[:5]}")


# --- queries -----------------------------------------------------------------------------------

def rule_files() -> list[str]:
    return sorted(f for f in glob.glob(os.path.join(QUERIES, "*.sql")) if not f.endswith("_ddl.sql"))


def check_queries() -> None:
    """Every rule file parses as Trino and shares the common block verbatim."""
    import sqlglot

    common = None
    for f in rule_files():
        text = open(f, encoding="utf-8").read()
        sqlglot.parse_one(text, read="trino")
        head = text[text.index("WITH\n"):text.index(RULE_MARK)]
        if common is None:
            common = head
        elif head != common:
            raise SystemExit(f"{f}: the shared block differs from the other rule files")
    for f in glob.glob(os.path.join(QUERIES, "*_ddl.sql")):
        for stmt in sqlglot.parse(open(f, encoding="utf-8").read(), read="trino"):
            assert stmt is not None


def substitute(text: str, params: dict) -> str:
    out = text
    for k, v in params.items():
        out = out.replace("{{" + k + "}}", str(v))
    left = re.findall(r"\{\{[a-z_]+\}\}", out)
    if left:
        raise SystemExit(f"unsubstituted placeholders {left}")
    return out


def run_sql(con, params: dict) -> list[dict]:
    import sqlglot

    out = []
    for f in rule_files():
        text = substitute(open(f, encoding="utf-8").read(), params)
        duck = sqlglot.transpile(text, read="trino", write="duckdb")[0]
        cur = con.execute(duck)
        names = [d[0] for d in cur.description]
        for row in cur.fetchall():
            out.append(dict(zip(names, row)))
    return out


FIELDS = ["rule", "severity", "event_id", "key_arn", "principal_arn", "job_arn", "event_time", "event_name", "account_id"]


def ident(f: dict) -> tuple:
    return tuple(ms(f[k]) if k == "event_time" else f.get(k) for k in FIELDS)


def compare(sql: list[dict], rust: list[dict]) -> list[str]:
    from collections import Counter

    a, b = Counter(map(ident, sql)), Counter(map(ident, rust))
    problems = []
    for k in sorted((a - b).keys(), key=str):
        problems.append(f"only in SQL:  {dict(zip(FIELDS, k))}")
    for k in sorted((b - a).keys(), key=str):
        problems.append(f"only in Rust: {dict(zip(FIELDS, k))}")
    return problems


def check_lake_findings(con, lake: str, run_id: str, rust: list[dict]) -> list[str]:
    """The findings table (Parquet, dt partitions) holds exactly the JSON findings of the run."""
    files = os.path.join(lake, "findings", "**", "*.parquet")
    if not glob.glob(files, recursive=True):
        return [] if not rust else [f"no findings Parquet under {lake}/findings/ but {len(rust)} findings"]
    cur = con.execute(
        f"SELECT * FROM read_parquet('{files}', hive_partitioning = true) WHERE run_id = ?", [run_id])
    names = [d[0] for d in cur.description]
    rows = [dict(zip(names, r)) for r in cur.fetchall()]
    problems = []
    for r in rows:
        t = r["event_time"]
        if t is not None:
            day = (t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)).astimezone(dt.timezone.utc).date()
            if str(r["dt"]) != day.isoformat():
                problems.append(f"findings table: {r['rule']} {r['event_id']} in dt={r['dt']}, event day {day}")
    for p in compare(rows, rust):
        problems.append("findings table vs JSON: " + p.replace("only in SQL", "only in Parquet"))
    return problems


def connect():
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    return con


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lake", required=True)
    ap.add_argument("--expectations", required=True)
    ap.add_argument("--findings", required=True)
    ap.add_argument("--from", dest="from_", required=True)
    ap.add_argument("--to", required=True)
    ap.add_argument("--watermark", required=True)
    ap.add_argument("--slack-seconds", type=int, required=True)
    ap.add_argument("--run-id", default="sql")
    ap.add_argument("--tables")
    ap.add_argument("--lake-findings", metavar="RUN_ID")
    a = ap.parse_args(argv)
    try:
        check_queries()
        con = connect()
        files = os.path.join(a.lake, "kms_events", "**", "*.parquet")
        con.execute(f"CREATE VIEW kms_events AS SELECT * FROM read_parquet('{files}', hive_partitioning = true, union_by_name = true)")
        with open(a.expectations, encoding="utf-8") as fh:
            load_tables(con, json.load(fh), a.tables)
        params = {
            "from": sql_time(parse_time(a.from_)),
            "to": sql_time(parse_time(a.to)),
            "watermark": sql_time(parse_time(a.watermark)),
            "slack_seconds": a.slack_seconds,
            "run_id": a.run_id,
        }
        sql = run_sql(con, params)
        with open(a.findings, encoding="utf-8") as fh:
            rust = json.load(fh)
    except SystemExit as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    problems = compare(sql, rust)
    if a.lake_findings:
        problems += check_lake_findings(con, a.lake, a.lake_findings, rust)
    for p in problems:
        print(p)
    print(f"sql findings: {len(sql)}, rust findings: {len(rust)}, differences: {len(problems)}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
