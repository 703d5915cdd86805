"""Load the labelled JSONL training data and reject malformed records with `file:line: reason`.

The format is documented in training_data/README.md. Every `*.jsonl` file of a folder is read in
sorted order, so the same folder always yields the same records in the same order (determinism).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from worker.domain import INQUIRY, KINDS
from worker.route.taxonomy import Taxonomy

CORRECTIONS_FILE = "corrections.jsonl"
_REQUIRED = ("id", "kind", "lang", "subject", "body", "labels", "flags", "business_id")
_SOURCES = ("written", "correction", "augmented")


class DatasetError(ValueError):
    """A record or file is unusable; the message starts with `file:line:` where there is one."""


@dataclass(frozen=True)
class Record:
    """One labelled mail as the training data describes it."""

    id: str
    kind: str
    lang: str
    subject: str
    body: str
    labels: tuple[str, ...]
    flags: tuple[str, ...]
    business_id: str | None
    source: str
    origin: str  # "file:line", for error messages and reports

    @property
    def is_inquiry(self) -> bool:
        return self.kind == INQUIRY

    @property
    def is_correction(self) -> bool:
        return self.source == "correction"


def data_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise DatasetError(f"{folder}: no such data folder")
    files = sorted(folder.glob("*.jsonl"))
    if not files:
        raise DatasetError(f"{folder}: no *.jsonl files")
    return files


def load_records(folder: Path, taxonomy: Taxonomy) -> list[Record]:
    """Every record of every `*.jsonl` file in `folder`, validated; ids unique across files."""
    records: list[Record] = []
    for path in data_files(folder):
        records.extend(parse_lines(path.read_text(encoding="utf-8").splitlines(), str(path), taxonomy))
    check_unique_ids(records)
    return records


def parse_lines(lines: Iterable[str], filename: str, taxonomy: Taxonomy) -> list[Record]:
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        origin = f"{filename}:{number}"
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{origin}: not valid JSON ({exc.msg} at column {exc.colno})") from None
        records.append(parse_record(raw, origin, taxonomy, default_source=_default_source(filename)))
    return records


def _default_source(filename: str) -> str:
    # The dashboard's export is the corrections file; its records are corrections even if unmarked.
    return "correction" if Path(filename).name == CORRECTIONS_FILE else "written"


def parse_record(raw: Any, origin: str, taxonomy: Taxonomy, default_source: str = "written") -> Record:
    if not isinstance(raw, dict):
        raise DatasetError(f"{origin}: a record must be a JSON object")
    missing = [key for key in _REQUIRED if key not in raw]
    if missing:
        raise DatasetError(f"{origin}: missing field(s) {', '.join(missing)}")
    for key in ("id", "kind", "lang", "subject", "body"):
        if not isinstance(raw[key], str):
            raise DatasetError(f"{origin}: {key} must be a string")
    record_id = raw["id"].strip()
    if not record_id:
        raise DatasetError(f"{origin}: id must not be empty")
    kind = raw["kind"]
    if kind not in KINDS:
        raise DatasetError(f"{origin}: kind {kind!r} is not one of {', '.join(KINDS)}")
    labels = _string_list(raw["labels"], "labels", origin)
    flags = _string_list(raw["flags"], "flags", origin)
    unknown = [label for label in labels if label not in taxonomy.labels]
    if unknown:
        raise DatasetError(f"{origin}: unknown label(s) {', '.join(unknown)} (see taxonomy.toml)")
    if len(set(labels)) != len(labels):
        raise DatasetError(f"{origin}: a label is listed twice")
    unknown_flags = [flag for flag in flags if flag not in taxonomy.flag_ids]
    if unknown_flags:
        raise DatasetError(f"{origin}: unknown flag(s) {', '.join(unknown_flags)}")
    if kind == INQUIRY and not labels:
        raise DatasetError(f"{origin}: an inquiry needs at least one label")
    if kind != INQUIRY and labels:
        raise DatasetError(f"{origin}: a {kind} carries no labels")
    if not (raw["subject"].strip() or raw["body"].strip()):
        raise DatasetError(f"{origin}: subject and body are both empty")
    business_id = raw["business_id"]
    if business_id is not None and not (isinstance(business_id, str) and business_id.strip()):
        raise DatasetError(f"{origin}: business_id must be a non-empty string or null")
    source = raw.get("source", default_source)
    if source not in _SOURCES:
        raise DatasetError(f"{origin}: source {source!r} is not one of {', '.join(_SOURCES)}")
    return Record(
        id=record_id,
        kind=kind,
        lang=raw["lang"],
        subject=raw["subject"],
        body=raw["body"],
        labels=tuple(sorted(labels)),
        flags=tuple(sorted(flags)),
        business_id=business_id,
        source=source,
        origin=origin,
    )


def _string_list(value: Any, name: str, origin: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise DatasetError(f"{origin}: {name} must be a list of strings")
    return list(value)


def check_unique_ids(records: Sequence[Record]) -> None:
    seen: dict[str, str] = {}
    for record in records:
        if record.id in seen:
            raise DatasetError(f"{record.origin}: id {record.id!r} already used at {seen[record.id]}")
        seen[record.id] = record.origin
