"""`python -m worker classify PATH...`: the exact output contract other tools depend on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
FIELDS = {"path", "message_id", "kind", "language", "labels", "scores", "flags", "business_id",
          "needs_review", "queue", "replies"}


def classify(*paths: str | Path) -> tuple[int, list[dict]]:
    run = subprocess.run([sys.executable, "-m", "worker", "classify", *map(str, paths)],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    return run.returncode, [json.loads(line) for line in run.stdout.splitlines()]


def test_it_prints_one_json_line_per_message_in_sorted_order() -> None:
    status, records = classify(SAMPLES)
    assert status == 0
    assert [r["path"] for r in records] == [str(p) for p in sorted(SAMPLES.rglob("*.eml"))]
    for record in records:
        assert set(record) == FIELDS, record["path"]
        assert record["kind"] in {"inquiry", "auto_reply", "bounce", "list", "spam"}
        assert isinstance(record["scores"], dict) and isinstance(record["replies"], list)


def test_it_reports_non_inquiries_without_labels_or_replies() -> None:
    _, records = classify(SAMPLES / "09-bounce-multipart-report.eml", SAMPLES / "10-ja-iso2022jp-out-of-office.eml")
    assert [(r["kind"], r["labels"], r["replies"]) for r in records] == [("bounce", [], []), ("auto_reply", [], [])]


def test_it_reads_japanese_mail_in_the_encodings_mailers_use() -> None:
    _, records = classify(SAMPLES)
    by_name = {Path(r["path"]).name: r for r in records}
    assert by_name["01-ja-iso2022jp-sensor-cannot-connect.eml"]["language"] == "ja"
    assert by_name["02-ja-sjis-detection-and-mitre.eml"]["language"] == "ja"
    assert by_name["07-en-business-id-given.eml"]["business_id"] == "3f2a9c1e-7b4d-4e21-9a6f-0c8d5e4b1a27"


def test_it_reports_an_unreadable_file_and_exits_1(tmp_path: Path) -> None:
    status, records = classify(tmp_path / "missing.eml", SAMPLES / "04-ja-utf8-qp-notification-settings.eml")
    assert status == 1
    assert set(records[0]) == {"path", "error"}
    assert records[1]["kind"] == "inquiry"
