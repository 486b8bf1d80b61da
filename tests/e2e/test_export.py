"""The export bundle from the CLI: its numbers equal DuckDB's on the lake, headless Chromium
renders report.html to a PNG that is not blank and shows the charts' colours, and editing one
byte of any file makes export-verify fail naming that file."""
import collections
import csv
import json
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import duckdb
import pytest

FROM, TO = "2025-03-10", "2025-03-13"


@pytest.fixture(scope="module")
def bundle(kms_audit, tmp_path_factory):
    work = tmp_path_factory.mktemp("export")
    trail, lake, out = work / "trail", work / "lake", work / "bundle"
    kms_audit("generate-trail", "--out", trail, "--records", 4000, "--files", 8, "--seed", 9)
    kms_audit("ingest", trail, "--lake", lake)
    proc = kms_audit("export", "--lake", lake, "--from", FROM, "--to", TO, "--out", out,
                     "--sign-with", f"local:{work / 'signing.json'}", "--create-signing-key", "--json")
    return {"work": work, "lake": lake, "out": out, "summary": json.loads(proc.stdout)}


def test_usage_numbers_equal_the_lake(bundle):
    got = collections.Counter()
    for row in csv.DictReader(open(bundle["out"] / "usage.csv")):
        got[(row["key_arn"], row["principal_arn"], row["operation"], row["day"])] += int(row["calls"])
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    rows = con.execute(
        f"""SELECT coalesce(key_arn, ''), principal_arn, event_name, strftime(event_time, '%Y-%m-%d'), count(*)
            FROM read_parquet('{bundle['lake']}/kms_events/**/*.parquet', hive_partitioning = true)
            WHERE event_time >= TIMESTAMPTZ '{FROM} 00:00:00+00' AND event_time < TIMESTAMPTZ '{TO} 00:00:00+00'
            GROUP BY ALL"""
    ).fetchall()
    assert got == collections.Counter({tuple(r[:4]): r[4] for r in rows})
    assert sum(got.values()) == bundle["summary"]["calls"] > 0


def chromium(*args):
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    assert exe, "chromium not installed (.ci/install-system-packages installs it)"
    return subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                           "--disable-background-networking", "--disable-component-update", "--disable-sync", *args],
                          capture_output=True, text=True, timeout=120)


def png_pixels(path: Path):
    """Decodes an 8-bit RGB/RGBA PNG (what Chromium writes) into rows of pixel tuples."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and color in (2, 6)
            channels = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw, stride, rows, prev = zlib.decompress(idat), width * channels, [], bytearray(width * channels)
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b, c = prev[i], prev[i - channels] if i >= channels else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append([tuple(line[i:i + 3]) for i in range(0, stride, channels)])
        prev = line
    return rows


def test_chromium_renders_the_report_with_its_charts(bundle, tmp_path):
    html = bundle["out"] / "report.html"
    dom = chromium(f"--user-data-dir={tmp_path / 'profile-dom'}", "--dump-dom", html.as_uri())
    assert dom.returncode == 0, dom.stderr
    for chart in ("chart-daily", "chart-principals", "chart-findings"):
        assert f'id="{chart}"' in dom.stdout
    assert dom.stdout.count("<polyline") >= 2 and "<rect" in dom.stdout
    png = tmp_path / "report.png"
    shot = chromium(f"--user-data-dir={tmp_path / 'profile-shot'}", f"--screenshot={png}", "--window-size=1280,1600",
                    "--hide-scrollbars", html.as_uri())
    assert png.exists(), shot.stderr
    pixels = [p for row in png_pixels(png) for p in row]
    colours = collections.Counter(pixels)
    assert len(colours) > 20, "not a blank page"
    assert sum(n for c, n in colours.items() if c != (255, 255, 255)) > len(pixels) * 0.01
    palette = {(0x1F, 0x77, 0xB4), (0xFF, 0x7F, 0x0E), (0x2C, 0xA0, 0x2C)}
    assert palette & set(colours), "the chart series colours are on the page"


def test_export_verify_names_the_edited_file(bundle, kms_audit, tmp_path):
    ok = kms_audit("export-verify", bundle["out"], "--require-signature", check=False)
    assert ok.returncode == 0, ok.stderr
    for name in sorted(p.name for p in bundle["out"].iterdir()):
        copy = tmp_path / f"copy-{name}"
        shutil.copytree(bundle["out"], copy)
        data = bytearray((copy / name).read_bytes())
        data[len(data) // 2] ^= 1
        (copy / name).write_bytes(bytes(data))
        proc = kms_audit("export-verify", copy, "--require-signature", check=False)
        assert proc.returncode == 1, name
        if name.startswith("manifest"):
            assert "signature INVALID" in proc.stderr or "manifest" in proc.stderr, proc.stderr
        else:
            assert f"{name}: changed" in proc.stderr, proc.stderr
