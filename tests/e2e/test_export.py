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


def test_sign_with_a_kms_key_on_the_moto_server(bundle, kms_audit, moto, tmp_path):
    """`--sign-with <KMS key ARN>` through the real KMS API (moto's): the bundle names the key,
    carries its public key (GetPublicKey) and a signature that KMS Verify accepts for the manifest
    digest and rejects for any other digest."""
    import base64
    import hashlib

    import boto3

    kms = boto3.client("kms", endpoint_url=moto["endpoint"], region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    arn = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    out = tmp_path / "kms-bundle"
    kms_audit("export", "--lake", bundle["lake"], "--from", FROM, "--to", TO, "--out", out,
              "--sign-with", arn, env=moto["env"])
    sig = json.loads((out / "manifest.sig.json").read_text())
    manifest = (out / "manifest.json").read_bytes()
    digest = hashlib.sha256(manifest).digest()
    assert sig["key_id"] == arn and sig["algorithm"] == "RSASSA_PSS_SHA_256"
    assert sig["manifest_sha256"] == digest.hex()
    assert base64.b64decode(sig["public_key"]) == kms.get_public_key(KeyId=arn)["PublicKey"]

    def kms_verify(message_digest):
        try:
            return kms.verify(KeyId=arn, Message=message_digest, MessageType="DIGEST",
                              Signature=base64.b64decode(sig["signature"]),
                              SigningAlgorithm="RSASSA_PSS_SHA_256")["SignatureValid"]
        except kms.exceptions.KMSInvalidSignatureException:
            return False

    assert kms_verify(digest)
    assert not kms_verify(hashlib.sha256(manifest + b" ").digest())
    # The hashes are checked offline whatever the signature; a pinned key must match the signer.
    pinned = kms_audit("export-verify", out, "--expect-key", "arn:aws:kms:us-east-1:111122223333:key/other",
                       check=False)
    assert pinned.returncode == 1 and "not by arn:aws:kms:us-east-1:111122223333:key/other" in pinned.stderr


def test_offline_check_of_a_kms_rsa_pss_signature(bundle, kms_audit, tmp_path):
    """export-verify checks an RSASSA_PSS_SHA_256 signature offline exactly as real KMS makes it
    (Sign with MessageType=DIGEST: PSS over the SHA-256 of the manifest, MGF1-SHA-256, salt length
    32). moto does not make it that way (it re-hashes DIGEST messages and uses the maximum salt;
    LOCAL-PARTS.md), so the signature here comes from an independent producer, Python
    `cryptography`, with a key standing in for the KMS key."""
    import base64
    import hashlib

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

    out = tmp_path / "pss-bundle"
    shutil.copytree(bundle["out"], out)
    (out / "manifest.sig.json").unlink()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    manifest = (out / "manifest.json").read_bytes()
    digest = hashlib.sha256(manifest).digest()
    signature = key.sign(digest, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
                         utils.Prehashed(hashes.SHA256()))
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    arn = "arn:aws:kms:us-east-1:111122223333:key/0f0e0d0c-0b0a-0908-0706-050403020100"
    doc = {"algorithm": "RSASSA_PSS_SHA_256", "key_id": arn, "manifest_sha256": digest.hex(),
           "signature": base64.b64encode(signature).decode(), "public_key": base64.b64encode(spki).decode()}
    (out / "manifest.sig.json").write_text(json.dumps(doc))
    ok = kms_audit("export-verify", out, "--require-signature", "--expect-key", arn, check=False)
    assert ok.returncode == 0, ok.stderr
    assert f"signature valid, by {arn}" in ok.stderr

    bad = bytearray(signature)
    bad[-1] ^= 1
    (out / "manifest.sig.json").write_text(json.dumps(dict(doc, signature=base64.b64encode(bytes(bad)).decode())))
    proc = kms_audit("export-verify", out, "--require-signature", check=False)
    assert proc.returncode == 1 and "signature INVALID" in proc.stderr, proc.stderr
