"""`kms-audit demo`, the README's first command: it builds the sample world, runs the whole
pipeline, finds what was planted, fails the tampered object, and leaves a verifiable bundle."""
import json


def test_demo_finds_what_was_planted_and_points_at_the_report(kms_audit, work):
    proc = kms_audit("demo", "--dir", work / "demo")
    report = work / "demo" / "bundle" / "report.html"
    assert f"report: {report}" in proc.stdout
    assert report.exists()
    findings = json.loads((work / "demo" / "findings.json").read_text())
    rules = {f["rule"] for f in findings}
    for rule in ("unexpected-principal", "outside-job-window", "unexpected-key", "missing-usage", "access-denied",
                 "direct-use", "long-term-credentials", "weak-tls", "key-lifecycle"):
        assert rule in rules, rule
    verification = json.loads((work / "demo" / "verification.json").read_text())
    failed = [o for o in verification["objects"] if o["verdict"] != "ok"]
    assert [o["object"].rsplit("/", 1)[1] for o in failed] == ["part-0007.csv"]
    assert "objects verified: 11 ok, 1 failed" in proc.stderr
    assert kms_audit("export-verify", work / "demo" / "bundle", "--require-signature").returncode == 0
    # A rerun reuses its own folder; a foreign non-empty folder is refused.
    kms_audit("demo", "--dir", work / "demo")
    (work / "other").mkdir()
    (work / "other" / "keep.txt").write_text("mine")
    assert kms_audit("demo", "--dir", work / "other", check=False).returncode == 1
    assert (work / "other" / "keep.txt").exists()
