"""The training-data loader: what a valid record is, and how a broken one is reported (file:line: why)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from worker.classify.dataset import DatasetError, load_records
from worker.route.taxonomy import load_taxonomy

TAXONOMY = load_taxonomy()


def record(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "t-0001",
        "kind": "inquiry",
        "lang": "ja",
        "subject": "センサーが接続できません",
        "body": "いつもお世話になっております。\nEndpoint Sensorが切断状態のままです。\n",
        "labels": ["troubleshooting"],
        "flags": [],
        "business_id": None,
        "source": "written",
    }
    return base | overrides


def write(folder: Path, name: str, rows: list[Any]) -> Path:
    path = folder / name
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows))
    return path


def test_it_loads_valid_records_from_every_jsonl_file_in_name_order(tmp_path: Path) -> None:
    write(tmp_path, "b.jsonl", [record(id="b-1")])
    write(tmp_path, "a.jsonl", [record(id="a-1", labels=["api", "api_scripting"]), ""])

    records = load_records(tmp_path, TAXONOMY)

    assert [r.id for r in records] == ["a-1", "b-1"]
    assert records[0].labels == ("api", "api_scripting")
    assert records[0].origin.endswith("a.jsonl:1")


def test_it_reports_invalid_json_with_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "x.jsonl", [record(id="x-1"), '{"id": "x-2", "kind": '])

    with pytest.raises(DatasetError, match=rf"^{path}:2: not valid JSON"):
        load_records(tmp_path, TAXONOMY)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"labels": ["billing"]}, "unknown label"),
        ({"labels": []}, "needs at least one label"),
        ({"kind": "auto_reply"}, "carries no labels"),
        ({"kind": "newsletter"}, "kind 'newsletter'"),
        ({"flags": ["vip"]}, "unknown flag"),
        ({"labels": "api"}, "labels must be a list"),
        ({"subject": "", "body": "  "}, "both empty"),
        ({"business_id": ""}, "business_id must be"),
        ({"source": "scraped"}, "source 'scraped'"),
        ({"labels": ["api", "api"]}, "listed twice"),
    ],
)
def test_it_rejects_a_malformed_record_saying_why(tmp_path: Path, overrides: dict[str, Any], reason: str) -> None:
    path = write(tmp_path, "x.jsonl", [record(id="ok"), record(id="bad", **overrides)])

    with pytest.raises(DatasetError, match=f"^{path}:2: .*{reason}"):
        load_records(tmp_path, TAXONOMY)


def test_it_rejects_a_record_missing_a_field(tmp_path: Path) -> None:
    broken = record()
    del broken["business_id"]
    write(tmp_path, "x.jsonl", [broken])

    with pytest.raises(DatasetError, match="missing field.*business_id"):
        load_records(tmp_path, TAXONOMY)


def test_it_rejects_an_id_used_twice_across_files(tmp_path: Path) -> None:
    write(tmp_path, "a.jsonl", [record(id="same")])
    second = write(tmp_path, "b.jsonl", [record(id="same", subject="別の質問")])

    with pytest.raises(DatasetError, match=f"^{second}:1: id 'same' already used"):
        load_records(tmp_path, TAXONOMY)


def test_it_marks_records_of_the_corrections_file_as_corrections(tmp_path: Path) -> None:
    unmarked = record(id="c-1")
    del unmarked["source"]
    write(tmp_path, "corrections.jsonl", [unmarked])

    (correction,) = load_records(tmp_path, TAXONOMY)

    assert correction.is_correction


def test_it_refuses_a_folder_without_data(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no \\*.jsonl"):
        load_records(tmp_path, TAXONOMY)
