"""Measure the current model on the held-out evaluation set (bench/heldout/heldout.jsonl), twice.

    .venv/bin/python bench/heldout.py [--models DIR] [--file PATH] [--no-full-path]

Run 1 ("direct") reads each record's subject+body through the training recipe (`model_text`,
`detect_flags`, `find_business_id`), exactly as `make train` measures its test split. Run 2
("full path") wraps each record as a raw e-mail the way customers' mailers send it (ISO-2022-JP for
Japanese, UTF-8 quoted-printable for English) and feeds the files to `python -m worker classify`, so
parsing, screening and decision are included; the two runs should agree. The set is for measuring
only: nobody trains on it or tunes thresholds with it (bench/heldout/README.md).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from email.charset import BASE64, QP, Charset
from email.header import Header
from email.message import Message
from email.utils import formatdate
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from worker.classify.dataset import DatasetError, Record, check_unique_ids, parse_record  # noqa: E402
from worker.classify.evaluate import (  # noqa: E402
    business_id_metrics,
    flag_metrics,
    label_metrics,
    non_inquiry_metrics,
)
from worker.classify.features import model_text  # noqa: E402
from worker.classify.flags import detect_flags  # noqa: E402
from worker.classify.model import DEFAULT_MODELS_DIR, Classifier, load_current  # noqa: E402
from worker.classify.report import confusion_table, label_table  # noqa: E402
from worker.mail.text import find_business_id  # noqa: E402
from worker.route.taxonomy import Taxonomy  # noqa: E402

DEFAULT_FILE = Path(__file__).resolve().parent / "heldout" / "heldout.jsonl"
HELDOUT_SOURCE = "heldout"


@dataclass(frozen=True)
class Run:
    """What one path predicted for every record, in the order of the records."""

    name: str
    scores: np.ndarray  # (n, K) over classifier.labels; zeros where the path screened the mail out
    flags: tuple[tuple[str, ...], ...]
    business_ids: tuple[str | None, ...]
    kinds: tuple[str, ...] | None  # the screening verdict; None for the direct run, which does not screen


def load_heldout(path: Path, taxonomy: Taxonomy) -> list[Record]:
    """The held-out records, validated by the training loader's own rules.

    The loader accepts only training sources, and a held-out record must never pass for training
    data, so `source` is checked here and removed before the rest of the record is validated.
    """
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        origin = f"{path}:{number}"
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{origin}: not valid JSON ({exc.msg})") from None
        if not isinstance(raw, dict) or raw.get("source") != HELDOUT_SOURCE:
            raise DatasetError(f"{origin}: a held-out record must say source \"{HELDOUT_SOURCE}\"")
        record = parse_record({k: v for k, v in raw.items() if k != "source"}, origin, taxonomy)
        records.append(Record(**{**record.__dict__, "source": HELDOUT_SOURCE}))
    check_unique_ids(records)
    return records


def direct_run(records: Sequence[Record], classifier: Classifier) -> Run:
    texts = [model_text(r.subject, r.body) for r in records]
    flags = tuple(detect_flags(t.subject, t.body) for t in texts)
    return Run(
        name="direct",
        scores=classifier.scores(texts),
        flags=flags,
        business_ids=tuple(find_business_id(r.body) for r in records),
        kinds=None,
    )


def as_email(record: Record, number: int) -> bytes:
    """A record as a customer's mailer would send it.

    Japanese mailers still send ISO-2022-JP (RFC 1468), 7-bit, subject in RFC 2047 B-encoding. A few
    characters (circled digits, box-drawing rules) are outside JIS X 0208; a mailer then falls back
    to UTF-8, and so do we.
    """
    charset_name = "utf-8"
    if record.lang == "ja":
        try:
            (record.subject + record.body).encode("iso-2022-jp")
            charset_name = "iso-2022-jp"
        except UnicodeEncodeError:
            charset_name = "utf-8"
    charset = Charset(charset_name)
    if charset_name == "utf-8":
        charset.body_encoding = QP if record.lang != "ja" else BASE64
    message = Message()
    message["From"] = f"customer{number}@customer.example"
    message["To"] = "support@desk.example"
    message["Subject"] = Header(record.subject, charset_name).encode() if record.subject else ""
    message["Date"] = formatdate(1764028800 + number * 60, usegmt=True)
    message["Message-ID"] = f"<heldout-{number}@customer.example>"
    message["MIME-Version"] = "1.0"
    message.set_payload(record.body, charset)
    return message.as_bytes()


def full_path_run(records: Sequence[Record], classifier: Classifier, models_dir: Path) -> tuple[Run, int]:
    """Run `python -m worker classify` on the records as .eml files; returns the run and the UTF-8 fallbacks."""
    fallbacks = 0
    with tempfile.TemporaryDirectory(prefix="heldout-") as scratch:
        folder = Path(scratch)
        for number, record in enumerate(records):
            raw = as_email(record, number)
            fallbacks += record.lang == "ja" and b"iso-2022-jp" not in raw.lower()
            (folder / f"{number:04d}.eml").write_bytes(raw)
        done = subprocess.run(
            [sys.executable, "-m", "worker", "classify", str(folder), "--models", str(models_dir)],
            capture_output=True, text=True, cwd=ROOT, check=False,
        )
        if not done.stdout.strip():
            raise RuntimeError(f"`python -m worker classify` printed nothing: {done.stderr[-2000:]}")
        by_path = {Path(row["path"]).name: row for row in map(json.loads, done.stdout.splitlines())}
    rows = [by_path.get(f"{number:04d}.eml", {"error": "missing"}) for number in range(len(records))]
    scores = np.array([[row.get("scores", {}).get(label, 0.0) for label in classifier.labels] for row in rows])
    return Run(
        name="full path",
        scores=scores.reshape(len(records), len(classifier.labels)),
        flags=tuple(tuple(row.get("flags", ())) for row in rows),
        business_ids=tuple(row.get("business_id") for row in rows),
        kinds=tuple(row.get("kind", "error") for row in rows),
    ), fallbacks


def figures(records: Sequence[Record], run: Run, classifier: Classifier) -> dict[str, Any]:
    labels, taxonomy = classifier.labels, classifier.taxonomy
    inquiries = [i for i, r in enumerate(records) if r.is_inquiry]
    others = [i for i, r in enumerate(records) if not r.is_inquiry]
    truth = np.array([[int(label in records[i].labels) for label in labels] for i in inquiries])
    result: dict[str, Any] = {
        "labels": label_metrics(truth, run.scores[inquiries], classifier.thresholds, labels, taxonomy.out_of_scope_labels),
        "non_inquiries": non_inquiry_metrics(run.scores[others], classifier.thresholds, labels, taxonomy.out_of_scope_labels),
        "flags": flag_metrics([records[i].flags for i in inquiries], [run.flags[i] for i in inquiries], taxonomy.flag_ids),
        "business_id": business_id_metrics(
            [_lower(records[i].business_id) for i in inquiries], [_lower(run.business_ids[i]) for i in inquiries]
        ),
    }
    if run.kinds is not None:
        result["screening"] = {
            "inquiries_screened_out": sum(1 for i in inquiries if run.kinds[i] != "inquiry"),
            "non_inquiries_kind_correct": sum(1 for i in others if run.kinds[i] == records[i].kind),
            "non_inquiries": len(others),
        }
    return result


def agreement(records: Sequence[Record], first: Run, second: Run, thresholds: np.ndarray) -> float:
    """Share of inquiries for which both runs predict the same label set."""
    rows = [i for i, r in enumerate(records) if r.is_inquiry]
    same = ((first.scores[rows] >= thresholds) == (second.scores[rows] >= thresholds)).all(axis=1)
    return round(float(same.mean()), 4) if rows else 1.0


def render(name: str, result: dict[str, Any], out_of_scope: Sequence[str]) -> str:
    flags = "  ".join(
        f"{flag} P {m['precision']:.2f} R {m['recall']:.2f} (support {m['support']}, fp {m['fp']})"
        for flag, m in result["flags"].items()
    )
    business = result["business_id"]
    non = result["non_inquiries"]
    lines = [
        f"== {name} ==",
        label_table(result["labels"], out_of_scope),
        confusion_table(result["labels"]),
        f"  flags: {flags}",
        f"  business ID: {business['extracted_exactly']:.1%} of {business['with_id']} extracted exactly, "
        f"{business['false_extractions']} false extractions in {business['without_id']} mails without one",
        f"  non-inquiries ({non['non_inquiries']}), if classified: abstain {non['abstain_rate']:.0%}, "
        f"out-of-scope reply {non['oos_reply_rate']:.0%}",
    ]
    if "screening" in result:
        screening = result["screening"]
        lines.append(
            f"  screening: non-inquiries filed as their kind {screening['non_inquiries_kind_correct']}/"
            f"{screening['non_inquiries']}, inquiries screened out {screening['inquiries_screened_out']}"
        )
    return "\n".join(lines)


def _lower(value: str | None) -> str | None:
    # The business ID is a UUID: its case carries no meaning, and customers type it either way.
    return value.lower() if value else None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--models", type=Path, default=DEFAULT_MODELS_DIR)
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--no-full-path", action="store_true", help="skip the run through `python -m worker classify`")
    args = parser.parse_args(argv)

    classifier = load_current(args.models)
    records = load_heldout(args.file, classifier.taxonomy)
    out_of_scope = classifier.taxonomy.out_of_scope_labels
    print(f"held-out set {args.file.name}: {len(records)} records "
          f"({sum(r.is_inquiry for r in records)} inquiries), model {classifier.version}")
    direct = direct_run(records, classifier)
    results = {"direct": figures(records, direct, classifier)}
    print(render("direct (training recipe on subject+body)", results["direct"], out_of_scope))
    if not args.no_full_path:
        full, fallbacks = full_path_run(records, classifier, args.models)
        results["full_path"] = figures(records, full, classifier)
        print(render("full path (raw e-mail -> python -m worker classify)", results["full_path"], out_of_scope))
        print(f"  {fallbacks} Japanese mails sent as UTF-8 (characters outside ISO-2022-JP); "
              f"label sets equal to the direct run: {agreement(records, direct, full, classifier.thresholds):.1%}")
    summary = {
        name: {key: result["labels"][key] for key in ("macro_f1", "exact_match", "abstain_rate", "wrong_oos_rate")}
        for name, result in results.items()
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
